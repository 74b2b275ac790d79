"""Series from the roll-ups: charts whose buckets are at least a minute wide read minutes, not samples.

A series cuts [first sample, last sample] of the range into at most N buckets. When they are at
least a minute wide, each is a whole number `k` of minutes, aligned to the minute grid, so every
roll-up row falls into exactly one of them: the chart reads the range's minutes (whole ones from
the roll-ups, the partial minutes at its edges raw) and adds them up per bucket. Narrower buckets
(a chart zoomed into less than N minutes) read the raw samples of the range, as before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, func, literal, select, union_all

from cpumon_backend.runs.models import CpuUsage, CpuUsageRollup
from cpumon_backend.runs.rollups import BUCKET, MinuteOf, RawBounds, cut_window, minute_of
from cpumon_backend.runs.sql import BucketIndex, as_timestamp


@dataclass(frozen=True)
class MinuteGrid:
    """Series bucket of a minute m: min((m - base) // minutes, points - 1)."""

    base: int
    minutes: int
    points: int


def minute_grid(first: dt.datetime, last: dt.datetime, points: int) -> MinuteGrid | None:
    """The grid of whole minutes for N buckets over [first, last], or None when they would be under a minute."""
    span, minute = last - first, BUCKET
    if span < minute * points:
        return None
    # At least span / (points - 1) wide: with the grid aligned, the range then spans at most N buckets.
    minutes = -(-span // (minute * max(points - 1, 1)))
    return MinuteGrid(base=minute_of(first) // minutes * minutes, minutes=minutes, points=points)


_MINUTE_COLUMNS = ("minute", "sample_count", "cpu_sum", "cpu_min", "cpu_max", "max_core_percent", "first_at")


def _minutes(
    run_id: uuid.UUID, start: dt.datetime | None, end: dt.datetime | None
) -> Select[Any] | CompoundSelect[Any]:
    """One row per minute of the run in [start, end]: whole minutes from the roll-ups, the edges raw."""
    cut = cut_window(start, end)
    parts: list[Select[Any]] = [_raw_minutes(run_id, bounds) for bounds in cut.raw]
    if cut.buckets is not None:
        r = CpuUsageRollup
        first, last = cut.buckets
        where: list[ColumnElement[bool]] = [r.test_run_id == run_id]
        if first is not None:
            where.append(r.minute >= first)
        if last is not None:
            where.append(r.minute < last)
        parts.insert(0, select(*(getattr(r, name) for name in _MINUTE_COLUMNS)).where(*where))
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _raw_minutes(run_id: uuid.UUID, bounds: RawBounds) -> Select[Any]:
    lo, hi, hi_inclusive = bounds
    c = CpuUsage
    where: list[ColumnElement[bool]] = [c.test_run_id == run_id]
    if lo is not None:
        where.append(c.recorded_at >= as_timestamp(lo))
    if hi is not None:
        where.append(c.recorded_at <= as_timestamp(hi) if hi_inclusive else c.recorded_at < as_timestamp(hi))
    minute = MinuteOf(c.recorded_at)
    values: tuple[ColumnElement[Any], ...] = (
        minute,
        func.count(),
        func.sum(c.cpu_percent),
        func.min(c.cpu_percent),
        func.max(c.cpu_percent),
        func.max(c.max_core_percent),
        func.min(c.recorded_at),
    )
    return select(*(v.label(n) for v, n in zip(values, _MINUTE_COLUMNS, strict=True))).where(*where).group_by(minute)


def series_from_minutes(
    run_id: uuid.UUID, grid: MinuteGrid, start: dt.datetime | None, end: dt.datetime | None
) -> Select[Any]:
    """Per series bucket, in order: index, first sample time, count, min, sum, max, hottest core."""
    rows = _minutes(run_id, start, end).subquery("minutes")
    index = BucketIndex((rows.c.minute - literal(grid.base)) / literal(grid.minutes), grid.points - 1).label("bucket")
    m = rows.c
    columns: list[ColumnElement[Any]] = [
        index,
        func.min(m.first_at),
        func.sum(m.sample_count),
        func.min(m.cpu_min),
        func.sum(m.cpu_sum),
    ]
    return select(*columns, func.max(m.cpu_max), func.max(m.max_core_percent)).group_by(index).order_by(index)


def samples_bucketed(index: ColumnElement[int], where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """Raw samples grouped by `index`: the same columns as `series_from_minutes`."""
    c = CpuUsage
    bucket = index.label("bucket")
    columns: list[ColumnElement[Any]] = [bucket, func.min(c.recorded_at), func.count(), func.min(c.cpu_percent)]
    aggregates = (func.sum(c.cpu_percent), func.max(c.cpu_percent), func.max(c.max_core_percent))
    return select(*columns, *aggregates).where(*where).group_by(bucket).order_by(bucket)
