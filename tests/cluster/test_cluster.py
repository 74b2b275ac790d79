"""cpumon on a real 3-node Galera cluster: one replica per node, clients moving between them, faults injected.

What must hold on every run (numbers for the README are printed with `-s`):
- migrations run by every replica at once all succeed, one says it created the schema, the others found it current;
- every route works across replicas (a run created on one is found at once on another);
- simultaneous conflicting batches into one run through all nodes: no 5xx, every acknowledged seq stored once;
- a node SIGKILLed mid-ingest and rejoined by IST: clients that move to another replica lose nothing; the
  replica on the rejoined node answers /ready 503 while its node is not Synced, then serves without a restart;
- an isolated (non-Primary) node's replica answers 503 to everything that needs the database, never a 500;
- the real agent pointed at one replica through its node's kill: samples taken == rows stored;
- the database-backed login throttle counts every failure sent through several nodes at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from cpumon_backend.auth.clock import system_clock
from cpumon_backend.auth.counters import DatabaseAttemptCounter
from cpumon_backend.auth.throttle import Limit
from cpumon_backend.storage.db import create_engine
from cpumon_backend.storage.migrations import head_revision
from tests.conftest import Backend
from tests.e2e.conftest import PASSWORD as AGENT_PASSWORD
from tests.e2e.conftest import USERNAME as AGENT_USERNAME
from tests.e2e.conftest import AgentProcess, ApiReader, agent_env, wait_for
from tests.e2e.test_agent import assert_every_seq_once
from tests.reliability.conftest import PASSWORD, USERNAME, Server

from .galera import GaleraCluster, Node

BASE = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
CONFLICT = re.compile(r"write conflict \(error (\d+)\)")


def batch(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"seq": seq, "cpu_percent": 40.0, "recorded_at": (BASE + dt.timedelta(milliseconds=seq)).isoformat()}
        for seq in range(first, first + count)
    ]


def conflicts_retried(replicas: list[Server]) -> int:
    return sum(len(CONFLICT.findall(server.log())) for server in replicas)


def login(http: httpx.Client, url: str) -> None:
    response = http.post(f"{url}/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, response.text


def stored_seqs(http: httpx.Client, url: str, run_id: str) -> list[int]:
    seqs: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 10_000, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"{url}/api/test-runs/{run_id}/cpu-usage", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seqs += [item["seq"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seqs


def wait_synced(cluster: GaleraCluster) -> None:
    for node in cluster.nodes:
        wait_for(node.synced, within=90, what=f"node {node.index} to be Synced", every=0.2)
    wait_for(lambda: cluster.size_seen_by(cluster.nodes[0]) == len(cluster.nodes), within=30, what="all nodes")


@pytest.fixture
def http(replicas: list[Server]) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20.0) as client:
        login(client, replicas[0].url)
        yield client


def test_migrations_run_on_every_replica_at_once(migrations: list[subprocess.CompletedProcess[str]]) -> None:
    assert [done.returncode for done in migrations] == [0, 0, 0], [done.stdout for done in migrations]
    # They took turns under the lock (none failed half-way with "table already exists").
    said = [done.stdout for done in migrations]
    assert all("revision" in out and "already exists" not in out for out in said), said
    # Each read the revision under the lock: one created the schema, the others found it done.
    head = head_revision()
    assert sorted(out.strip() for out in said) == [
        f"cpumon-server: created the schema at revision {head}",
        f"cpumon-server: database is at the latest migration (revision {head})",
        f"cpumon-server: database is at the latest migration (revision {head})",
    ], said


def test_every_route_works_across_replicas(replicas: list[Server]) -> None:
    a, b, c = (server.url for server in replicas)
    with httpx.Client(timeout=20.0) as http:
        login(http, a)
        assert http.get(f"{b}/api/auth/me").json()["username"] == USERNAME
        run_id = http.post(f"{c}/api/test-runs", json={"name": "across"}).json()["id"]
        for url in (a, b):  # read-your-writes: created through c, found at once through a and b
            assert http.get(f"{url}/api/test-runs/{run_id}").status_code == 200
        runs = f"/api/test-runs/{run_id}"
        assert http.post(f"{a}{runs}/cpu-usage", json=batch(0, 10)).json() == {"inserted": 10, "duplicates": 0}
        assert http.post(f"{b}{runs}/cpu-usage", json=batch(5, 10)).json() == {"inserted": 5, "duplicates": 5}
        assert http.get(f"{c}{runs}").json()["summary"]["sample_count"] == 15
        assert sorted(stored_seqs(http, a, run_id)) == list(range(15))
        assert len(http.get(f"{b}{runs}/cpu-usage/series", params={"points": 5}).json()["items"]) >= 1
        assert len(http.get(f"{c}{runs}/cpu-usage.csv").text.splitlines()) == 16
        assert run_id in [run["id"] for run in http.get(f"{a}/api/test-runs", params={"summary": True}).json()["items"]]
        finished = http.post(f"{b}{runs}/finish", json={})
        assert finished.status_code == 200, finished.text
        assert http.post(f"{c}{runs}/cpu-usage", json=batch(100, 1)).status_code == 409
        assert http.get(f"{a}{runs}").json()["ended_at"] == finished.json()["ended_at"]
        assert http.delete(f"{c}{runs}").status_code == 204
        assert [http.get(f"{url}{runs}").status_code for url in (a, b)] == [404, 404]
        assert http.post(f"{a}/api/auth/logout").status_code == 204
        login(http, a)
        cookie = http.cookies.get("cpumon_session")
        assert http.post(f"{c}/api/auth/logout").status_code == 204
        for url in (a, b, c):
            assert http.get(f"{url}/api/auth/me", cookies={"cpumon_session": cookie or ""}).status_code == 401


async def post_all_at_once(requests: list[tuple[str, list[dict[str, Any]]]], cookies: httpx.Cookies) -> list[Any]:
    async with httpx.AsyncClient(timeout=30.0, cookies=cookies) as client:
        return await asyncio.gather(*(client.post(url, json=body) for url, body in requests))


def test_simultaneous_conflicting_batches_through_every_node(replicas: list[Server], http: httpx.Client) -> None:
    before = conflicts_retried(replicas)
    for _round in range(6):
        run_id = http.post(f"{replicas[0].url}/api/test-runs", json={"name": "conflicts"}).json()["id"]
        # Two clients per replica; neighbours overlap by half a batch, all through different nodes at once.
        requests = [(f"{replicas[k % 3].url}/api/test-runs/{run_id}/cpu-usage", batch(k * 50, 100)) for k in range(6)]
        answers = asyncio.run(post_all_at_once(requests, http.cookies))
        assert [r.status_code for r in answers] == [201] * len(requests), [r.text for r in answers]
        inserted = sum(r.json()["inserted"] for r in answers)
        seqs = stored_seqs(http, replicas[1].url, run_id)
        assert inserted == len(seqs) == len(set(seqs)) == 350
    print(f"\nconflicting batches: {conflicts_retried(replicas) - before} write conflicts retried inside the server")


@dataclass
class Ingestor:
    """A client that sends batches into one run and moves to the next replica when one fails."""

    urls: list[str]
    run_id: str
    first_seq: int
    cookies: httpx.Cookies
    acknowledged: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        current, seq = 0, self.first_seq
        async with httpx.AsyncClient(timeout=20.0, cookies=self.cookies) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    url = f"{self.urls[current]}/api/test-runs/{self.run_id}/cpu-usage"
                    response = await client.post(url, json=batch(seq, 20))
                except httpx.TransportError:
                    current = (current + 1) % len(self.urls)
                    continue
                self.statuses.append(response.status_code)
                if response.status_code != 201:
                    current = (current + 1) % len(self.urls)  # the same batch again, elsewhere
                    continue
                self.latencies.append(time.monotonic() - started)
                self.acked_at.append(time.monotonic())
                self.acknowledged.update(range(seq, seq + 20))
                seq += 20
                await asyncio.sleep(0.01)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def longest_pause(times: list[float]) -> float:
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)


def ready_status(server: Server) -> int:
    try:
        return httpx.get(f"{server.url}/ready", timeout=5.0).status_code
    except httpx.TransportError:
        return 0


def watch_ready_while_rejoining(node: Node, server: Server) -> int:
    """Poll the replica's /ready until its node is Synced; every answer seen while it was not must be 503."""
    seen_unsynced = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        synced_before = node.synced()
        status = ready_status(server)
        if not synced_before and not node.synced():
            assert status == 503, f"/ready said {status} while node {node.index} was not Synced"
            seen_unsynced += 1
        if synced_before:
            return seen_unsynced
    pytest.fail(f"node {node.index} did not become Synced", pytrace=False)


