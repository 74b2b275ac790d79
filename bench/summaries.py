"""W6: summaries and series of long runs (MariaDB), read from the roll-ups (docs/rollups.md).

One run of 1,000,000 samples (about 11.6 days at 1 Hz, still open) and nineteen of 50,000 on one
runs-list page, and a run of 10,000 on the next page as the yardstick. The samples are written
with bulk `INSERT ... SELECT` over MariaDB's sequence tables, not through the API, so the set-up
takes a minute or two; the roll-ups are then built by the same statement the ingest runs
(`REFRESH_ROLLUPS`), over each run's whole span. Every figure is the median of `repeat` requests,
one at a time, over one keep-alive connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bench.api import login
from bench.servers import SESSION_COOKIE, BenchError, Database, ServerProcess
from bench.workloads import Plan
from cpumon_backend.runs.models import TestRun
from cpumon_backend.runs.rollups import REFRESH_ROLLUPS, span_of
from cpumon_backend.runs.summaries import summary_statement
from cpumon_backend.runs.window import Window

RUNS = "/api/test-runs"
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    first: dt.datetime
    samples: int


def long_runs(server: ServerProcess, database: Database, plan: Plan) -> dict[str, Any]:
    """Store the runs (timed), then measure each of the issue's requests; the figures of one repetition."""
    cookie = asyncio.run(login(server.url))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=120, cookies={SESSION_COOKIE: cookie}) as client:
        # Oldest first: the small run lands on the list's second page, the big one at the top of the first.
        small = _start(client, "W6 small", now - dt.timedelta(days=30), plan.w6_small)
        page = [
            _start(client, f"W6 {i}", now - dt.timedelta(days=20 - i), plan.w6_page) for i in range(plan.w6_page_runs)
        ]
        big = _start(client, "W6 big", now - dt.timedelta(seconds=plan.w6_big), plan.w6_big)
        asyncio.run(_fill(database, [small, *page, big]))
        setup_s = time.perf_counter() - started
        figures = _measure(client, big, small, plan.w6_repeat)
    figures |= asyncio.run(_locust_poll_db_ms(database, big, plan.w6_repeat))
    figures["setup_s"] = round(setup_s, 1)
    figures["samples"] = plan.w6_big + plan.w6_page * plan.w6_page_runs + plan.w6_small
    return figures


def _start(client: httpx.Client, name: str, first: dt.datetime, samples: int) -> StoredRun:
    body = {"name": name, "hostname": "bench-w6", "interval_s": 1, "started_at": first.isoformat()}
    response = client.post(RUNS, json=body)
    if response.status_code != 201:
        raise BenchError(f"W6 set-up: starting a run failed: {response.status_code} {response.text[:200]}")
    return StoredRun(response.json()["id"], first, samples)


async def _fill(database: Database, runs: list[StoredRun]) -> None:
    """Samples one second apart (plus a few microseconds) with a breakdown, then their roll-ups."""
    engine = create_async_engine(database.url)
    try:
        async with engine.begin() as connection:
            for run in runs:
                await _insert_samples(connection, run)
                lo, hi = span_of([run.first, run.first + dt.timedelta(seconds=run.samples)])
                params = {"run_id": uuid.UUID(run.run_id), "lo": lo, "hi": hi}
                await connection.execute(REFRESH_ROLLUPS["mysql"], params)
    finally:
        await engine.dispose()


async def _insert_samples(connection: AsyncConnection, run: StoredRun) -> None:
    # seq_0_to_N is MariaDB's Sequence engine: N rows without a table. A slow wave plus a hash-like
    # wobble crosses the default 80 % threshold often.
    cpu = "LEAST(100, GREATEST(0, 55 + 40 * SIN(seq / 600.0) + (seq * 7919 % 13)))"
    statement = text(
        "INSERT INTO cpu_usage (test_run_id, seq, recorded_at, cpu_percent, user_percent, system_percent,"  # noqa: S608 - fixed SQL and an int
        " iowait_percent, steal_percent, max_core_percent, created_at)"
        f" SELECT :run_id, seq, TIMESTAMPADD(MICROSECOND, seq * 1000000 + seq % 997, :first), {cpu},"
        f" {cpu} * 0.7, {cpu} * 0.2, 1.5, 0.0, LEAST(100, {cpu} + 10), :first"
        f" FROM seq_0_to_{int(run.samples) - 1}"
    )
    await connection.execute(
        statement, {"run_id": uuid.UUID(run.run_id).bytes, "first": run.first.replace(tzinfo=None)}
    )


def _median_ms(request: Callable[[], httpx.Response], repeat: int) -> float:
    request().raise_for_status()  # warm: connection, statement cache, buffer pool
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        request().raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _measure(client: httpx.Client, big: StoredRun, small: StoredRun, repeat: int) -> dict[str, Any]:
    last = big.first + dt.timedelta(seconds=big.samples - 1)
    hour = {
        "from": (last - HOUR + dt.timedelta(seconds=7.3)).isoformat(),
        "to": (last - dt.timedelta(seconds=2.1)).isoformat(),
    }
    figures = {
        "whole_run_ms": _median_ms(lambda: client.get(f"{RUNS}/{big.run_id}"), repeat),
        "small_run_ms": _median_ms(lambda: client.get(f"{RUNS}/{small.run_id}"), repeat),
        "hour_window_ms": _median_ms(lambda: client.get(f"{RUNS}/{big.run_id}", params=hour), repeat),
        "list_page_ms": _median_ms(lambda: client.get(RUNS, params={"summary": "true", "limit": 20}), repeat),
        "series_500_ms": _median_ms(
            lambda: client.get(f"{RUNS}/{big.run_id}/cpu-usage/series", params={"points": 500}), repeat
        ),
        "other_threshold_hour_ms": _median_ms(
            lambda: client.get(f"{RUNS}/{big.run_id}", params=hour | {"threshold": 90}), repeat
        ),
    }
    figures["whole_vs_small"] = round(figures["whole_run_ms"] / figures["small_run_ms"], 2)
    summary = client.get(f"{RUNS}/{big.run_id}").json()["summary"]
    figures["complete"] = summary["sample_count"] == big.samples
    return figures


async def _locust_poll_db_ms(database: Database, big: StoredRun, repeat: int) -> dict[str, Any]:
    """The database time of one Locust poll of the big run: its window summary since the test began
    (an hour ago) and the summary of its latest sample, as the plugin asks (cpumon/locust/client.py)."""
    run = TestRun(id=uuid.UUID(big.run_id), threshold_percent=80.0)
    last = big.first + dt.timedelta(seconds=big.samples - 1, microseconds=(big.samples - 1) % 997)
    statements = [
        summary_statement([run], None, Window(last - HOUR, last + dt.timedelta(seconds=1))),
        summary_statement([run], None, Window(last, last)),
    ]
    engine = create_async_engine(database.url)
    try:
        async with engine.connect() as connection:
            times = []
            for i in range(repeat + 1):
                started = time.perf_counter()
                for statement in statements:
                    (await connection.execute(statement)).all()
                if i:  # the first compiles and warms
                    times.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return {"locust_poll_db_ms": round(statistics.median(times), 2)}
