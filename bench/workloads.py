"""The workloads W1-W5 and the ceilings: each function runs one repetition and returns its figures."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvloop

from bench.api import get_json, login, open_clients, read_back, start_run
from bench.ceilings import raw_insert_rate, raw_read, raw_statement_rate
from bench.loadgen import JSON_HEADERS, ClientSpec, Job, Measured, run_jobs, sample_body, split
from bench.servers import (
    BENCH_PASSWORD,
    BENCH_USER,
    SESSION_COOKIE,
    BenchError,
    Database,
    Profiler,
    RssSampler,
    ServerProcess,
    clean_environ,
    venv_script,
)
from bench.stats import latency_summary

INGEST = "/api/test-runs/{run_id}/cpu-usage"
BASELINE = "/ingest"


@dataclass
class Plan:
    """Sizes and durations of one suite run: the defaults are the full run, `smoke_plan` shrinks it."""

    smoke: bool = False
    repeat: int = 2
    closed_s: float = 10  # W1, W1b, W2
    ceiling_s: float = 5  # the baseline route and the raw INSERTs
    w1b_batch: int = 1_000
    w2_clients: int = 100
    w2_procs: int = 1
    w3_s: float = 30
    w3_agents: int = 300
    w3_big_agents: int = 1_000
    w3_big_workers: int = 2
    w3_procs: int = 1
    w3_big_procs: int = 2
    w4_samples: int = 100_000
    w4_page: int = 5_000
    w5_s: float = 60
    w5_warmup_s: float = 6
    w6_big: int = 1_000_000  # samples of the big run
    w6_page: int = 50_000  # samples of each run on the list's first page
    w6_page_runs: int = 19
    w6_small: int = 10_000
    w6_repeat: int = 15

    @classmethod
    def smoke_plan(cls) -> Plan:
        """Every workload once, small and short: what changes from the full run."""
        return cls(
            smoke=True,
            repeat=1,
            closed_s=2,
            ceiling_s=1,
            w2_clients=20,
            w3_s=3,
            w3_agents=30,
            w3_big_agents=60,
            w3_big_procs=1,
            w4_samples=10_000,
            w5_s=4,
            w5_warmup_s=4,
            w6_big=20_000,
            w6_page=1_000,
            w6_small=1_000,
            w6_repeat=3,
        )


def _traffic(measured: Measured, samples_per_request: int) -> dict[str, Any]:
    statuses = measured.statuses
    requests = sum(statuses.values())
    ok = statuses.get("201", 0)
    wall = measured.wall_s or 1.0
    return {
        "requests": requests,
        "requests_per_s": round(requests / wall, 1),
        "samples_per_s": round(ok * samples_per_request / wall, 1),
        "errors": requests - ok,
        "statuses": dict(statuses),
        **latency_summary(measured.latencies),
        "seconds": round(wall, 2),
        "server_cpu_pct": measured.server_cpu_pct,
        # CPU the server spent per request: steadier than throughput on a shared machine.
        "server_cpu_ms_per_request": round(10 * measured.server_cpu_pct * wall / requests, 3) if requests else None,
        "client_cpu_pct": measured.client_cpu_pct,
        "db_cpu_pct": measured.db_cpu_pct,
        # The machine is shared: CPU taken by anything else during the window (of 100 per core).
        "other_cpu_pct": measured.other_cpu_pct,
        "steal_pct": measured.steal_pct,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _check(measured: Measured) -> None:
    if measured.errors:
        raise BenchError("a client process failed:\n" + "\n".join(measured.errors))


def baseline_closed(server: ServerProcess, clients: int, procs: int, duration: float) -> dict[str, Any]:
    """The trivial route with `clients` back-to-back clients: what the framework alone answers."""
    from bench.loadgen import ClientSpec  # noqa: PLC0415

    specs = [ClientSpec() for _ in range(clients)]
    jobs = [Job(server.url, BASELINE, group, duration=duration, seed=i) for i, group in enumerate(split(specs, procs))]
    measured = run_jobs(jobs, server, f"baseline-{clients}")
    _check(measured)
    return _traffic(measured, 1)


def ingest_closed(
    server: ServerProcess,
    database: Database,
    label: str,
    clients: int,
    procs: int,
    batch: int,
    duration: float,
    specs: list[ClientSpec] | None = None,
) -> dict[str, Any]:
    """W1 / W1b / W2: `clients` clients, each with its own session and run (or `specs`'), posting back to back."""
    specs = specs or asyncio.run(open_clients(server.url, clients, label))
    jobs = [
        Job(server.url, INGEST, group, batch=batch, duration=duration, seed=i)
        for i, group in enumerate(split(specs, procs))
    ]
    measured = run_jobs(jobs, server, f"{label}-{database.kind}")
    _check(measured)
    figures = _traffic(measured, batch)
    figures["readback"] = asyncio.run(read_back(server.url, specs[0].cookie, measured.clients)).as_dict()
    return figures


def raw_ceiling(
    server: ServerProcess, database: Database, rep: int, batch: int, duration: float, label: str = "batch"
) -> dict[str, Any]:
    """The same rows through the same driver, straight into `cpu_usage`, one commit per `batch` rows."""
    name = f"bench raw-insert ceiling {label} #{rep}"
    _new_run(server, name)
    return asyncio.run(raw_insert_rate(database, name, batch, duration))


def db_ceiling(server: ServerProcess, database: Database, rep: int, duration: float) -> dict[str, Any]:
    """C-db: the API's own one-sample ingest statement, back to back over one raw connection (no HTTP, no ORM)."""
    name = f"bench C-db #{rep}"
    _new_run(server, name)
    # On uvloop, as the server runs, so the client CPU per statement is the driver's cost there too.
    return uvloop.run(raw_statement_rate(database, name, duration))


def _new_run(server: ServerProcess, name: str) -> None:
    async def make_run() -> None:
        await start_run(server.url, await login(server.url), name)

    asyncio.run(make_run())


def agents_open(
    server: ServerProcess, database: Database, label: str, agents: int, procs: int, duration: float
) -> dict[str, Any]:
    """W3: simulated agents, each posting one sample per second on its own schedule (random phase)."""
    specs = asyncio.run(open_clients(server.url, agents, label))
    jobs = [
        Job(server.url, INGEST, group, mode="open", duration=duration, period=1.0, seed=i)
        for i, group in enumerate(split(specs, procs))
    ]
    measured = run_jobs(jobs, server, f"{label}-{database.kind}")
    _check(measured)
    figures = _traffic(measured, 1)
    del figures["requests_per_s"]
    figures["samples_per_s"] = round(figures["requests"] / duration, 1)
    lateness = latency_summary(measured.lateness)
    figures["schedule_lateness_p99_ms"] = lateness["p99_ms"]
    tally = asyncio.run(read_back(server.url, specs[0].cookie, measured.clients))
    figures["readback"] = tally.as_dict()
    figures["lost"] = tally.lost
    # Samples an agent never sent because its earlier requests kept it too far behind schedule.
    figures["unsent"] = sum(c.unsent for c in measured.clients)
    return figures


# -- W4: a big run read back ---------------------------------------------------------------


@dataclass
class BigRun:
    run_id: str
    name: str
    cookie: str
    samples: int
    ingest: dict[str, Any]


def big_run(server: ServerProcess, samples: int) -> BigRun:
    """One run of `samples` samples, one second apart, posted in batches of 10,000."""

    name = f"bench W4 {samples} samples"

    async def setup() -> tuple[str, str]:
        cookie = await login(server.url)
        return await start_run(server.url, cookie, name), cookie

    run_id, cookie = asyncio.run(setup())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=samples)
    batch = 10_000
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=120, cookies={SESSION_COOKIE: cookie}) as client:
        for seq in range(0, samples, batch):
            n = min(batch, samples - seq)
            body = sample_body(seq, n, start + dt.timedelta(seconds=seq), step=1.0)
            response = client.post(INGEST.format(run_id=run_id), content=body, headers=JSON_HEADERS)
            if response.status_code != 201 or response.json()["inserted"] != n:
                raise BenchError(f"W4 set-up: storing a batch failed: {response.status_code} {response.text[:200]}")
    elapsed = time.perf_counter() - started
    ingest = {
        "samples": samples,
        "batch": batch,
        "seconds": round(elapsed, 3),
        "samples_per_s": round(samples / elapsed),
    }
    return BigRun(run_id, name, cookie, samples, ingest)