async def ingest_through_a_kill(cluster: GaleraCluster, replicas: list[Server], run_id: str, cookies: Any) -> Any:
    urls = [server.url for server in replicas]
    clients = [Ingestor(urls[i:] + urls[:i], run_id, i * 10_000_000, cookies) for i in range(3)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client.run(stop)) for client in clients]
    await asyncio.sleep(1.0)
    victim = cluster.nodes[1]
    victim.kill()
    killed_at = time.monotonic()
    await asyncio.to_thread(
        wait_for, lambda: cluster.size_seen_by(cluster.nodes[0]) == 2, within=60, what="the eviction"
    )
    await asyncio.sleep(1.0)
    victim.restart_by_ist()
    unsynced_answers = await asyncio.to_thread(watch_ready_while_rejoining, victim, replicas[1])
    await asyncio.to_thread(wait_for, lambda: ready_status(replicas[1]) == 200, within=30, what="replica 2 ready")
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    return clients, killed_at, unsynced_answers


def test_node_killed_mid_ingest_and_rejoined_by_ist(
    cluster: GaleraCluster, replicas: list[Server], http: httpx.Client
) -> None:
    run_id = http.post(f"{replicas[0].url}/api/test-runs", json={"name": "node loss"}).json()["id"]
    clients, killed_at, unsynced_answers = asyncio.run(ingest_through_a_kill(cluster, replicas, run_id, http.cookies))
    wait_synced(cluster)
    acknowledged = set().union(*(client.acknowledged for client in clients))
    statuses = [status for client in clients for status in client.statuses]
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    seqs = stored_seqs(http, replicas[2].url, run_id)
    assert len(seqs) == len(set(seqs)), "a sample was stored twice"
    assert acknowledged <= set(seqs), f"{len(acknowledged - set(seqs))} acknowledged samples lost"
    assert unsynced_answers > 0
    # The replica on the rejoined node serves again without a restart.
    rejoined = replicas[1].url
    assert http.post(f"{rejoined}/api/test-runs/{run_id}/cpu-usage", json=batch(99_000_000, 5)).status_code == 201
    assert http.get(f"{rejoined}/api/test-runs/{run_id}").json()["summary"]["sample_count"] == len(seqs) + 5
    latencies = [latency for client in clients for latency in client.latencies]
    pause = longest_pause([t for client in clients for t in client.acked_at if t > killed_at - 1])
    print(
        f"\nnode loss: {len(acknowledged)} samples acknowledged, 0 lost; p99 {p99(latencies) * 1000:.0f} ms; "
        f"longest write pause {pause:.1f} s; {statuses.count(503)} answers 503; /ready 503 x{unsynced_answers}"
    )


