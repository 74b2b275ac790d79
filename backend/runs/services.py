"""Runs and their samples: advanced-alchemy services plus the SQL that must stay in the database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import on_galera, utcnow
from backend.retry import retry_conflicts
from backend.runs.cursor import encode_cursor
from backend.runs.models import BREAKDOWN_FIELDS, CpuUsage, TestRun
from backend.runs.schemas import (
    IngestResult,
    RunCreate,
    RunSummary,
    SampleIn,
    SamplePage,
    SampleRead,
    SeriesPoint,
)
from backend.runs.sql import as_timestamp, bucket_index, insert_ignoring_duplicates, seconds_between
from backend.runs.window import Window, run_filters

CSV_HEADER = ("id", "seq", "recorded_at", "cpu_percent", *BREAKDOWN_FIELDS)
# The columns a sample page and the CSV read, in CSV_HEADER order.
SAMPLE_COLUMNS = tuple(getattr(CpuUsage, name) for name in CSV_HEADER)
CSV_ROWS_PER_CHUNK = 2_000


class RunFinishedError(Exception):
    """Samples sent to a run that has ended (409)."""


class TestRunRepository(SQLAlchemyAsyncRepository[TestRun]):
    model_type = TestRun


class TestRunService(SQLAlchemyAsyncRepositoryService[TestRun, TestRunRepository]):
    """The caller's runs. Every lookup is by (id, owner): another user's run is simply not found."""

    __test__ = False
    repository_type = TestRunRepository

    @property
    def dialect(self) -> str:
        return self.repository.session.get_bind().dialect.name

    async def rollback(self) -> None:
        await self.repository.session.rollback()

    @retry_conflicts(rollback)
    async def start(self, user_id: int, data: RunCreate) -> TestRun:
        started_at = data.started_at or utcnow()
        hostname = data.hostname or ""
        run = TestRun(
            user_id=user_id,
            name=data.name or f"{hostname or 'run'} {started_at:%Y-%m-%d %H:%M:%S}",
            hostname=hostname,
            interval_s=data.interval_s,
            threshold_percent=data.threshold_percent,
            started_at=started_at,
        )
        return await self.create(run, auto_commit=True)

    async def get_owned(self, run_id: uuid.UUID, user_id: int, *, lock: bool = False) -> TestRun:
        stmt = select(TestRun).where(TestRun.id == run_id, TestRun.user_id == user_id)
        if lock:  # held until commit: a finish cannot slip between the check and the insert
            stmt = stmt.with_for_update(read=True)
        run = await self.repository.session.scalar(stmt)
        if run is None:
            raise NotFoundError(detail="no such test run")
        return run

    async def get_for_ingest(self, run_id: uuid.UUID, user_id: int) -> TestRun:
        """The run, kept from being finished or deleted by anyone else until this transaction ends."""
        session = self.repository.session
        if on_galera(await session.connection()):
            # FOR SHARE locks on this node only: a finish through another node would not wait for it.
            # A write to the run row makes such a finish and this ingest conflict at certification
            # instead, so one of them is rolled back and retried, and sees the other's outcome.
            touch = (
                update(TestRun)
                .where(TestRun.id == run_id, TestRun.user_id == user_id, TestRun.ended_at.is_(None))
                .values(updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await session.execute(touch)
        return await self.get_owned(run_id, user_id, lock=True)

    async def list_owned(
        self, user_id: int, limit: int, offset: int, hosts: list[str] | None = None, window: Window | None = None
    ) -> tuple[Sequence[TestRun], int]:
        return await self.get_many_and_count(
            run_filters(hosts, window, utcnow()),
            LimitOffset(limit=limit, offset=offset),
            OrderBy(field_name="started_at", sort_order="desc"),
            OrderBy(field_name="id", sort_order="desc"),
            user_id=user_id,
        )

    @retry_conflicts(rollback)
    async def finish(self, run_id: uuid.UUID, user_id: int, ended_at: dt.datetime | None) -> TestRun:
        run = await self.get_owned(run_id, user_id)
        if run.ended_at is None:  # idempotent: a finished run keeps its first end time
            run.ended_at = ended_at or utcnow()
            await self.repository.session.commit()
        return run

    async def remove(self, run: TestRun) -> None:
        await self.repository.session.delete(run)
        await self.repository.session.commit()

    async def summary(self, run: TestRun, threshold: float, window: Window | None = None) -> RunSummary:
        """The run's summary against `threshold`, over `window` if given (see `summaries`)."""
        return (await self.summaries([run], threshold, window))[run.id]

    async def summaries(
        self, runs: Sequence[TestRun], threshold: float | None = None, window: Window | None = None
    ) -> dict[uuid.UUID, RunSummary]:
        """Count, avg, min, max, first/last sample and time above threshold of each run, in one SQL query.

        Each run is measured against `threshold`, or its own threshold when that is None. Time above
        threshold is the sum of the intervals that end at a sample above it: each sample stands for
        the time since the one before it in the same run (the first stands for no time).
        With a window, only samples recorded inside it count, and an interval that began before the
        window's start counts from that start: the same rule, cut at the window's edges.
        """
        limits = {run.id: run.threshold_percent if threshold is None else threshold for run in runs}
        found = {run_id: _empty_summary(limit) for run_id, limit in limits.items()}
        if not runs:
            return found
        ordered = (
            select(
                CpuUsage.test_run_id,
                CpuUsage.cpu_percent,
                CpuUsage.recorded_at,
                CpuUsage.user_percent,
                CpuUsage.system_percent,
                CpuUsage.iowait_percent,
                CpuUsage.steal_percent,
                CpuUsage.max_core_percent,
                func.lag(CpuUsage.recorded_at)
                .over(partition_by=CpuUsage.test_run_id, order_by=(CpuUsage.recorded_at, CpuUsage.id))
                .label("previous_at"),
            )
            .where(CpuUsage.test_run_id.in_(list(limits)))
            .subquery()
        )
        limit = TestRun.threshold_percent if threshold is None else literal(threshold)
        since: ColumnElement[dt.datetime] = ordered.c.previous_at
        if window is not None and window.start is not None:
            start = as_timestamp(window.start)
            since = case((ordered.c.previous_at < start, start), else_=ordered.c.previous_at)
        interval = seconds_between(ordered.c.recorded_at, since, self.dialect)
        above = case(
            (and_(ordered.c.cpu_percent > limit, ordered.c.previous_at.is_not(None)), interval),
            else_=0.0,
        )
        stmt = (
            select(
                ordered.c.test_run_id,
                func.count(),
                func.avg(ordered.c.cpu_percent),
                func.min(ordered.c.cpu_percent),
                func.max(ordered.c.cpu_percent),
                func.min(ordered.c.recorded_at),
                func.max(ordered.c.recorded_at),
                func.coalesce(func.sum(above), 0.0),
                func.avg(ordered.c.user_percent),  # AVG and MAX skip nulls: samples without a breakdown
                func.avg(ordered.c.system_percent),
                func.avg(ordered.c.iowait_percent),
                func.avg(ordered.c.steal_percent),
                func.max(ordered.c.max_core_percent),
            )
            .select_from(ordered.join(TestRun, TestRun.id == ordered.c.test_run_id))
            .where(_recorded_inside(ordered.c.recorded_at, window))
            .group_by(ordered.c.test_run_id)
        )
        for row in (await self.repository.session.execute(stmt)).all():
            run_id, count, avg, low, high, first, last, above_s, user, system, iowait, steal, hottest = row
            found[run_id] = RunSummary(
                sample_count=count,
                avg_percent=float(avg),
                min_percent=low,
                max_percent=high,
                first_sample_at=first,
                last_sample_at=last,
                threshold_percent=limits[run_id],
                time_above_threshold_s=round(float(above_s), 6),
                avg_user_percent=_float_or_none(user),
                avg_system_percent=_float_or_none(system),
                avg_iowait_percent=_float_or_none(iowait),
                avg_steal_percent=_float_or_none(steal),
                max_core_percent=hottest,
            )
        return found


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)  # MariaDB's AVG is a Decimal


