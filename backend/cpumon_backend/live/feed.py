"""One poller per watched run in each server process, shared by every page that watches that run.

Ingest stays untouched: it writes as always, and each process reads what is new of a run twice a
second only while someone watches it, through three indexed queries (the run's state, its new
samples, its new events), whatever the number of pages.
This works with any number of workers and replicas, without Redis or a message bus: every process
sees the database. Samples stored late with times long before the newest (an agent's spool delivered
after an outage) are not pushed; the page shows them when it is reloaded.

A feed outlives a database outage: a read that fails is retried with jittered backoff (at most
`RETRY.max_delay_s` apart), its pages are told `reconnecting`, then `resumed` once a read succeeds;
the process logs the outage once when its first feed fails and once when its last one recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cpumon_backend.events import service as events
from cpumon_backend.events.models import RunEvent
from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.sql import as_timestamp
from cpumon_backend.storage.db import utcnow
from cpumon_backend.storage.retry import RetryPolicy

logger = logging.getLogger("cpumon.server")

POLL_INTERVAL_S = 0.5
MAX_POINTS_PER_POLL = 5_000
#: A run keeps at most EVENTS_PER_RUN_MAX (1,000) events of up to 500 characters: a burst of them is
#: sent over several polls, so one message stays under about 200 KB.
MAX_EVENTS_PER_POLL = 100
# New samples are looked for from this long before the newest one seen: batches of concurrent
# uploads land with slightly out-of-order times, and the index on (run, recorded_at) stays a range scan.
LOOKBACK = dt.timedelta(seconds=60)
#: Events waiting for one page. They are shared by every page of the run (not copied); a page that
#: falls this far behind is closed (its browser reconnects), so what one page holds stays bounded.
QUEUE_SIZE = 32
#: A read stuck on a dead connection counts as failed after this long, and is retried.
READ_TIMEOUT_S = 5.0
#: Retries while the database is away: jittered, at most 1 s apart, so a feed resumes within about
#: a second of the database answering again.
RETRY = RetryPolicy(first_delay_s=0.25, max_delay_s=1.0)


@dataclass(frozen=True)
class LiveEvent:
    """What a page receives: `samples` ([[epoch seconds, cpu %], ...]), `events` (the API's events),
    `ended`, `gone`, `reconnecting`, `resumed`."""

    kind: str
    data: str


#: The events after which a stream has nothing more to say.
FINAL_KINDS = frozenset({"ended", "gone"})
CLOSE = LiveEvent("close", "")
RECONNECTING = LiveEvent("reconnecting", "{}")
RESUMED = LiveEvent("resumed", "{}")


@dataclass
class Cursor:
    """Where a feed has read up to: the highest sample id seen and the newest time among them, and
    the highest event id seen.

    `newest` never passes the server's clock: a sample stamped in the future (a client's clock far
    ahead) must not hide the samples stamped correctly after it. Event ids miss nothing: a run's
    events are added one after another (under the run row's lock on MariaDB, SQLite's one writer),
    so none commits with an id below one already read.
    """

    last_id: int = 0
    newest: dt.datetime | None = None
    last_event_id: int = 0

    def advance(self, rows: list[tuple[int, dt.datetime, float]], now: dt.datetime) -> None:
        for row_id, recorded_at, _ in rows:
            self.last_id = max(self.last_id, row_id)
            seen = min(recorded_at, now)
            self.newest = seen if self.newest is None else max(self.newest, seen)


def samples_event(rows: list[tuple[int, dt.datetime, float]]) -> LiveEvent:
    points = sorted((round(at.timestamp(), 6), cpu) for _, at, cpu in rows)
    return LiveEvent("samples", json.dumps(points, separators=(",", ":")))


def events_event(rows: Sequence[Row[Any]]) -> LiveEvent:
    """The run's new events, in time order, as the events API writes them."""
    in_time_order = sorted(rows, key=lambda row: (row.at, row.id))
    return LiveEvent("events", events.as_json(in_time_order))


