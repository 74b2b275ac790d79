"""Today's raw computation of summaries, kept as the oracle the roll-ups are tested against.

This is the statement every summary ran before the roll-ups (a LAG over every sample of the run),
unchanged: the property tests in test_rollups.py compare each answer of the roll-ups with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select, true

from cpumon.wire import BREAKDOWN_FIELDS, RunSummary
from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.rollups import MinuteOf
from cpumon_backend.runs.series import MinuteGrid, samples_bucketed
from cpumon_backend.runs.sql import BucketIndex, SecondsBetween, as_timestamp
from cpumon_backend.runs.window import Window


def _summaries_statement(run_ids: list[uuid.UUID], threshold: float | None, window: Window | None) -> Select[Any]:
    ordered = (
        select(
            CpuUsage.test_run_id,
            CpuUsage.cpu_percent,
            CpuUsage.recorded_at,
            *(getattr(CpuUsage, name) for name in BREAKDOWN_FIELDS),
            func.lag(CpuUsage.recorded_at)
            .over(partition_by=CpuUsage.test_run_id, order_by=(CpuUsage.recorded_at, CpuUsage.id))
            .label("previous_at"),
        )
        .where(CpuUsage.test_run_id.in_(run_ids))
        .subquery()
    )
    limit = TestRun.threshold_percent if threshold is None else literal(threshold)
    since: ColumnElement[dt.datetime] = ordered.c.previous_at
    if window is not None and window.start is not None:
        start = as_timestamp(window.start)
        since = case((ordered.c.previous_at < start, start), else_=ordered.c.previous_at)
    interval = SecondsBetween(ordered.c.recorded_at, since)
    above = case(
        (and_(ordered.c.cpu_percent > limit, ordered.c.previous_at.is_not(None)), interval),
        else_=0.0,
    )
    return (
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


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)  # MariaDB's AVG is a Decimal


def _recorded_inside(recorded_at: Any, window: Window | None) -> ColumnElement[bool]:
    conditions = []
    if window is not None and window.start is not None:
        conditions.append(recorded_at >= as_timestamp(window.start))
    if window is not None and window.end is not None:
        conditions.append(recorded_at <= as_timestamp(window.end))
    return and_(true(), *conditions)


def oracle_summary(row: Any, threshold: float) -> RunSummary:
    """A RunSummary from one row of `_summaries_statement`, as the service built it."""
    _, count, avg, low, high, first, last, above_s, user, system, iowait, steal, hottest = row
    return RunSummary(
        sample_count=count,
        avg_percent=float(avg),
        min_percent=low,
        max_percent=high,
        first_sample_at=first,
        last_sample_at=last,
        threshold_percent=threshold,
        time_above_threshold_s=round(float(above_s), 6),
        avg_user_percent=_float_or_none(user),
        avg_system_percent=_float_or_none(system),
        avg_iowait_percent=_float_or_none(iowait),
        avg_steal_percent=_float_or_none(steal),
        max_core_percent=hottest,
    )


def summaries_statement(run_ids: list[uuid.UUID], threshold: float | None, window: Window | None) -> Select[Any]:
    return _summaries_statement(run_ids, threshold, window)


def series_statement(run_id: uuid.UUID, grid: MinuteGrid, start: dt.datetime | None, end: dt.datetime | None) -> Any:
    """The series on the same minute grid, from every raw sample of the range (the roll-ups' oracle)."""
    in_range = [CpuUsage.test_run_id == run_id, _recorded_inside(CpuUsage.recorded_at, Window(start, end))]
    position = (MinuteOf(CpuUsage.recorded_at) - literal(grid.base)) / literal(grid.minutes)
    return samples_bucketed(BucketIndex(position, grid.points - 1), in_range)


def bounds_statement(run_id: uuid.UUID, start: dt.datetime | None, end: dt.datetime | None) -> Any:
    inside = _recorded_inside(CpuUsage.recorded_at, Window(start, end))
    return select(func.min(CpuUsage.recorded_at), func.max(CpuUsage.recorded_at)).where(
        CpuUsage.test_run_id == run_id, inside
    )
