"""The load generator: asyncio + httpx clients, spread over one or more client processes.

Each client process gets a `Job` (its share of the clients), opens one keep-alive connection per
client, reports ready, and waits for the common start signal, so that every process starts at the
same moment and connection set-up is not measured. Two ways to drive a client:

* closed loop: the next request leaves when the previous answer is in (W1, W1b, W2, the ceilings);
* open loop: a simulated agent posts one sample per `period` on its own schedule, with a random phase
  (W3). A request that is still out when the next one is due delays it; the delay is reported as
  schedule lateness, which also shows whether the load generator itself kept up.

Every request carries client sequence numbers; each client reports which it attempted and which
failed, so the suite can read the runs back and count what was lost or stored twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import queue
import random
import ssl
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import msgspec

from bench.servers import SESSION_COOKIE, CpuMeter, MachineMeter, Profiler, ServerProcess, database_processes

JSON_HEADERS = {"content-type": "application/json"}
_encode = msgspec.json.Encoder().encode
READY_TIMEOUT_S = 120.0
_SSL = ssl.create_default_context()  # one context for every client: building one costs milliseconds


@dataclass(frozen=True)
class ClientSpec:
    """One simulated client: its session cookie, its run and its first sequence number."""

    run_id: str = ""
    cookie: str = ""
    first_seq: int = 0


@dataclass(frozen=True)
class Job:
    """What one client process does."""

    base_url: str
    path: str  # may contain {run_id}
    clients: tuple[ClientSpec, ...]
    mode: Literal["closed", "open"] = "closed"
    batch: int = 1  # samples per request; 1 sends a single object, not a list
    duration: float = 10.0
    period: float = 1.0  # open loop: seconds between a client's samples
    timeout: float = 10.0
    seed: int = 0


@dataclass
class ClientOutcome:
    run_id: str
    first_seq: int
    next_seq: int = 0  # one past the last sequence number attempted
    failed: list[tuple[int, int]] = field(default_factory=list)  # [start, stop) ranges not acknowledged
    inserted: int = 0  # what the server said it inserted
    duplicates: int = 0  # what the server said it skipped
    unsent: int = 0  # open loop: samples never sent because the agent fell too far behind its schedule


@dataclass
class JobResult:
    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    clients: list[ClientOutcome] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    error: str | None = None


def sample_body(seq: int, count: int, when: dt.datetime | None = None, step: float = 0.001) -> bytes:
    """`count` samples numbered from `seq` (one JSON object when count is 1, else a list).

    Encoded by msgspec (datetimes in C), so that building a 1,000-sample body costs the client little.
    """
    when = when or dt.datetime.now(dt.UTC)
    if count == 1:
        return _encode({"cpu_percent": (seq * 7.3) % 100, "recorded_at": when, "seq": seq})
    delta = dt.timedelta(seconds=step)
    return _encode(
        [
            {"cpu_percent": ((seq + i) * 7.3) % 100, "recorded_at": when + i * delta, "seq": seq + i}
            for i in range(count)
        ]
    )


class _Recorder:
    def __init__(self, result: JobResult) -> None:
        self.result = result

    async def post(
        self, client: httpx.AsyncClient, path: str, body: bytes, outcome: ClientOutcome, seq: int, n: int
    ) -> None:
        started = time.perf_counter()
        try:
            response = await client.post(path, content=body, headers=JSON_HEADERS)
            status = str(response.status_code)
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        self.result.latencies.append(time.perf_counter() - started)
        self.result.statuses[status] += 1
        if status == "201":
            answer: dict[str, Any] = msgspec.json.decode(response.content)
            outcome.inserted += int(answer.get("inserted", 0))
            outcome.duplicates += int(answer.get("duplicates", 0))
        else:
            outcome.failed.append((seq, seq + n))


async def _closed_client(
    recorder: _Recorder, client: httpx.AsyncClient, job: Job, outcome: ClientOutcome, deadline: float
) -> None:
    path = job.path.format(run_id=outcome.run_id)
    seq = outcome.first_seq
    while time.monotonic() < deadline:
        await recorder.post(client, path, sample_body(seq, job.batch), outcome, seq, job.batch)
        seq += job.batch
    outcome.next_seq = seq


async def _open_client(
    recorder: _Recorder, client: httpx.AsyncClient, job: Job, outcome: ClientOutcome, start: float, phase: float
) -> None:
    path = job.path.format(run_id=outcome.run_id)
    ticks = int((job.duration - phase) // job.period) + 1 if phase < job.duration else 0
    cutoff = start + job.duration + job.timeout  # an agent that fell this far behind stops sending
    seq = outcome.first_seq
    for k in range(ticks):
        due = start + phase + k * job.period
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() > cutoff:
            outcome.unsent = ticks - k
            break
        recorder.result.lateness.append(max(0.0, time.monotonic() - due))
        await recorder.post(client, path, sample_body(seq, 1), outcome, seq, 1)
        seq += 1
    outcome.next_seq = seq


async def _run_job(job: Job, ready: Any, go: Any) -> JobResult:
    result = JobResult()
    recorder = _Recorder(result)
    rng = random.Random(job.seed)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    clients = [
        httpx.AsyncClient(
            base_url=job.base_url,
            cookies={SESSION_COOKIE: spec.cookie} if spec.cookie else None,
            timeout=job.timeout,
            limits=limits,
            verify=_SSL,
        )
        for spec in job.clients
    ]
    try:
        # Open every connection before the start signal: connection set-up is not what is measured.
        for start in range(0, len(clients), 50):
            await asyncio.gather(*(c.get("/health") for c in clients[start : start + 50]))
        ready.put("ready")
        if not await asyncio.to_thread(go.wait, READY_TIMEOUT_S):
            result.error = "no start signal"
            return result
        outcomes = [ClientOutcome(spec.run_id, spec.first_seq, spec.first_seq) for spec in job.clients]
        cpu0, wall0 = time.process_time(), time.monotonic()
        if job.mode == "closed":
            deadline = wall0 + job.duration
            tasks = [_closed_client(recorder, c, job, o, deadline) for c, o in zip(clients, outcomes, strict=True)]
        else:
            tasks = [
                _open_client(recorder, c, job, o, wall0, rng.uniform(0, job.period))
                for c, o in zip(clients, outcomes, strict=True)
            ]
        await asyncio.gather(*tasks)
        result.wall_s = time.monotonic() - wall0
        result.cpu_s = time.process_time() - cpu0
        result.clients = outcomes
        return result
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


def _child(job: Job, ready: Any, go: Any, results: Any) -> None:
    try:
        result = asyncio.run(_run_job(job, ready, go))
    except Exception:  # reported to the parent, which fails the workload with it
        result = JobResult(error=traceback.format_exc(limit=5))
        ready.put("failed")
    results.put(result)


@dataclass
class Measured:
    """What a set of client processes measured, merged, with the server's and database's CPU use."""

    results: list[JobResult]
    server_cpu_pct: float
    db_cpu_pct: float
    machine_cpu_pct: float = 0.0  # the whole machine, in % of one core
    steal_pct: float = 0.0  # CPU the hypervisor took from this VM, in % of one core

    @property
    def other_cpu_pct(self) -> float:
        """CPU used during the window by processes that are not the server, the database or the clients."""
        clients = sum(r.cpu_s / r.wall_s * 100 for r in self.results if r.wall_s)
        return round(max(0.0, self.machine_cpu_pct - self.server_cpu_pct - self.db_cpu_pct - clients), 1)

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.results for x in r.latencies]

    @property
    def lateness(self) -> list[float]:
        return [x for r in self.results for x in r.lateness]

    @property
    def statuses(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.statuses)
        return total

    @property
    def clients(self) -> list[ClientOutcome]:
        return [c for r in self.results for c in r.clients]

    @property
    def wall_s(self) -> float:
        return max((r.wall_s for r in self.results), default=0.0)

    @property
    def client_cpu_pct(self) -> list[float]:
        """Each client process's CPU use as % of one core: near 100 means the load generator was the limit."""
        return [round(100 * r.cpu_s / r.wall_s, 1) if r.wall_s else 0.0 for r in self.results]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error]


