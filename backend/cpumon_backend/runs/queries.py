"""Reads of runs and samples: lists, summaries, keyset pages and series, computed in SQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true

from cpumon.wire import SAMPLE_FIELDS, RunSummary, SampleRead, SeriesPoint
from cpumon_backend.runs.cursor import encode_cursor
from cpumon_backend.runs.folding import fold
from cpumon_backend.runs.lifecycle import TestRunRepository
from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.schemas import (
    RunDetail,
    RunListItem,
    RunPage,
    SamplePage,
    run_fields,
)
from cpumon_backend.runs.series import minute_grid, samples_bucketed, series_from_minutes
from cpumon_backend.runs.sql import BucketIndex, SecondsBetween, as_timestamp
from cpumon_backend.runs.summaries import summaries_from_rows, summary_statement
from cpumon_backend.runs.window import Window, run_filters
from cpumon_backend.storage.db import utcnow

#: The columns a sample page and the CSV read, in the contract's order (the CSV's header names them).
SAMPLE_COLUMNS = tuple(getattr(CpuUsage, name) for name in SAMPLE_FIELDS)


class RunQueryService(SQLAlchemyAsyncRepositoryService[TestRun, TestRunRepository]):
    """The caller's runs and samples, read. Every lookup is by (id, owner)."""

    __test__ = False
    repository_type = TestRunRepository

    async def owned(self, run_id: uuid.UUID, user_id: int) -> TestRun:
        run = await self.repository.session.scalar(
            select(TestRun).where(TestRun.id == run_id, TestRun.user_id == user_id)
        )
        if run is None:
            raise NotFoundError(detail="no such test run")
        return run

    async def list_page(
        self,
        user_id: int,
        page: tuple[int, int],
        *,
        with_summaries: bool,
        hosts: list[str] | None = None,
        window: Window | None = None,
        name_contains: str | None = None,
    ) -> RunPage:
        """A (limit, offset) page of the caller's runs, newest first, on `hosts` and overlapping `window`,
        whose name contains `name_contains` in any case (Unicode case folding, the same on every database)."""
        limit, offset = page
        named = name_contains_filter(name_contains)
        runs, total = await self.get_many_and_count(
            run_filters(hosts, window, utcnow()),
            named,
            LimitOffset(limit=limit, offset=offset),
            OrderBy(field_name="started_at", sort_order="desc"),
            OrderBy(field_name="id", sort_order="desc"),
            user_id=user_id,
        )
        summaries = await self.summaries(runs) if with_summaries else {}
        items = [RunListItem(**run_fields(run), summary=summaries.get(run.id)) for run in runs]
        return RunPage(items=items, total=total, limit=limit, offset=offset)

    async def detail(
        self, run_id: uuid.UUID, user_id: int, threshold: float | None, window: Window | None = None
    ) -> RunDetail:
        """One run with its summary, against `threshold` or the run's own, over `window` if given."""
        run = await self.owned(run_id, user_id)
        limit = run.threshold_percent if threshold is None else threshold
        summary = (await self.summaries([run], limit, window))[run.id]
        return RunDetail(**run_fields(run), summary=summary)

    async def summaries(
        self, runs: Sequence[TestRun], threshold: float | None = None, window: Window | None = None
    ) -> dict[uuid.UUID, RunSummary]:
        """Count, avg, min, max, first/last sample and time above threshold of each run, in one SQL query
        over the roll-ups (runs/summaries.py).

        Each run is measured against `threshold`, or its own threshold when that is None. Time above
        threshold is the sum of the intervals that end at a sample above it: each sample stands for
        the time since the one before it in the same run (the first stands for no time).
        With a window, only samples recorded inside it count, and an interval that began before the
        window's start counts from that start: the same rule, cut at the window's edges.
        """
        limits = {run.id: run.threshold_percent if threshold is None else threshold for run in runs}
        if not runs:
            return {}
        rows = (await self.repository.session.execute(summary_statement(runs, threshold, window))).all()
        return summaries_from_rows(rows, limits)

    async def samples(
        self, run_id: uuid.UUID, user_id: int, limit: int, after: tuple[dt.datetime, int] | None
    ) -> SamplePage:
        """Samples in time order after the cursor position: keyset pagination, no OFFSET scans."""
        run = await self.owned(run_id, user_id)
        # Plain rows on the session's connection, not ORM objects: a 5,000-row page spent most of its
        # time in ORM row handling; structs built from tuples are cheap.
        connection = await self.repository.session.connection()
        rows = (await connection.execute(samples_after(run.id, after, limit + 1))).all()
        items = [SampleRead(*row) for row in rows]
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1].recorded_at, items[-1].id)
        return SamplePage(items=items, next_cursor=next_cursor)

    async def series(
        self,
        run_id: uuid.UUID,
        user_id: int,
        points: int,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[SeriesPoint]:
        """The run (or its samples from `start` to `end`) cut into at most `points` equal time buckets,
        each reduced to min/avg/max in SQL: a chart zoomed into a range gets finer buckets.

        Buckets of a minute or more are whole minutes read from the roll-ups (runs/series.py).
        """
        run = await self.owned(run_id, user_id)
        session = self.repository.session
        in_range = [CpuUsage.test_run_id == run.id]
        if start is not None:
            in_range.append(CpuUsage.recorded_at >= as_timestamp(start))
        if end is not None:
            in_range.append(CpuUsage.recorded_at <= as_timestamp(end))
        bounds = select(func.min(CpuUsage.recorded_at), func.max(CpuUsage.recorded_at))
        row: Any = (await session.execute(bounds.where(*in_range))).one()
        first: dt.datetime | None = row[0]
        last: dt.datetime = row[1]
        if first is None:
            return []
        grid = minute_grid(first, last, points)
        if grid is not None:
            stmt = series_from_minutes(run.id, grid, start, end)
        else:  # buckets under a minute: the raw samples of the range
            span = (last - first).total_seconds()
            width = span / points if span > 0 else 1.0
            offset = SecondsBetween(CpuUsage.recorded_at, as_timestamp(first))
            stmt = samples_bucketed(BucketIndex(offset / width, points - 1), in_range)
        return [
            SeriesPoint(start=at, count=int(n), min_percent=lo, avg_percent=float(total) / int(n), max_percent=hi,
                        max_core_percent=core)
            for _, at, n, lo, total, hi, core in (await session.execute(stmt)).all()
        ]  # fmt: skip


def name_contains_filter(text: str | None) -> ColumnElement[bool]:
    """Runs whose folded name contains the folded `text` (all runs when it is empty or None)."""
    if not text:
        return true()
    # autoescape: a % or _ in the asked text matches itself, not any characters. Both sides are folded,
    # so SQLite's ASCII-only case-insensitive LIKE and MariaDB's binary one give the same answer.
    return TestRun.name_key.contains(fold(text), autoescape=True)


def samples_after(
    run_id: uuid.UUID, after: tuple[dt.datetime, int] | None, limit: int, columns: Sequence[Any] = SAMPLE_COLUMNS
) -> Select[Any]:
    """Up to `limit` samples (their `columns`) of the run in (recorded_at, id) order, after keyset `after`."""
    stmt: Select[Any] = (
        select(*columns).where(CpuUsage.test_run_id == run_id).order_by(CpuUsage.recorded_at, CpuUsage.id).limit(limit)
    )
    if after is None:
        return stmt
    at, last_id = after
    return stmt.where(
        or_(
            CpuUsage.recorded_at > as_timestamp(at),
            and_(CpuUsage.recorded_at == as_timestamp(at), CpuUsage.id > last_id),
        )
    )
