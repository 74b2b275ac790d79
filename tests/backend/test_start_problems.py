"""A database that cannot be used: one line naming the cause and exit 1 at `migrate` and at start;
an unmigrated one: every API route answers 503 naming `cpumon-server migrate`, until it is migrated."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from cpumon_backend.app import create_app
from cpumon_backend.cli import main
from cpumon_backend.health import MIGRATE
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.conftest import MYSQL_URL, _on_mysql_server, _require, drop_mysql_database, mysql_database_url
from tests.support.server import free_port

NO_SCHEMA = f"the database has no cpumon schema: {MIGRATE}"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str


@pytest.fixture
def cli(tmp_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[str, str], Outcome]:
    """`cpumon-server COMMAND` with CPUMON_DATABASE_URL=url, run in this process (its `main`, as the
    console script runs it; a subprocess per case would spend most of its time importing)."""

    def refuse_to_serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("it started serving over a database it cannot use")

    tmp_env.setattr(uvicorn, "run", refuse_to_serve)

    def run(command: str, url: str) -> Outcome:
        tmp_env.setenv("CPUMON_DATABASE_URL", url)
        tmp_env.setenv("CPUMON_DATABASE_CONNECT_TIMEOUT", "2")
        tmp_env.setenv("CPUMON_PORT", str(free_port()))
        capsys.readouterr()
        code = main([command])
        return Outcome(code, capsys.readouterr().err)

    return run


def assert_one_line(result: Outcome, *says: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for words in says:
        assert words in lines[0]


def on_test_server(**changes: str | int | None) -> str:
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    assert MYSQL_URL is not None
    return make_url(MYSQL_URL).set(**changes).render_as_string(hide_password=False)  # type: ignore[arg-type]


@pytest.fixture
def socket_only_user() -> Iterator[str]:
    """A MariaDB account that may only log in over the server's socket: TCP gets error 1698."""
    name = f"cpumon_sock_{uuid.uuid4().hex[:8]}"
    server = on_test_server()
    _on_mysql_server(server, f"CREATE USER '{name}'@'%' IDENTIFIED VIA unix_socket")
    yield name
    _on_mysql_server(server, f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_an_unsupported_scheme_names_the_supported_ones(command: str, cli: Callable[[str, str], Outcome]) -> None:
    result = cli(command, "postgres://cpumon:secret@db/cpumon")
    assert_one_line(result, "unsupported database (postgres://)", "sqlite://, mysql://, mariadb://")
    assert "secret" not in result.stderr


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("wrong-password", "(error 1045)"),
        ("socket-only-user", "(error 1698)"),
        ("unknown-database", "Unknown database 'cpumon_no_such_database' (error 1049)"),
        ("unreachable-host", "(error 2003)"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_1(
    command: str, problem: str, says: str, cli: Callable[[str, str], Outcome], request: pytest.FixtureRequest
) -> None:
    if problem == "wrong-password":
        url = on_test_server(password="certainly-wrong")
    elif problem == "socket-only-user":
        url = on_test_server(username=request.getfixturevalue("socket_only_user"), password=None)
    elif problem == "unknown-database":
        url = on_test_server(database="cpumon_no_such_database")
    else:
        url = on_test_server(host="127.0.0.1", port=9)  # the discard port: nothing listens
    result = cli(command, url)
    assert_one_line(result, "cpumon-server: cannot use the database: ", says, "check CPUMON_DATABASE_URL")
    assert "certainly-wrong" not in result.stderr


@pytest.fixture(params=["sqlite", "mysql"])
def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerSettings]:
    if request.param == "sqlite":
        yield ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", bcrypt_rounds=4)
        return
    url = mysql_database_url("unmigrated")
    yield ServerSettings(database_url=url, bcrypt_rounds=4)
    drop_mysql_database(url)


def api_routes(client: TestClient[Litestar]) -> list[tuple[str, str]]:
    document = client.get("/schema/openapi.json").json()
    run_id = str(uuid.uuid4())
    return [
        (method.upper(), path.replace("{run_id}", run_id))
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
    ]


def test_every_api_route_on_an_unmigrated_database_names_migrate(unmigrated: ServerSettings) -> None:
    with TestClient(create_app(unmigrated), raise_server_exceptions=False) as client:
        routes = api_routes(client)
        assert len(routes) >= 10
        for method, path in routes:
            body = {"username": "alice", "password": "alice-password"} if path == "/api/auth/login" else None
            response = client.request(method, path, json=body)
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["detail"] == NO_SCHEMA, (method, path)
            assert response.headers["retry-after"]
        assert client.get("/health").status_code == 200
        upgrade(unmigrated)  # migrated while the server runs: it serves without a restart
        wait_until_served(client)


def wait_until_served(client: TestClient[Litestar]) -> None:
    """The gate asks again at most once a second: poll with a deadline."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.post("/api/auth/login", json={"username": "nobody", "password": "x"})
        if response.status_code == 401:
            return
        assert response.status_code == 503, response.text
        time.sleep(0.1)
    pytest.fail("the server still refused after migrate")
