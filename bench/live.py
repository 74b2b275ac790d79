"""W7: 100 open live pages do not slow ingest.

The same closed ingest load (clients posting single samples back to back into their own runs) is
measured twice on one server: first with no page open, then with `pages` dashboard pages following
those runs over `GET /api/test-runs/{id}/live` (Server-Sent Events, spread evenly over the runs).
The figure is the ratio of the two ingest rates; the pages' own reception is reported beside it, so
a page that received nothing cannot pass for a cheap one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from bench.api import open_clients
from bench.background import loop_in_thread, run_until
from bench.loadgen import ClientSpec
from bench.servers import SESSION_COOKIE, BenchError, Database, ServerProcess
from bench.workloads import ingest_closed

PAGES = 100
CONNECT_DEADLINE_S = 60.0
SEQ_OFFSET = 10_000_000  # above any sequence number a measured window reaches


@dataclass
class Pages:
    """What the open pages saw: streams connected, `samples` events and the points they carried."""

    connected: int = 0
    events: int = 0
    points: int = 0
    failures: list[str] = field(default_factory=list)


async def _follow(client: httpx.AsyncClient, spec: ClientSpec, seen: Pages, stop: asyncio.Event) -> None:
    try:
        await _read_stream(client, spec, seen, stop)
    except (httpx.HTTPError, OSError) as exc:
        seen.failures.append(f"{type(exc).__name__}: {exc}")


async def _read_stream(client: httpx.AsyncClient, spec: ClientSpec, seen: Pages, stop: asyncio.Event) -> None:
    headers = {"Cookie": f"{SESSION_COOKIE}={spec.cookie}"}
    async with client.stream("GET", f"/api/test-runs/{spec.run_id}/live", headers=headers) as response:
        if response.status_code != 200:
            seen.failures.append(f"live stream answered {response.status_code}")
            return
        event = ""
        async for line in response.aiter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                event = line[7:]
                seen.connected += event == "ready"
            elif line.startswith("data: ") and event == "samples":
                seen.events += 1
                seen.points += line.count("],[") + 1


@contextmanager
def open_pages(url: str, specs: list[ClientSpec], pages: int) -> Iterator[Pages]:
    """`pages` live streams in a thread of their own (its own event loop), closed on exit."""
    seen, ready = Pages(), threading.Event()

    async def main(stop: asyncio.Event) -> None:
        # One client, one connection per page (as 100 browser tabs would hold): building a client per
        # page costs an SSL context each, seconds in all on a busy machine.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        timeout = httpx.Timeout(30, read=None)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
            ready.set()
            await run_until(stop, (_follow(client, specs[i % len(specs)], seen, stop) for i in range(pages)))

    with loop_in_thread(main, join_s=30):
        ready.wait()
        deadline = time.monotonic() + CONNECT_DEADLINE_S
        while seen.connected < pages and not seen.failures:
            if time.monotonic() > deadline:
                raise BenchError(f"only {seen.connected} of {pages} live pages connected")
            time.sleep(0.1)
        if seen.failures:
            raise BenchError(f"live pages failed: {seen.failures[:3]}")
        yield seen


def live_pages(
    server: ServerProcess, database: Database, label: str, clients: int, duration: float, pages: int = PAGES
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ingest with the pages open, ingest without them): the suite's figures and its ceiling."""
    specs = asyncio.run(open_clients(server.url, clients, label))
    without = ingest_closed(server, database, f"{label} no pages", clients, 1, 1, duration, specs=specs)
    # The same clients and runs go on with new sequence numbers: resent ones would be stored as
    # duplicates, which a live page never sees.
    specs = [replace(spec, first_seq=spec.first_seq + SEQ_OFFSET) for spec in specs]
    with open_pages(server.url, specs, pages) as seen:
        loaded = ingest_closed(server, database, f"{label} {pages} pages", clients, 1, 1, duration, specs=specs)
    if seen.events == 0:
        raise BenchError("the live pages received no samples while ingest ran")
    loaded |= {"pages": pages, "pages_connected": seen.connected, "page_events": seen.events}
    loaded["points_per_page"] = round(seen.points / pages, 1)
    return loaded, without
