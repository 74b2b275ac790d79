"""Database outage: the API on MariaDB, behind a TCP proxy the test cuts and restores.

While the database is gone every request answers 503 (with Retry-After) within a bounded time,
never a 500 and never a hang, and /ready says 503; once it is back, the same server process
serves again, with the same sessions, without a restart (pool_pre_ping throws away the dead
connections). An agent running through the outage ends with every sample it took stored once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import AgentProcess, agent_env, wait_for

from .conftest import PASSWORD, USERNAME, Database, Keep, Server, TcpProxy, via_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

#: The promise: with the database gone, an answer (503) within this many seconds.
ANSWER_BOUND_S = 8.0
#: How long the database stays away in the tests (long enough for every pooled connection to die).
OUTAGE_S = 3.0


def serve_through(proxy: TcpProxy, database: Database, start_server: Callable[..., Server]) -> Server:
    return start_server(
        database.server_settings(
            CPUMON_DATABASE_URL=via_proxy(database.url, proxy),
            CPUMON_DATABASE_CONNECT_TIMEOUT="2",
            CPUMON_DATABASE_POOL_TIMEOUT="2",
            CPUMON_REQUEST_TIMEOUT="4",
        ),
        name="outage-server",
    )


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_outage_gives_503s_then_the_same_process_recovers(
    mysql_db: Database, mysql_proxy: TcpProxy, start_server: Callable[..., Server], clients: Keep
) -> None:
    server = serve_through(mysql_proxy, mysql_db, start_server)
    assert server.process is not None
    pid = server.process.pid
    api = clients(server.client(timeout=30))  # closed after the test: no socket left to the GC
    run_id = api.post("/api/test-runs", json={"name": "outage"}).json()["id"]
    # Several requests at once fill the pool with live connections that the outage will kill.
    for seq in range(20):
        assert api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": seq, "cpu_percent": 1}).status_code == 201
    assert mysql_proxy.connections > 0
    assert api.get("/ready").status_code == 200

    mysql_proxy.cut()
    cut_at = time.monotonic()
    calls: dict[str, Callable[[], httpx.Response]] = {
        "ready": lambda: api.get("/ready"),
        "list": lambda: api.get("/api/test-runs"),
        "read": lambda: api.get(f"/api/test-runs/{run_id}"),
        "ingest": lambda: api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": 99, "cpu_percent": 2}),
        "login": lambda: httpx.post(
            f"{server.url}/api/auth/login", json={"username": USERNAME, "password": PASSWORD}, timeout=30
        ),
    }
    slowest = 0.0
    for _round in range(2):  # the first round meets the dead pooled connections, the second new connects
        for name, call in calls.items():
            response, took = timed(call)
            slowest = max(slowest, took)
            assert response.status_code == 503, (name, response.status_code, response.text)
            assert response.headers["retry-after"] == "5"
            assert took < ANSWER_BOUND_S, (name, took)
    assert api.get("/health").status_code == 200  # the process itself is alive
    wait_for(lambda: time.monotonic() - cut_at >= OUTAGE_S, within=OUTAGE_S + 1, what="the outage to last")

    mysql_proxy.restore()
    restored_at = time.monotonic()
    wait_for(lambda: api.get("/ready").status_code == 200, within=15, what="/ready after the database is back")
    recovery = time.monotonic() - restored_at
    # The same process, the same session (it lives in the database), no restart.
    assert server.process is not None
    assert server.process.pid == pid
    assert server.process.poll() is None
    assert api.get("/api/auth/me").json()["username"] == USERNAME
    stored = api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": 20, "cpu_percent": 3})
    assert stored.status_code == 201, stored.text
    assert api.get(f"/api/test-runs/{run_id}").json()["summary"]["sample_count"] == 21  # the 503 stored nothing
    assert " 500 " not in server.log()
    assert "Traceback" not in server.log()
    print(f"\noutage: slowest 503 {slowest:.2f} s (bound {ANSWER_BOUND_S} s); ready again {recovery:.2f} s after")


def test_agent_through_an_outage_stores_every_sample_once(
    mysql_db: Database,
    mysql_proxy: TcpProxy,
    start_server: Callable[..., Server],
    start_agent: Callable[[dict[str, str]], AgentProcess],
    tmp_path: Path,
    clients: Keep,
) -> None:
    server = serve_through(mysql_proxy, mysql_db, start_server)
    env = agent_env(server.url, tmp_path / "spool", CPUMON_USERNAME=USERNAME, CPUMON_PASSWORD=PASSWORD)
    agent = start_agent(env)
    run_id = agent.wait_output(r"recording run .* \(([0-9a-f-]{36})\)").group(1)
    api = clients(server.client(timeout=30))  # closed after the test: no socket left to the GC

    def stored() -> int:
        response = api.get(f"/api/test-runs/{run_id}")
        return int(response.json()["summary"]["sample_count"]) if response.status_code == 200 else -1

    wait_for(lambda: stored() >= 10, within=30, what="10 stored samples")
    mysql_proxy.cut()
    cut_at = time.monotonic()
    agent.wait_output(r"WARNING  upload failed")
    wait_for(lambda: time.monotonic() - cut_at >= OUTAGE_S, within=OUTAGE_S + 1, what="the outage to last")
    mysql_proxy.restore()
    agent.wait_output(r"uploads resumed")
    after = stored()
    wait_for(lambda: stored() > after, within=30, what="uploads after the outage")
    agent.interrupt()
    assert agent.wait_exit() == 0, agent.stderr

    report = agent.report()
    taken = int(report["Samples taken"])
    assert int(report["Samples stored"]) == taken
    assert report["Kept for later"] == "0"
    assert report["Run state"] == "finished"
    seqs = sorted(item["seq"] for item in _all_samples(api, run_id))
    assert seqs == list(range(taken))  # every sample once: none lost, none twice
    failed = re.search(r"uploads resumed after (\d+) failed attempts", agent.stdout)
    assert failed is not None
    print(f"\nagent through a {OUTAGE_S:g} s outage: {taken} taken, {taken} stored once, {failed.group(1)} retries")


def _all_samples(api: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 1000}
    while True:
        page = api.get(f"/api/test-runs/{run_id}/cpu-usage", params=params).json()
        items.extend(page["items"])
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def test_partitioned_database_gives_503s_not_hangs(
    mysql_db: Database, mysql_proxy: TcpProxy, start_server: Callable[..., Server], clients: Keep
) -> None:
    """The database stops answering without refusing anything (a network partition)."""
    server = serve_through(mysql_proxy, mysql_db, start_server)
    api = clients(server.client(timeout=60))  # closed after the test: no socket left to the GC
    run_id = api.post("/api/test-runs", json={"name": "partition"}).json()["id"]
    mysql_proxy.freeze()
    slowest = 0.0
    for name, call in {
        "ready": lambda: api.get("/ready"),
        "read": lambda: api.get(f"/api/test-runs/{run_id}"),
        "ingest": lambda: api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": 1, "cpu_percent": 2}),
    }.items():
        response, took = timed(call)
        slowest = max(slowest, took)
        print(f"\npartition: {name} answered {response.status_code} after {took:.2f} s")
        assert response.status_code == 503, (name, response.text)
        assert took < ANSWER_BOUND_S, (name, took)
    mysql_proxy.restore()
    wait_for(lambda: api.get("/ready").status_code == 200, within=30, what="/ready after the partition")
    assert api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": 1, "cpu_percent": 2}).status_code == 201
