"""Slow CSV readers against a real server: exports are bounded and cut off, and the rest of the API is unaffected.

25 downloads of one user that never read (the attack of issue 10) on a server with a small pool:
beyond the per-user limit they are refused at once (429), the running ones hold no database
connection, another user's requests and export meanwhile answer normally, and the stalled exports
are cut off after the send timeout, which frees their slots.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import wait_for

from .conftest import PASSWORD, Server
from .test_run_races import fresh_server

# Seeds 60k samples, and the server start alone can take minutes on busy cores.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SAMPLES = 60_000
SLOW_CLIENTS = 25
PER_USER, TOTAL, SEND_TIMEOUT_S = 2, 4, 3
OTHER = "export-other"


@pytest.fixture(params=["sqlite", "mysql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    limits = {
        # 5 + 5 overflow: enough for the burst of 25 session reads, far too few if every stalled export
        # held one (before the gate, 10 stalled downloads made every other request wait 10 s, then 503).
        "CPUMON_DATABASE_POOL_SIZE": "5",
        "CPUMON_DATABASE_POOL_TIMEOUT": "10",
        "CPUMON_EXPORT_MAX_CONCURRENT": str(TOTAL),
        "CPUMON_EXPORT_MAX_PER_USER": str(PER_USER),
        "CPUMON_EXPORT_SEND_TIMEOUT": str(SEND_TIMEOUT_S),
    }
    folder = tmp_path_factory.mktemp(f"exports-{request.param}")
    with fresh_server(request.param, folder, limits, OTHER) as started:
        yield started


def seeded_run(http: httpx.Client) -> str:
    run_id: str = http.post("/api/test-runs", json={"name": "big"}).json()["id"]
    for first in range(0, SAMPLES, 10_000):
        batch = [{"seq": seq, "cpu_percent": 12.5} for seq in range(first, first + 10_000)]
        assert http.post(f"/api/test-runs/{run_id}/cpu-usage", json=batch).status_code == 201
    return run_id


def stalled_download(server: Server, path: str, cookie: str) -> socket.socket:
    """Asks for the CSV and then reads only the status line: the rest stays unread."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, so the server's sends stall
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: cpumon_session={cookie}\r\n\r\n".encode())
    return sock


def status_of(sock: socket.socket) -> int:
    sock.settimeout(30)
    head = sock.recv(12)
    return int(head.split(b" ")[1])


def test_slow_exports_are_bounded_cut_off_and_harmless(server: Server) -> None:
    # Closed at the end: a client left open is a socket the garbage collector reports in a later test.
    with contextlib.closing(server.client()) as owner, httpx.Client(base_url=server.url, timeout=10.0) as other:
        assert other.post("/api/auth/login", json={"username": OTHER, "password": PASSWORD}).status_code == 200
        run_id = seeded_run(owner)
        path = f"/api/test-runs/{run_id}/cpu-usage.csv"
        cookie = owner.cookies["cpumon_session"]
        stalled = [stalled_download(server, path, cookie) for _ in range(SLOW_CLIENTS)]
        try:
            statuses = sorted(status_of(sock) for sock in stalled)
            assert statuses == [200] * PER_USER + [429] * (SLOW_CLIENTS - PER_USER), statuses
            # Meanwhile another user is served as usual, export included: were the stalled exports holding
            # the pool, these would answer 503.
            own = other.post("/api/test-runs", json={"name": "mine"}).json()["id"]
            for seq in range(30):
                answer = other.post(f"/api/test-runs/{own}/cpu-usage", json={"seq": seq, "cpu_percent": 1.0})
                assert answer.status_code == 201, answer.text
                assert other.get(f"/api/test-runs/{own}").status_code == 200
            assert other.get(f"/api/test-runs/{own}/cpu-usage.csv").text.count("\n") == 31
            # The stalled ones are cut off after the send timeout, and their slots are free again.
            wait_for(
                lambda: server.log().count("CSV export cut off") >= PER_USER,
                within=SEND_TIMEOUT_S * 10,
                what="the stalled exports to be cut off",
            )
            full = owner.get(path)
            assert full.status_code == 200
            assert full.text.count("\n") == SAMPLES + 1
        finally:
            for sock in stalled:
                sock.close()
        assert "Traceback" not in server.log(), server.log()[-3000:]
