"""The request head is bounded in size and time, against the real server over real sockets.

Three clients each sending a 20 MB Cookie header get 431 after 64 KiB and are closed, and the
server's memory stays flat; 50 clients sending their headers a byte at a time are answered 408
and closed after CPUMON_HTTP_HEAD_TIMEOUT; the API still answers others throughout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import psutil
import pytest

from tests.e2e.conftest import wait_for

from .conftest import Database, Server

pytestmark = pytest.mark.e2e

MB = 1024 * 1024


def send_huge_cookie(server: Server, size: int) -> bytes:
    """Send a request whose Cookie header is `size` bytes; return what the server answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nCookie: cpumon_session=")
        chunk = b"a" * 65536
        try:
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:  # the server closed the connection under us: what it should do
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
        return answer


def test_huge_headers_get_431_and_memory_stays_bounded(
    sqlite_db: Database, start_server: Callable[..., Server]
) -> None:
    server = start_server(sqlite_db.server_settings())
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    for _ in range(3):
        answer = send_huge_cookie(server, 20 * MB)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    grown = process.memory_info().rss - before
    print(f"\nRSS grew by {grown / MB:.1f} MB over three 20 MB headers")
    assert grown < 30 * MB
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_slow_headers_are_cut_off(sqlite_db: Database, start_server: Callable[..., Server]) -> None:
    timeout = 2
    server = start_server(sqlite_db.server_settings(CPUMON_HTTP_HEAD_TIMEOUT=str(timeout)))
    clients = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        clients.append(sock)
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200  # others are served meanwhile

    def all_closed() -> bool:
        for sock in clients:
            sock.setblocking(False)
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return False
            assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:100]
        return True

    try:
        wait_for(all_closed, within=timeout + 30, what="the server to close the slow connections", every=0.2)
    finally:
        for sock in clients:
            sock.close()
    assert time.monotonic() - started >= timeout - 0.5