def _recorded_inside(recorded_at: ColumnElement[dt.datetime], window: Window | None) -> ColumnElement[bool]:
    conditions = []
    if window is not None and window.start is not None:
        conditions.append(recorded_at >= as_timestamp(window.start))
    if window is not None and window.end is not None:
        conditions.append(recorded_at <= as_timestamp(window.end))
    return and_(true(), *conditions)


def _empty_summary(threshold: float) -> RunSummary:
    return RunSummary(
        sample_count=0,
        avg_percent=None,
        min_percent=None,
        max_percent=None,
        first_sample_at=None,
        last_sample_at=None,
        threshold_percent=threshold,
        time_above_threshold_s=0.0,
    )


class SampleService:
    """Writes and reads of `cpu_usage` in bulk, where an ORM object per row would cost too much."""

    def __init__(self, runs: TestRunService) -> None:
        self._runs = runs
        self._session = runs.repository.session
        self._dialect = runs.dialect

    async def rollback(self) -> None:
        await self._session.rollback()

    @retry_conflicts(rollback)
    async def ingest(self, run_id: uuid.UUID, user_id: int, samples: Sequence[SampleIn]) -> IngestResult:
        """Store a batch whole into the caller's run, skipping (run, seq) pairs already stored. Commits."""
        run = await self._runs.get_for_ingest(run_id, user_id)
        if run.ended_at is not None:
            raise RunFinishedError
        now = utcnow()
        rows = [
            {
                "test_run_id": run.id,
                "seq": s.seq,
                "recorded_at": s.recorded_at or now,
                "cpu_percent": s.cpu_percent,
                "user_percent": s.user_percent,
                "system_percent": s.system_percent,
                "iowait_percent": s.iowait_percent,
                "steal_percent": s.steal_percent,
                "max_core_percent": s.max_core_percent,
                "created_at": now,
            }
            for s in samples
        ]
        stmt = insert_ignoring_duplicates(CpuUsage.__table__, self._dialect)  # type: ignore[arg-type]
        result: Any = await self._session.execute(stmt, rows)  # executemany: the drivers batch the rows
        inserted: int = result.rowcount
        await self._session.commit()
        return IngestResult(inserted=inserted, duplicates=len(rows) - inserted)

    async def page(self, run: TestRun, limit: int, after: tuple[dt.datetime, int] | None) -> SamplePage:
        """Samples in time order after the cursor position: keyset pagination, no OFFSET scans."""
        stmt = (
            select(*SAMPLE_COLUMNS)
            .where(CpuUsage.test_run_id == run.id)
            .order_by(CpuUsage.recorded_at, CpuUsage.id)
            .limit(limit + 1)
        )
        if after is not None:
            at, last_id = after
            stmt = stmt.where(
                or_(
                    CpuUsage.recorded_at > as_timestamp(at),
                    and_(CpuUsage.recorded_at == as_timestamp(at), CpuUsage.id > last_id),
                )
            )
        # On the session's connection, not through the ORM: plain rows, no ORM loading per row, and
        # structs built from tuples (a 5,000-row page spent most of its time in ORM row handling).
        connection = await self._session.connection()
        rows = (await connection.execute(stmt)).all()
        items = [SampleRead(*row) for row in rows]
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1].recorded_at, items[-1].id)
        return SamplePage(items=items, next_cursor=next_cursor)

    async def series(self, run: TestRun, points: int) -> list[SeriesPoint]:
        """The run cut into at most `points` equal time buckets, each reduced to min/avg/max in SQL."""
        bounds = select(func.min(CpuUsage.recorded_at), func.max(CpuUsage.recorded_at)).where(
            CpuUsage.test_run_id == run.id
        )
        row: Any = (await self._session.execute(bounds)).one()
        first: dt.datetime | None = row[0]
        last: dt.datetime = row[1]
        if first is None:
            return []
        span = (last - first).total_seconds()
        width = span / points if span > 0 else 1.0
        offset = seconds_between(CpuUsage.recorded_at, as_timestamp(first), self._dialect)
        index = bucket_index(offset / width, points - 1, self._dialect).label("bucket")
        stmt = (
            select(
                index,
                func.min(CpuUsage.recorded_at),
                func.count(),
                func.min(CpuUsage.cpu_percent),
                func.avg(CpuUsage.cpu_percent),
                func.max(CpuUsage.cpu_percent),
                func.max(CpuUsage.max_core_percent),
            )
            .where(CpuUsage.test_run_id == run.id)
            .group_by(index)
            .order_by(index)
        )
        return [
            SeriesPoint(
                start=start, count=n, min_percent=lo, avg_percent=float(avg), max_percent=hi, max_core_percent=core
            )
            for _, start, n, lo, avg, hi, core in (await self._session.execute(stmt)).all()
        ]


async def stream_csv(engine: AsyncEngine, run_id: uuid.UUID) -> AsyncIterator[bytes]:
    """Every sample of a run as CSV, read through a server-side cursor: memory stays flat at any size.

    It opens its own connection because the response body is sent after the request's session closed.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue().encode()
    stmt = (
        select(*SAMPLE_COLUMNS)
        .where(CpuUsage.test_run_id == run_id)
        .order_by(CpuUsage.recorded_at, CpuUsage.id)
        .execution_options(yield_per=CSV_ROWS_PER_CHUNK)
    )
    async with engine.connect() as connection:
        result = await connection.stream(stmt)
        async for rows in result.partitions():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(
                (id_, _blank_if_none(seq), recorded_at.isoformat(), repr(cpu), *map(_blank_if_none, breakdown))
                for id_, seq, recorded_at, cpu, *breakdown in rows
            )
            yield buffer.getvalue().encode()


def _blank_if_none(value: float | int | None) -> str | float | int:
    return "" if value is None else repr(value) if isinstance(value, float) else value