@dataclass(frozen=True)
class News:
    """One poll's reading of a run: its new samples and events, and whether it has ended or gone."""

    samples: list[tuple[int, dt.datetime, float]]
    events: Sequence[Row[Any]]
    ended_at: dt.datetime | None
    exists: bool

    @property
    def complete(self) -> bool:
        """True when nothing new was left for the next poll (neither read reached its bound)."""
        return len(self.samples) < MAX_POINTS_PER_POLL and len(self.events) < MAX_EVENTS_PER_POLL


class Subscription:
    """One page's place in a feed: its queue of events and whether its feed is failing now."""

    def __init__(self, feed: RunFeed) -> None:
        self.feed = feed
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, event: LiveEvent) -> bool:
        """Queue `event`; False (and the page closed) when the page is too far behind."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.end()
            return False
        return True

    def end(self) -> None:
        """Close the page's stream: whatever it has not sent yet is dropped, it sends nothing more."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSE)


@dataclass
class RunFeed:
    run_id: uuid.UUID
    listeners: set[Subscription] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    failing: bool = False
    #: Set once the feed knows where the run's samples end: from then on, every new sample is pushed.
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when a page was told `ready` before the feed listened (a slow first read): what was stored
    #: between that page's load and the feed's start is in neither, so the feed says `resumed` once it
    #: listens and the page reloads (as after any gap).
    late: bool = False

    def publish(self, event: LiveEvent) -> None:
        for listener in list(self.listeners):
            if not listener.offer(event):  # a page that cannot keep up is closed; its browser reconnects
                self.listeners.discard(listener)

    @property
    def stopped(self) -> bool:
        return self.task is not None and self.task.done()


