"""Set-up and read-back through the API itself: sessions, runs, and what was really stored."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.loadgen import _SSL, ClientOutcome, ClientSpec
from bench.servers import BENCH_PASSWORD, BENCH_USER, SESSION_COOKIE, BenchError

SETUP_CONCURRENCY = 32
#: The read-back is CSV exports by one user: no more at once than the server lets one user run
#: (CPUMON_EXPORT_MAX_PER_USER, default 2 per worker), or the rest get 429.
READ_BACK_CONCURRENCY = 2


async def login(base_url: str) -> str:
    """A new session of the bench user; returns its cookie value (each client gets its own session)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=_SSL) as client:
        response = await client.post("/api/auth/login", json={"username": BENCH_USER, "password": BENCH_PASSWORD})
        if response.status_code != 200:
            raise BenchError(f"login failed: {response.status_code} {response.text[:200]}")
        cookie = response.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise BenchError("login answered without a session cookie")
        return cookie


async def start_run(base_url: str, cookie: str, name: str) -> str:
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, cookies={SESSION_COOKIE: cookie}, verify=_SSL
    ) as client:
        response = await client.post("/api/test-runs", json={"name": name, "hostname": "bench", "interval_s": 1})
        if response.status_code != 201:
            raise BenchError(f"starting a run failed: {response.status_code} {response.text[:200]}")
        run_id: str = response.json()["id"]
        return run_id


async def open_clients(base_url: str, count: int, label: str, *, sessions: int | None = None) -> list[ClientSpec]:
    """`count` clients, each with its own run; each its own session unless `sessions` says fewer."""
    limiter = asyncio.Semaphore(SETUP_CONCURRENCY)
    cookies: list[str] = []

    async def one_session() -> None:
        async with limiter:
            cookies.append(await login(base_url))

    await asyncio.gather(*(one_session() for _ in range(sessions or count)))

    async def one_run(i: int) -> ClientSpec:
        cookie = cookies[i % len(cookies)]
        async with limiter:
            return ClientSpec(run_id=await start_run(base_url, cookie, f"bench {label} #{i}"), cookie=cookie)

    return list(await asyncio.gather(*(one_run(i) for i in range(count))))


async def stored_seqs(client: httpx.AsyncClient, run_id: str) -> Counter[int]:
    """How many times each sequence number is stored in a run, from the streamed CSV export."""
    counts: Counter[int] = Counter()
    async with client.stream("GET", f"/api/test-runs/{run_id}/cpu-usage.csv") as response:
        if response.status_code != 200:
            raise BenchError(f"reading run {run_id} back failed: {response.status_code}")
        text = (await response.aread()).decode()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    seq_at = header.index("seq")
    for row in reader:
        counts[int(row[seq_at]) if row[seq_at] else -1] += 1
    return counts


@dataclass
class Tally:
    """Attempted versus stored, over every client of a workload."""

    attempted: int = 0
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0  # attempted (acknowledged or not) and not stored
    lost_acknowledged: int = 0  # acknowledged and not stored: the worst kind
    duplicates: int = 0  # stored more than once, or stored without having been sent
    failed_but_stored: int = 0  # the client saw an error or timeout, the server stored it anyway

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


async def read_back(base_url: str, cookie: str, outcomes: Sequence[ClientOutcome]) -> Tally:
    """Read every run of `outcomes` back and compare with what the clients sent."""
    tally = Tally()
    limiter = asyncio.Semaphore(READ_BACK_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, cookies={SESSION_COOKIE: cookie}, verify=_SSL
    ) as client:

        async def check(outcome: ClientOutcome) -> None:
            async with limiter:
                stored = await stored_seqs(client, outcome.run_id)
            # Samples below the window's first sequence number were sent by an earlier window into the same run.
            stored = Counter({seq: n for seq, n in stored.items() if seq >= outcome.first_seq})
            failed = {s for a, b in outcome.failed for s in range(a, b)}
            attempted = range(outcome.first_seq, outcome.next_seq)
            tally.attempted += len(attempted)
            tally.acknowledged += len(attempted) - len(failed)
            tally.stored += sum(stored.values())
            for seq in attempted:
                n = stored.get(seq, 0)
                if n == 0:
                    tally.lost += 1
                    tally.lost_acknowledged += seq not in failed
                elif seq in failed:
                    tally.failed_but_stored += 1
                tally.duplicates += max(0, n - 1)
            tally.duplicates += sum(n for seq, n in stored.items() if seq not in attempted)

        await asyncio.gather(*(check(o) for o in outcomes if o.run_id))
    return tally


async def get_json(base_url: str, cookie: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, cookies={SESSION_COOKIE: cookie}, verify=_SSL
    ) as client:
        response = await client.get(path, params=params)
        response.raise_for_status()
        return response.json()
