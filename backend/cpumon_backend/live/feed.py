"""One poller per watched run in each server process, shared by every page that watches that run.

Ingest stays untouched: it writes as always, and each process reads what is new of a run twice a
second only while someone watches it, through two indexed queries, whatever the number of pages.
This works with any number of workers and replicas, without Redis or a message bus: every process
sees the database. Samples stored late with times long before the newest (an agent's spool delivered
after an outage) are not pushed; the page shows them when it is reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.sql import as_timestamp

POLL_INTERVAL_S = 0.5
MAX_POINTS_PER_POLL = 5_000
# New samples are looked for from this long before the newest one seen: batches of concurrent
# uploads land with slightly out-of-order times, and the index on (run, recorded_at) stays a range scan.
LOOKBACK = dt.timedelta(seconds=60)
QUEUE_SIZE = 256


@dataclass(frozen=True)
class LiveEvent:
    """What a page receives: `samples` ([[epoch seconds, cpu %], ...]), `ended` or `gone`."""

    kind: str
    data: str


@dataclass
class Cursor:
    """Where a feed has read up to: the highest sample id seen and the newest time among them."""

    last_id: int = 0
    newest: dt.datetime | None = None

    def advance(self, rows: list[tuple[int, dt.datetime, float]]) -> None:
        for row_id, recorded_at, _ in rows:
            self.last_id = max(self.last_id, row_id)
            self.newest = recorded_at if self.newest is None else max(self.newest, recorded_at)


def samples_event(rows: list[tuple[int, dt.datetime, float]]) -> LiveEvent:
    points = sorted((round(at.timestamp(), 6), cpu) for _, at, cpu in rows)
    return LiveEvent("samples", json.dumps(points, separators=(",", ":")))


CLOSE = LiveEvent("close", "")


@dataclass
class RunFeed:
    run_id: uuid.UUID
    listeners: set[asyncio.Queue[LiveEvent]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def publish(self, event: LiveEvent) -> None:
        for queue in list(self.listeners):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a page that cannot keep up is closed; its browser reconnects
                self.listeners.discard(queue)
                queue.get_nowait()
                queue.put_nowait(CLOSE)


class LiveHub:
    """The feeds of this process, started by the first page of a run and stopped after its last."""

    def __init__(self, engine: AsyncEngine, poll_interval: float = POLL_INTERVAL_S) -> None:
        self._engine = engine
        self._poll_interval = poll_interval
        self._feeds: dict[uuid.UUID, RunFeed] = {}

    @property
    def watched_runs(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
        feed = self._feeds.get(run_id)
        if feed is None:
            feed = self._feeds[run_id] = RunFeed(run_id)
            feed.task = asyncio.create_task(self._poll(feed), name=f"live feed {run_id}")
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        feed.listeners.add(queue)
        try:
            yield queue
        finally:
            feed.listeners.discard(queue)
            if not feed.listeners and self._feeds.get(run_id) is feed:
                del self._feeds[run_id]
                if feed.task is not None:
                    feed.task.cancel()

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
        self._feeds.clear()

    async def _poll(self, feed: RunFeed) -> None:
        cursor = await self._start_cursor(feed.run_id)
        while True:
            await asyncio.sleep(self._poll_interval)
            rows, ended_at, exists = await self._read_new(feed.run_id, cursor)
            if rows:
                cursor.advance(rows)
                feed.publish(samples_event(rows))
            if not exists:
                feed.publish(LiveEvent("gone", "{}"))
                return
            if ended_at is not None and len(rows) < MAX_POINTS_PER_POLL:
                feed.publish(LiveEvent("ended", json.dumps({"ended_at": ended_at.isoformat()})))
                return

    async def _start_cursor(self, run_id: uuid.UUID) -> Cursor:
        newest_stmt = (
            select(CpuUsage.recorded_at)
            .where(CpuUsage.test_run_id == run_id)
            .order_by(CpuUsage.recorded_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as connection:
            newest = await connection.scalar(newest_stmt)
            if newest is None:
                return Cursor()
            last_id = await connection.scalar(
                select(func.max(CpuUsage.id)).where(
                    CpuUsage.test_run_id == run_id, CpuUsage.recorded_at >= as_timestamp(newest - LOOKBACK)
                )
            )
        return Cursor(last_id=last_id or 0, newest=newest)

    async def _read_new(
        self, run_id: uuid.UUID, cursor: Cursor
    ) -> tuple[list[tuple[int, dt.datetime, float]], dt.datetime | None, bool]:
        stmt = (
            select(CpuUsage.id, CpuUsage.recorded_at, CpuUsage.cpu_percent)
            .where(CpuUsage.test_run_id == run_id, CpuUsage.id > cursor.last_id)
            .order_by(CpuUsage.id)
            .limit(MAX_POINTS_PER_POLL)
        )
        if cursor.newest is not None:
            stmt = stmt.where(CpuUsage.recorded_at >= as_timestamp(cursor.newest - LOOKBACK))
        async with self._engine.connect() as connection:
            # The run's state first: a sample stored before `ended_at` was set is then read below.
            run = (await connection.execute(select(TestRun.ended_at).where(TestRun.id == run_id))).first()
            rows = [(row_id, at, cpu) for row_id, at, cpu in (await connection.execute(stmt)).all()]
        return rows, (run[0] if run else None), run is not None
