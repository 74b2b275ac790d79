"""Reliability fixtures: real `cpumon-server` processes over SQLite or MariaDB (+ Redis), a TCP proxy.

Every server here is the real program (uvicorn, the CLI, the settings from the environment) on a
free loopback port, with its stdout and stderr in a log file the tests can read. Waits poll with a
deadline (tests/e2e's `wait_for`), never sleep a fixed time.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cpumon_backend.storage.migrations import upgrade
from tests.backend.conftest import add_user
from tests.conftest import MYSQL_URL, REDIS_URL, Backend, _require, drop_mysql_database, mysql_database_url
from tests.support.server import ServerProcess, clean_environ

USERNAME = "reliability"
PASSWORD = "reliability-pw-7f3a9c"


@dataclass(kw_only=True)
class Server(ServerProcess):
    """One `cpumon-server` process with the given CPUMON_* settings; start, kill and start again."""

    settings: dict[str, str]

    def __post_init__(self) -> None:
        defaults = {"CPUMON_LOG_LEVEL": "info", "CPUMON_BCRYPT_ROUNDS": "4"}
        self.env = clean_environ(**{**defaults, **self.settings})

    def client(self, *, login: bool = True, timeout: float = 10.0) -> httpx.Client:
        http = httpx.Client(base_url=self.url, timeout=timeout)
        if login:
            response = http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
            assert response.status_code == 200, response.text
        return http


@dataclass(frozen=True)
class Database:
    """A migrated database with the test user: its URL and the CPUMON_* settings to serve it."""

    kind: str
    url: str
    redis_url: str | None = None
    redis_prefix: str = field(default_factory=lambda: f"cpumon-rel-{uuid.uuid4().hex[:12]}")

    def server_settings(self, **extra: str) -> dict[str, str]:
        settings = {"CPUMON_DATABASE_URL": self.url}
        if self.redis_url:
            settings["CPUMON_SESSION_REDIS_URL"] = self.redis_url
            settings["CPUMON_SESSION_REDIS_PREFIX"] = self.redis_prefix
        settings.update(extra)
        return settings


def prepare(kind: str, url: str, *, bcrypt_rounds: int = 4, redis_url: str | None = None) -> Database:
    backend = Backend(kind, url)
    upgrade(backend.settings())
    add_user(backend.settings(bcrypt_rounds=bcrypt_rounds), USERNAME, PASSWORD)
    return Database(kind, url, redis_url=redis_url)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return prepare("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'cpumon.db'}")


@pytest.fixture
def mysql_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    url = mysql_database_url(f"rel_{request.node.name[:20]}".replace("[", "_").replace("]", "").replace("-", "_"))
    try:
        yield prepare("mysql", url)
    finally:
        drop_mysql_database(url)


@pytest.fixture
def mysql_redis_db(mysql_db: Database) -> Database:
    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    return Database(mysql_db.kind, mysql_db.url, redis_url=REDIS_URL)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: start a server with these CPUMON_* settings; every one is stopped at the end."""
    started: list[Server] = []

    def start(settings: dict[str, str], *, name: str | None = None) -> Server:
        log = tmp_path / f"{name or f'server-{len(started)}'}.log"
        server = Server(settings=settings, log_path=log)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


#: `clients(client)` hands the client back and closes it at the end of the test.
Keep = Callable[[httpx.Client], httpx.Client]


@pytest.fixture
def clients() -> Iterator[Keep]:
    kept: list[httpx.Client] = []

    def keep(client: httpx.Client) -> httpx.Client:
        kept.append(client)
        return client

    yield keep
    for client in kept:
        client.close()


# -- a TCP proxy the test controls, between a server and MariaDB ----------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones.

    While cut, new connections are accepted and closed at once (like a database that went away),
    and live ones are shut down (like a database that crashed under its clients).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # so the accept loop sees `close()` (closing does not wake accept)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._up = True
        self._frozen = False
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if not self._up:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 0.2)
                if self._closed:
                    return
                if self._frozen:
                    time.sleep(0.05)
                    continue
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket closed by cut()
            return
        finally:
            _close(client)
            _close(upstream)
            with self._lock, contextlib.suppress(ValueError):
                self._pairs.remove((client, upstream))

    def freeze(self) -> None:
        """A network partition: connections stay open, new ones are accepted, but no byte goes through."""
        self._frozen = True

    def cut(self) -> None:
        self._up = False
        with self._lock:
            pairs = list(self._pairs)
        for client, upstream in pairs:
            _close(client, shutdown=True)
            _close(upstream, shutdown=True)

    def restore(self) -> None:
        if self._frozen:  # the partition ends by dropping what it held, as a TCP timeout would
            self._frozen = False
            self.cut()
        self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)
        for thread in self._threads:
            thread.join(timeout=5)


def _close(sock: socket.socket, *, shutdown: bool = False) -> None:
    if shutdown:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@pytest.fixture
def mysql_proxy() -> Iterator[TcpProxy]:
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    assert MYSQL_URL is not None
    parsed = make_url(MYSQL_URL)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 3306))
    try:
        yield proxy
    finally:
        proxy.close()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


# The agent fixtures of the end-to-end suite, reused as they are.
from tests.e2e.conftest import start_agent  # noqa: E402

__all__ = ["start_agent"]
from tests.e2e.conftest import cpumon_server, server_database  # noqa: E402

__all__ += ["cpumon_server", "server_database"]
