"""Several workers, one state: sessions and login throttling live in MariaDB + Redis, not in a process.

Two set-ups, each with the same scenario: 2 uvicorn workers behind one port (each request is
pinned to a worker by finding, with psutil, which process owns the server end of its connection),
and 2 separate `cpumon-server` processes on different ports. A session made on one is valid on the
other, a logout on one is seen by the other, and failed logins count across them.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import pytest

from tests.e2e.conftest import wait_for

from .conftest import PASSWORD, USERNAME, Database, Server

pytestmark = [pytest.mark.e2e, pytest.mark.mysql, pytest.mark.redis]

COOKIE = "cpumon_session"
MAX_FAILURES = 4


@dataclass
class Conn:
    """One keep-alive HTTP connection, and the server process that answers on it."""

    connection: http.client.HTTPConnection
    pid: int

    def call(self, method: str, path: str, session: str | None = None, body: object = None) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if session:
            headers["Cookie"] = f"{COOKIE}={session}"
        self.connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        response.read()
        cookie = response.getheader("set-cookie") or ""
        issued = cookie.split(";", 1)[0].split("=", 1)[1] if cookie.startswith(f"{COOKIE}=") else ""
        return response.status, issued


def server_pid_of(connection: http.client.HTTPConnection, port: int) -> int | None:
    assert connection.sock is not None
    local_port = connection.sock.getsockname()[1]
    for entry in psutil.net_connections(kind="tcp"):
        if entry.laddr and entry.raddr and entry.laddr.port == port and entry.raddr.port == local_port:
            return entry.pid
    return None


def open_conn(server: Server) -> Conn:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    connection.request("GET", "/health")  # the worker accepts the connection by answering
    connection.getresponse().read()
    pid = wait_for(lambda: server_pid_of(connection, server.port), within=5, what="the connection's server process")
    return Conn(connection, pid)


def scenario(first: Conn, second: Conn) -> None:
    assert first.pid != second.pid, "both ends are the same process"
    credentials = {"username": USERNAME, "password": PASSWORD}

    status, session = first.call("POST", "/api/auth/login", body=credentials)
    assert status == 200
    assert session
    assert second.call("GET", "/api/auth/me", session)[0] == 200  # made on one, valid on the other
    status, _ = second.call("POST", "/api/test-runs", session, {"name": "across"})
    assert status == 201
    assert second.call("POST", "/api/auth/logout", session)[0] == 204
    assert first.call("GET", "/api/auth/me", session)[0] == 401  # logout on one, seen by the other

    # Failed logins for one username, alternating between the two: throttled after MAX_FAILURES in all.
    wrong = {"username": USERNAME, "password": "wrong"}
    for attempt in range(MAX_FAILURES):
        assert (first, second)[attempt % 2].call("POST", "/api/auth/login", body=wrong)[0] == 401
    assert first.call("POST", "/api/auth/login", body=credentials)[0] == 429
    assert second.call("POST", "/api/auth/login", body=credentials)[0] == 429


@pytest.fixture
def shared(mysql_redis_db: Database) -> Database:
    return mysql_redis_db


def settings(database: Database, **extra: str) -> dict[str, str]:
    return database.server_settings(CPUMON_LOGIN_MAX_FAILURES=str(MAX_FAILURES), **extra)


def test_two_uvicorn_workers_share_sessions_and_throttling(
    shared: Database, start_server: Callable[..., Server]
) -> None:
    server = start_server(settings(shared, CPUMON_WORKERS="2"), name="two-workers")
    opened: list[Conn] = []
    try:
        # The kernel spreads new connections over the workers: open some until both have one.
        def two_workers() -> tuple[Conn, Conn] | None:
            opened.append(open_conn(server))
            by_pid = {conn.pid: conn for conn in opened}
            return tuple(by_pid.values())[:2] if len(by_pid) >= 2 else None  # type: ignore[return-value]

        first, second = wait_for(two_workers, within=30, what="connections to both workers", every=0.01)
        scenario(first, second)
    finally:
        for conn in opened:
            conn.connection.close()


@pytest.fixture
def two_servers(shared: Database, start_server: Callable[..., Server]) -> tuple[Server, Server]:
    return start_server(settings(shared), name="replica-a"), start_server(settings(shared), name="replica-b")


def test_two_server_processes_share_sessions_and_throttling(two_servers: tuple[Server, Server]) -> None:
    a, b = two_servers
    assert a.port != b.port
    first, second = open_conn(a), open_conn(b)
    try:
        scenario(first, second)
    finally:
        first.connection.close()
        second.connection.close()
