"""Shared fixtures: real databases (SQLite always, MariaDB and Redis when their URLs are set).

CI sets CPUMON_TEST_MYSQL_URL and CPUMON_TEST_REDIS_URL (and CI=1): there a missing service fails
the run instead of being skipped, so a green CI always means "tested on every backend".
"""

from __future__ import annotations

import asyncio
import compileall
import gc
import os
import re
import sysconfig
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from cpumon_backend.settings import ServerSettings, with_cpumon_driver
from cpumon_backend.storage.migrations import upgrade

MYSQL_URL = with_cpumon_driver(os.environ["CPUMON_TEST_MYSQL_URL"]) if "CPUMON_TEST_MYSQL_URL" in os.environ else None
REDIS_URL = os.environ.get("CPUMON_TEST_REDIS_URL")
IN_CI = bool(os.environ.get("CI"))

TABLES_CHILD_FIRST = (
    "run_events",
    "cpu_usage_rollups",
    "cpu_usage",
    "test_runs",
    "users",
    "sessions",
    "login_attempts",
)

#: The services a test can need; a test that needs one gets its marker (the lanes select with -m).
SERVICES = ("mysql", "redis")
#: A parameter that names a storage variant: "mysql", "sqlite", "mysql-redis-2-workers".
VARIANT_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def lane_marks(fixture_names: set[str], params: list[object]) -> set[str]:
    """The markers a test gets from what it asks for: a fixture or a variant parameter naming a
    service (mysql_db, redis_backend, "mysql-2-workers"), and the `browser` fixture (Chromium)."""
    variants = {
        part for value in params if isinstance(value, str) and VARIANT_ID.match(value) for part in value.split("-")
    }
    fixtures = {part for name in fixture_names for part in name.split("_")}
    marks = {service for service in SERVICES if service in fixtures | variants}
    return marks | ({"browser"} & fixture_names)


#: What the suite's Python processes import: the installed packages and the checkout's own.
ROOT = Path(__file__).resolve().parent.parent
BYTECODE_SOURCES = (
    *sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}),
    *(str(ROOT / folder) for folder in ("cpumon", "backend", "database", "tests")),
)
NOT_PYTHON_PACKAGES = re.compile(r"node_modules")  # npm's trees (the TypeScript client's) hold build scripts


def pytest_configure(config: pytest.Config) -> None:
    """Compile the bytecode once, in the controller, before the xdist workers start.

    The suite starts hundreds of Python processes (cpumon-server, cpumon, Locust, the workers). uv installs
    no bytecode, and under PYTHONDONTWRITEBYTECODE (set in many CI images) no process writes it either, so
    each one compiled Litestar, SQLAlchemy, gevent... again: about 3.5 s of CPU per server start instead
    of about 1. Once compiled, this only compares timestamps (under a second).
    """
    if hasattr(config, "workerinput"):
        return
    for folder in BYTECODE_SOURCES:
        # quiet=2: a package's deliberately broken sample file is not the suite's problem. One process: a pool
        # costs more CPU than the timestamp checks of a compiled tree.
        compileall.compile_dir(folder, quiet=2, rx=NOT_PYTHON_PACKAGES)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported so far lives for the whole run: frozen out of the collector's sight, so the
    collection after each test (below) scans only what tests made, in about a millisecond."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def garbage_collected_after() -> Iterator[None]:
    """Collect the garbage after every test, so an unclosed socket or file fails the test that left it.

    httpx's pool (among others) holds its sockets in reference cycles: a client left open is found by
    the collector later, in whatever test runs then, whose ResourceWarning ("unclosed <socket ...>",
    an error: pyproject.toml) once failed an unrelated test in CI. Autouse fixtures are torn down
    last: this runs after the test's own fixtures have closed what they hold.
    """
    yield
    gc.collect()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`nox -s tests` runs `-m "not mysql and not redis and not browser"`; `tests_services` and `browser`
    run the rest, so every test runs in some lane without each test module marking itself."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = list(callspec.params.values()) if callspec is not None else []
        for mark in lane_marks(set(getattr(item, "fixturenames", ())), params):
            item.add_marker(mark)