def test_an_isolated_node_answers_503_only(cluster: GaleraCluster, replicas: list[Server], http: httpx.Client) -> None:
    node, isolated = cluster.nodes[2], replicas[2].url
    run_id = http.post(f"{replicas[0].url}/api/test-runs", json={"name": "isolation"}).json()["id"]
    runs = f"{isolated}/api/test-runs"
    node.isolate(True)
    try:
        wait_for(lambda: node.status("wsrep_cluster_status") == "non-Primary", within=30, what="non-Primary")
        answers = [
            httpx.get(f"{isolated}/ready"),
            http.get(runs),
            http.get(f"{runs}/{run_id}"),
            http.post(runs, json={"name": "refused"}),
            http.post(f"{runs}/{run_id}/cpu-usage", json=batch(0, 5)),
            http.get(f"{runs}/{run_id}/cpu-usage"),
            http.get(f"{runs}/{run_id}/cpu-usage/series"),
            http.get(f"{runs}/{run_id}/cpu-usage.csv"),
            http.post(f"{runs}/{run_id}/finish", json={}),
            httpx.post(f"{isolated}/api/auth/login", json={"username": USERNAME, "password": PASSWORD}),
        ]
        for answer in answers * 1:
            assert answer.status_code == 503, f"{answer.request.method} {answer.request.url}: {answer.text}"
            assert answer.headers["retry-after"]
        assert "Traceback" not in replicas[2].log()
        # The other two nodes keep a quorum and go on serving.
        wait_for(
            lambda: (
                http.post(f"{replicas[0].url}/api/test-runs/{run_id}/cpu-usage", json=batch(0, 5)).status_code == 201
            ),
            within=30,
            what="the majority to serve writes",
        )
    finally:
        node.isolate(False)
    wait_synced(cluster)
    wait_for(lambda: ready_status(replicas[2]) == 200, within=30, what="the isolated replica to be ready again")
    assert http.get(f"{runs}/{run_id}").json()["summary"]["sample_count"] == 5