class OutageLog:
    """Logs a database outage once per process: when its first feed fails, and when its last recovers."""

    def __init__(self) -> None:
        self.failing_feeds = 0

    def failed(self, exc: BaseException) -> None:
        self.failing_feeds += 1
        if self.failing_feeds == 1:
            logger.warning("live updates paused, retrying: cannot read the database (%s)", _one_line(exc))

    def recovered(self) -> None:
        self.failing_feeds -= 1
        if self.failing_feeds == 0:
            logger.warning("live updates resumed: the database answers again")

    def dropped(self) -> None:
        """A failing feed stopped (its last page left): no longer counted, nothing to say."""
        self.failing_feeds -= 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class LiveHub:
    """The feeds of this process, started by the first page of a run and stopped after its last."""

    def __init__(self, engine: AsyncEngine, poll_interval: float = POLL_INTERVAL_S) -> None:
        self._engine = engine
        self._poll_interval = poll_interval
        self._feeds: dict[uuid.UUID, RunFeed] = {}
        self._outage = OutageLog()

    @property
    def watched_runs(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: uuid.UUID) -> AsyncIterator[Subscription]:
        feed = self._feeds.get(run_id)
        if feed is None or feed.stopped:  # a feed that said `ended` or `gone` is read afresh
            feed = self._feeds[run_id] = RunFeed(run_id)
            feed.task = asyncio.create_task(self._follow(feed), name=f"live feed {run_id}")
        subscription = Subscription(feed)
        feed.listeners.add(subscription)
        try:
            yield subscription
        finally:
            feed.listeners.discard(subscription)
            if not feed.listeners and self._feeds.get(run_id) is feed:
                del self._feeds[run_id]
                if feed.task is not None:
                    feed.task.cancel()

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
        self._feeds.clear()

    async def _follow(self, feed: RunFeed) -> None:
        """Read the run until it ends or goes; while reads fail, retry them and tell the pages."""
        cursor: Cursor | None = None
        failures = 0
        try:
            while True:
                try:
                    async with asyncio.timeout(READ_TIMEOUT_S):
                        if cursor is None:
                            cursor = await self._start_cursor(feed.run_id)
                            feed.listening.set()
                            if feed.late and not failures:  # after failures, recovering says `resumed`
                                feed.publish(RESUMED)
                        elif await self._poll_once(feed, cursor):
                            return
                except Exception as exc:  # the database is away (or failing): keep the feed, try again
                    failures += 1
                    if failures == 1:
                        self._set_failing(feed, exc)
                    await asyncio.sleep(RETRY.delay(failures))
                    continue
                if failures:
                    failures = 0
                    self._set_failing(feed, None)
                await asyncio.sleep(self._poll_interval)
        finally:
            if feed.failing:
                self._outage.dropped()

    def _set_failing(self, feed: RunFeed, exc: BaseException | None) -> None:
        feed.failing = exc is not None
        if exc is not None:
            self._outage.failed(exc)
            feed.publish(RECONNECTING)
        else:
            self._outage.recovered()
            feed.publish(RESUMED)

    async def _poll_once(self, feed: RunFeed, cursor: Cursor) -> bool:
        """Push what is new; True when the run has ended or gone (the feed is done)."""
        news = await self._read_new(feed.run_id, cursor)
        if news.samples:
            cursor.advance(news.samples, utcnow())
            feed.publish(samples_event(news.samples))
        if news.events:
            cursor.last_event_id = max(row.id for row in news.events)
            feed.publish(events_event(news.events))
        if not news.exists:
            feed.publish(LiveEvent("gone", "{}"))
            return True
        if news.ended_at is not None and news.complete:
            feed.publish(LiveEvent("ended", json.dumps({"ended_at": news.ended_at.isoformat()})))
            return True
        return False

    async def _start_cursor(self, run_id: uuid.UUID) -> Cursor:
        """From the run's newest sample and newest event: the page loads what is stored already."""
        async with self._engine.connect() as connection:
            last_event_id = await connection.scalar(select(func.max(RunEvent.id)).where(RunEvent.test_run_id == run_id))
            cursor = await _samples_cursor(connection, run_id)
        cursor.last_event_id = last_event_id or 0
        return cursor

    async def _read_new(self, run_id: uuid.UUID, cursor: Cursor) -> News:
        stmt = (
            select(CpuUsage.id, CpuUsage.recorded_at, CpuUsage.cpu_percent)
            .where(CpuUsage.test_run_id == run_id, CpuUsage.id > cursor.last_id)
            .order_by(CpuUsage.id)
            .limit(MAX_POINTS_PER_POLL)
        )
        if cursor.newest is not None:
            stmt = stmt.where(CpuUsage.recorded_at >= as_timestamp(cursor.newest - LOOKBACK))
        async with self._engine.connect() as connection:
            # The run's state first: a sample or event stored before `ended_at` was set is then read
            # below, and pushed before `ended`.
            run = (await connection.execute(select(TestRun.ended_at).where(TestRun.id == run_id))).first()
            rows = [(row_id, at, cpu) for row_id, at, cpu in (await connection.execute(stmt)).all()]
            new_events = (await connection.execute(_events_after(run_id, cursor.last_event_id))).all()
        return News(rows, new_events, run[0] if run else None, run is not None)


async def _samples_cursor(connection: AsyncConnection, run_id: uuid.UUID) -> Cursor:
    newest_stmt = (
        select(CpuUsage.recorded_at)
        .where(CpuUsage.test_run_id == run_id)
        .order_by(CpuUsage.recorded_at.desc())
        .limit(1)
    )
    newest = await connection.scalar(newest_stmt)
    if newest is None:
        return Cursor()
    newest = min(newest, utcnow())
    last_id = await connection.scalar(
        select(func.max(CpuUsage.id)).where(
            CpuUsage.test_run_id == run_id, CpuUsage.recorded_at >= as_timestamp(newest - LOOKBACK)
        )
    )
    return Cursor(last_id=last_id or 0, newest=newest)


def _events_after(run_id: uuid.UUID, last_event_id: int) -> Select[Any]:
    """The run's events added after `last_event_id`, by id. Read through the (test_run_id, at) index,
    whose entries carry the id: at most EVENTS_PER_RUN_MAX entries of the run are looked at."""
    return (
        events.read_statement(run_id)
        .where(RunEvent.id > last_event_id)
        .order_by(RunEvent.id)
        .limit(MAX_EVENTS_PER_POLL)
    )