@pytest.fixture(autouse=True)
def private_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Saved logins (cpumon's sessions) go to a directory of this test, never the user's own; the
    cpumon subprocesses a test starts inherit it, so they share one login within the test only."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


def _require(url: str | None, name: str) -> None:
    if url:
        return
    if IN_CI:
        pytest.fail(f"CI is set but {name} is not: the tests must run against it", pytrace=False)
    pytest.skip(f"{name} not set")


@dataclass(frozen=True)
class Backend:
    """One storage combination the API suite runs on."""

    name: str
    database_url: str
    redis_url: str | None = None

    def settings(self, **overrides: object) -> ServerSettings:
        values: dict[str, object] = {
            "database_url": self.database_url,
            "session_redis_url": self.redis_url,
            "session_redis_prefix": f"cpumon-test-{uuid.uuid4().hex[:12]}",
            "bcrypt_rounds": 4,  # the cost does not change behaviour; it keeps the suite fast
            "login_max_failures": 5,
        }
        values.update(overrides)
        return ServerSettings(**values)  # type: ignore[arg-type]


def worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _on_mysql_server(url: str, *statements: str) -> None:
    """Run `statements` ({database} = the URL's database) on the URL's server, outside that database."""

    async def run() -> None:
        parsed = make_url(url)
        server = create_async_engine(parsed.set(database="mysql"))
        try:
            async with server.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement.format(database=parsed.database)))
        finally:
            await server.dispose()

    asyncio.run(run())


def drop_mysql_database(url: str) -> None:
    _on_mysql_server(url, "DROP DATABASE IF EXISTS `{database}`")


def mysql_database_url(name: str) -> str:
    """A fresh database of its own on the test server, for this test process (and xdist worker).

    The process id keeps test runs that share the server (a developer's and CI's) apart. Without
    CPUMON_TEST_MYSQL_URL the calling test skips (fails in CI), as the mysql fixtures do.
    """
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    assert MYSQL_URL is not None
    base = make_url(MYSQL_URL)
    url = base.set(database=f"{base.database or 'cpumon_test'}_{name}_{worker_suffix()}_{os.getpid()}")
    rendered = url.render_as_string(hide_password=False)
    _on_mysql_server(
        rendered, "DROP DATABASE IF EXISTS `{database}`", "CREATE DATABASE `{database}` CHARACTER SET utf8mb4"
    )
    return rendered


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path: Path = tmp_path_factory.mktemp("sqlite") / "cpumon.db"
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{path}")
    upgrade(backend.settings())
    return backend


@pytest.fixture(scope="session")
def mysql_backend() -> Iterator[Backend]:
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    backend = Backend("mysql", mysql_database_url("api"))
    upgrade(backend.settings())
    yield backend
    drop_mysql_database(backend.database_url)


@pytest.fixture(scope="session")
def redis_backend(sqlite_backend: Backend) -> Backend:
    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    return Backend("redis", sqlite_backend.database_url, redis_url=REDIS_URL)


@pytest.fixture(params=["sqlite", "mysql", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each API test runs once per storage: SQLite, MariaDB, and SQLite with Redis sessions."""
    return emptied_backend(request, request.param)


def emptied_backend(request: pytest.FixtureRequest, kind: str) -> Backend:
    """The session's `kind` backend with its tables emptied: no row of an earlier test can count."""
    chosen: Backend = request.getfixturevalue(f"{kind}_backend")
    asyncio.run(_empty_tables(chosen.database_url))
    return chosen


async def _empty_tables(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in TABLES_CHILD_FIRST:
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    finally:
        await engine.dispose()


@pytest.fixture
def tmp_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Environment without any CPUMON_* variable of the caller's shell."""
    for key in list(os.environ):
        if key.startswith("CPUMON_") and not key.startswith("CPUMON_TEST_"):
            monkeypatch.delenv(key)
    return monkeypatch
