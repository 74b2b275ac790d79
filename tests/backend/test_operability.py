"""What an operator sees: /ready and the startup log on unusable databases, a taken port, a bare install."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.conftest import MYSQL_URL, _require

MIGRATE = "run `cpumon-server migrate`"


def sqlite_settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cpumon.db'}")


class Records(logging.Handler):
    """cpumon's log lines (Litestar's logging config replaces the root handlers that caplog uses)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def caplog() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("cpumon.server")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def ready(settings: ServerSettings, caplog: Records) -> tuple[int, str]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/ready")
    detail = response.json().get("detail", "")
    return response.status_code, str(detail)


def test_an_unmigrated_database_is_not_ready(tmp_path: Path, caplog: Records) -> None:
    status, detail = ready(sqlite_settings(tmp_path), caplog)
    assert status == 503
    assert MIGRATE in detail
    startup = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cpumon-server:")]
    assert startup  # said at startup too, before anyone asks
    assert MIGRATE in startup[0]


def test_an_old_schema_is_not_ready(tmp_path: Path, caplog: Records) -> None:
    settings = sqlite_settings(tmp_path)
    upgrade(settings, "0001")
    status, detail = ready(settings, caplog)
    assert status == 503
    assert "revision 0001" in detail
    assert MIGRATE in detail
    upgrade(settings)
    assert ready(settings, caplog) == (200, "")


@pytest.mark.mysql
def test_access_denied_names_the_cause_never_the_password(caplog: Records) -> None:
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    assert MYSQL_URL is not None
    secret = "Wr0ng-Pa55word-x9"
    url = make_url(MYSQL_URL).set(username="cpumon_nobody", password=secret)
    settings = ServerSettings(database_url=url.render_as_string(hide_password=False))
    status, detail = ready(settings, caplog)
    assert status == 503
    assert "1045" in detail
    assert "cpumon_nobody" in detail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Access denied for user 'cpumon_nobody'@" in logged  # the driver's own message
    assert secret not in detail + logged


# -- the command -----------------------------------------------------------------------------


def cli(
    args: list[str], env: dict[str, str], *, code: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    program = f"{code}\nimport sys\nfrom cpumon_backend.cli import main\nsys.exit(main({args!r}))"
    return subprocess.run(
        [sys.executable, "-c", program], check=False, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CPUMON_")}
    return {**base, "CPUMON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", "CPUMON_HOST": "127.0.0.1"}


def test_a_taken_port_ends_the_server_at_once_in_one_line(env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = cli(["serve"], {**env, "CPUMON_PORT": str(port)})
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in result.stderr
    print(f"\nexited in {elapsed:.1f} s")


BLOCK_SERVER_PACKAGES = """
import importlib.abc, sys
class _Bare(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"litestar", "sqlalchemy", "advanced_alchemy", "alembic", "uvicorn", "msgspec"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Bare())
"""


@pytest.mark.parametrize("command", ["serve", "migrate", "create-user"])
def test_the_agent_only_install_says_to_install_the_server(env: dict[str, str], command: str) -> None:
    args = [command, "alice"] if command == "create-user" else [command]
    result = cli(args, env, code=BLOCK_SERVER_PACKAGES)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "cpumon[server]" in result.stderr
    assert "Traceback" not in result.stderr