def run_jobs(jobs: list[Job], server: ServerProcess | None, label: str = "run") -> Measured:
    """Run each job in its own client process, all started together; return what they measured."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    processes = [ctx.Process(target=_child, args=(job, ready, go, results), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    collected: list[JobResult] = []
    machine_meter = MachineMeter()
    try:
        for _ in jobs:
            ready.get(timeout=READY_TIMEOUT_S)
        server_meter = CpuMeter(server.processes() if server else [])
        db_meter = CpuMeter(database_processes())
        server_meter.start()
        db_meter.start()
        machine_meter.start()
        limit = max(job.duration for job in jobs) + 2 * max(job.timeout for job in jobs) + 60
        with Profiler(server, label):
            go.set()
            for _ in jobs:
                collected.append(results.get(timeout=limit))
            server_cpu, db_cpu, machine_cpu = server_meter.stop(), db_meter.stop(), machine_meter.stop()
    except queue.Empty:
        collected.append(JobResult(error="a client process did not answer in time"))
        server_cpu = db_cpu = machine_cpu = 0.0
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    return Measured(
        collected, round(server_cpu, 1), round(db_cpu, 1), round(machine_cpu, 1), round(machine_meter.steal_pct, 1)
    )


def split(specs: list[ClientSpec], parts: int) -> list[tuple[ClientSpec, ...]]:
    """Deal the clients round-robin into `parts` groups (one per client process)."""
    parts = max(1, min(parts, len(specs)))
    return [tuple(specs[i::parts]) for i in range(parts)]
