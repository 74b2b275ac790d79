"""A database or session store that cannot be reached gives 503 quickly, never a 500 or a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings

Client = TestClient[Litestar]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def unreachable_mysql() -> ServerSettings:
    return ServerSettings(
        database_url=f"mysql+asyncmy://cpumon:pw@127.0.0.1:{closed_port()}/cpumon",
        database_connect_timeout=1,
        bcrypt_rounds=4,
    )


@pytest.fixture(params=["mysql", "sqlite"])
def down_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    settings = unreachable_mysql() if request.param == "mysql" else _sqlite_settings(tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _sqlite_settings(tmp_path: Path) -> ServerSettings:
    # The database "file" is a directory: every connect fails with "unable to open database file".
    # (A read-only directory would not do: the tests may run as root, who writes anyway.)
    not_a_file = tmp_path / "cpumon.db"
    not_a_file.mkdir()
    return ServerSettings(database_url=f"sqlite+aiosqlite:///{not_a_file}", bcrypt_rounds=4)


def assert_unavailable(response: object, what: str = "database") -> None:
    status = getattr(response, "status_code", None)
    assert status == 503, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert body == {"status_code": 503, "detail": f"{what} unavailable: try again in a few seconds"}
    assert response.headers["retry-after"] == "5"  # type: ignore[attr-defined]


def test_health_answers_while_the_database_is_down(down_client: Client) -> None:
    assert down_client.get("/health").status_code == 200


def test_ready_says_503(down_client: Client) -> None:
    started = time.monotonic()
    assert_unavailable(down_client.get("/ready"))
    assert time.monotonic() - started < 10


def test_login_says_503(down_client: Client) -> None:
    assert_unavailable(down_client.post("/api/auth/login", json={"username": "alice", "password": "pw"}))


def test_a_request_with_a_session_cookie_says_503(down_client: Client) -> None:
    down_client.cookies.set("cpumon_session", "a" * 64)
    assert_unavailable(down_client.get("/api/test-runs"))
    assert_unavailable(down_client.post("/api/test-runs/01a212cd-5dd6-7004-8b92-feef221c801d/cpu-usage", json=[]))


def test_redis_down_says_503(sqlite_backend: object) -> None:
    from tests.conftest import Backend  # noqa: PLC0415

    assert isinstance(sqlite_backend, Backend)
    settings = sqlite_backend.settings(session_redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        login = client.post("/api/auth/login", json={"username": "alice", "password": "pw"})
        assert_unavailable(login, "session store")
        client.cookies.set("cpumon_session", "a" * 64)
        assert_unavailable(client.get("/api/auth/me"), "session store")