def read_big_run(
    server: ServerProcess, database: Database, run: BigRun, page: int, label: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """W4: the run read back through cursor pages and through the CSV export, timing both and the server's RSS.

    Returns the figures and the ceiling: the same rows read straight from the database with the same driver.
    """
    ceiling = asyncio.run(raw_read(database, run.name))
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, timeout=120, cookies={SESSION_COOKIE: run.cookie}) as client:
        path = INGEST.format(run_id=run.run_id)
        with Profiler(server, f"W4-cursor-{label}"), RssSampler(server) as rss:
            cpu_before = server.cpu_seconds()
            started = time.perf_counter()
            items, pages, cursor, previous = 0, 0, None, -1
            ordered = True
            while True:
                params: dict[str, Any] = {"limit": page}
                if cursor:
                    params["cursor"] = cursor
                response = client.get(path, params=params)
                response.raise_for_status()
                body = json.loads(response.content)
                for item in body["items"]:
                    ordered &= item["seq"] == previous + 1
                    previous = item["seq"]
                items += len(body["items"])
                pages += 1
                cursor = body["next_cursor"]
                if not cursor:
                    break
            figures["cursor_s"] = round(time.perf_counter() - started, 3)
            figures["cursor_server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 3)
        figures |= {
            "cursor_items": items,
            "cursor_pages": pages,
            "cursor_in_order": ordered,
            "cursor_rss_growth_mb": round(rss.growth_mb, 1),
        }
        with Profiler(server, f"W4-csv-{label}"), RssSampler(server) as rss:
            cpu_before = server.cpu_seconds()
            started = time.perf_counter()
            lines = 0
            with client.stream("GET", path.replace("/cpu-usage", "/cpu-usage.csv")) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")
            figures["csv_s"] = round(time.perf_counter() - started, 3)
            figures["csv_server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 3)
        figures |= {"csv_rows": lines - 1, "csv_rss_growth_mb": round(rss.growth_mb, 1)}
    figures["server_rss_mb"] = round(server.rss_bytes() / 1e6, 1)
    figures["complete"] = items == run.samples and figures["csv_rows"] == run.samples and ordered
    # Shares of the raw driver's speed: 1.0 would be as fast as reading the rows with no HTTP and no ORM.
    figures["cursor_ratio"] = round(ceiling["seconds"] / figures["cursor_s"], 3)
    figures["csv_ratio"] = round(ceiling["seconds"] / figures["csv_s"], 3)
    figures["ratio"] = figures["csv_ratio"]
    return figures, ceiling


# -- W5: the agent ----------------------------------------------------------------------------

_REPORT_ROW = re.compile(r"^│ ([A-Z][A-Za-z ]+?) +│ (.*?) *│$", re.MULTILINE)


def agent_overhead(server: ServerProcess, workdir: Path, rep: int, duration: float, warmup: float) -> dict[str, Any]:
    """W5: the real `cpumon` at a 1 s interval; CPU (% of one core) and RSS after its start-up, then its report."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"bench W5 #{rep} {dt.datetime.now(dt.UTC):%H%M%S}"
    env = clean_environ(
        CPUMON_API_URL=server.url,
        CPUMON_USERNAME=BENCH_USER,
        CPUMON_PASSWORD=BENCH_PASSWORD,
        CPUMON_INTERVAL="1",
        CPUMON_RUN_NAME=name,
        CPUMON_SPOOL_DIR=str(workdir / "spool"),
        XDG_CONFIG_HOME=str(workdir / "config"),
        XDG_DATA_HOME=str(workdir / "data"),
        XDG_STATE_HOME=str(workdir / "state"),  # the agent's saved login stays in the bench's directory
    )
    out_path = workdir / f"agent-{rep}.out"
    with out_path.open("wb") as out:
        process = subprocess.Popen(
            [venv_script("cpumon")], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        agent = psutil.Process(process.pid)
        started = time.monotonic()
        time.sleep(warmup)  # start-up (imports, login, new run) is not the steady cost being measured
        if process.poll() is not None:
            raise BenchError(f"cpumon exited ({process.returncode}) during start-up:\n{out_path.read_text()[-2000:]}")
        cpu0 = sum(agent.cpu_times()[:2])
        measured_from = time.monotonic()
        peak_rss = 0
        while time.monotonic() - measured_from < duration:
            peak_rss = max(peak_rss, agent.memory_info().rss)
            time.sleep(0.25)
        cpu1 = sum(agent.cpu_times()[:2])
        window = time.monotonic() - measured_from
        lifetime = time.monotonic() - started
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = out_path.read_text(errors="replace")
    report = {m.group(1).strip(): m.group(2).strip() for m in _REPORT_ROW.finditer(output)}
    return _agent_figures(server, name, report, code, cpu0, cpu1, window, lifetime, peak_rss)


def _agent_figures(
    server: ServerProcess,
    name: str,
    report: dict[str, str],
    code: int,
    cpu0: float,
    cpu1: float,
    window: float,
    lifetime: float,
    peak_rss: int,
) -> dict[str, Any]:
    async def stored() -> tuple[int | None, bool]:
        cookie = await login(server.url)
        page = await get_json(server.url, cookie, "/api/test-runs", limit=50)
        run = next((r for r in page["items"] if r["name"] == name), None)
        if run is None:
            return None, False
        detail = await get_json(server.url, cookie, f"/api/test-runs/{run['id']}")
        return int(detail["summary"]["sample_count"]), detail["ended_at"] is not None

    stored_count, finished = asyncio.run(stored())
    taken = 0
    with contextlib.suppress(ValueError):
        taken = int(report.get("Samples taken", "0"))
    return {
        "cpu_pct": round(100 * (cpu1 - cpu0) / window, 3),
        "cpu_pct_with_startup": round(100 * cpu1 / lifetime, 3),
        "rss_mb": round(peak_rss / 1e6, 1),
        "seconds": round(window, 1),
        "exit_code": code,
        "samples_taken": taken,
        "samples_stored": stored_count,
        "run_finished": finished,
        "lost": None if stored_count is None else max(0, taken - stored_count),
    }