def test_the_agent_through_a_node_kill(
    cluster: GaleraCluster,
    replicas: list[Server],
    start_agent: Callable[[dict[str, str]], AgentProcess],
    tmp_path: Path,
) -> None:
    agent = start_agent(agent_env(replicas[0].url, tmp_path / "spool"))
    run_id = agent.wait_output(r"recording run .* \(([0-9a-f-]{36})\)").group(1)
    api = ApiReader(replicas[2].url, AGENT_USERNAME, AGENT_PASSWORD)
    try:
        wait_for(lambda: api.stored_count(run_id) >= 10, within=30, what="10 stored samples")
        node = cluster.nodes[0]
        node.kill()
        agent.wait_output(r"upload failed")
        node.restart_by_ist()
        wait_synced(cluster)
        agent.wait_output(r"uploads resumed", within=60)
        stored = api.stored_count(run_id)
        wait_for(lambda: api.stored_count(run_id) > stored, within=30, what="uploads after the rejoin")
        agent.interrupt()
        assert agent.wait_exit(within=60) == 0, agent.stderr
        # Samples taken == rows stored, each seq once. (Not "Run state: finished": the agent's finish at
        # exit may meet a pooled connection to the killed node and get one 503; the next start finishes.)
        report = agent.report()
        taken = int(report["Samples taken"])
        assert int(report["Samples stored"]) == taken == api.run(run_id)["summary"]["sample_count"]
        assert report["Kept for later"] == "0"
        assert_every_seq_once(api.samples(run_id), taken)
    finally:
        api.close()


def test_the_database_throttle_counts_every_failure_across_nodes(cluster: GaleraCluster) -> None:
    async def count_failures() -> int:
        engines = [create_engine(Backend("galera", node.url).settings()) for node in cluster.nodes]
        try:
            counters = [DatabaseAttemptCounter(async_sessionmaker(engine), "mysql", system_clock) for engine in engines]
            limits = [Limit(f"user:{uuid.uuid4().hex[:40]}", 12)]
            waits = await asyncio.gather(*(counters[i % 3].reserve(limits, 300) for i in range(12)))
            assert waits == [None] * 12  # each of the 12 reserved an attempt
            assert await counters[1].reserve(limits, 300) is not None  # and all 12 were counted
            return len(waits)
        finally:
            for engine in engines:
                await engine.dispose()

    assert asyncio.run(count_failures()) == 12
