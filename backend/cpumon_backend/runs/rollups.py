"""Roll-ups: each run's samples reduced per minute, kept exact with the ingest; the SQL that writes and reads them.

A bucket is one minute of one run (`minute` counts whole minutes since 0001-01-01 UTC, so every
time a sample may carry has a non-negative key). The ingest recomputes, from the raw samples, every
bucket in the time span of the batch it stored, in the same transaction (`REFRESH_ROLLUPS`). A
bucket depends on its own samples only: the interval of its first sample, which crosses from the
bucket before, is added by the readers from `first_above` and the previous bucket's `last_at`. So
a late sample changes its own bucket and nothing else.

Readers cut a time range [start, end] into whole buckets (read from the roll-ups) and at most two
partial minutes at its edges (read raw, with the sample before each edge for its interval); each
piece yields the same partial sums, added up in one statement (`summary_pieces`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from cpumon_backend.runs.models import CpuUsage, CpuUsageRollup, TestRun
from cpumon_backend.runs.sql import DialectFunction, MicrosecondsBetween, as_timestamp
from cpumon_backend.storage.db import UTC, UTCDateTime

#: Bucket 0 starts here; the width of every bucket.
EPOCH = dt.datetime(1, 1, 1, tzinfo=UTC)
BUCKET = dt.timedelta(minutes=1)
MICROSECOND = dt.timedelta(microseconds=1)
BUCKET_S = 60
_EPOCH_UNIX_S = 62_135_596_800  # seconds from EPOCH to 1970-01-01, which SQLite's strftime('%s') counts from

#: The breakdown figures whose sums and counts a bucket keeps (AVG skips nulls: so do the counts).
SUMMED_BREAKDOWN = ("user", "system", "iowait", "steal")


def minute_of(at: dt.datetime) -> int:
    """The bucket of a time, as `MinuteOf` computes it in SQL."""
    return (at - EPOCH) // BUCKET


def minute_start(minute: int) -> dt.datetime:
    return EPOCH + minute * BUCKET


def minute_start_or_none(minute: int) -> dt.datetime | None:
    """The start of a bucket, or None when it lies after the last representable time (9999-12-31)."""
    return minute_start(minute) if minute * BUCKET <= dt.datetime.max.replace(tzinfo=UTC) - EPOCH else None


def span_of(times: Iterable[dt.datetime]) -> tuple[dt.datetime, dt.datetime]:
    """[start of the first bucket, end of the last bucket] of `times` (a batch's): the buckets it touches."""
    minutes = [minute_of(at) for at in times]
    return minute_start(min(minutes)), minute_start(max(minutes)) + (BUCKET - MICROSECOND)


#: Raw bounds (lo, hi, hi inclusive?), either side None when open.
RawBounds = tuple[dt.datetime | None, dt.datetime | None, bool]


@dataclass(frozen=True)
class Cut:
    """A window [start, end] cut into whole buckets [first, last) and the raw pieces around them."""

    buckets: tuple[int | None, int | None] | None  # None: no whole bucket, the window is read raw
    raw: list[RawBounds]


def cut_window(start: dt.datetime | None, end: dt.datetime | None) -> Cut:
    """Whole buckets from the roll-ups, at most two partial minutes at the edges read raw.

    A window under two minutes (or ending past the last representable bucket start) is all raw.
    """
    first = None if start is None else -((EPOCH - start) // BUCKET)  # ceil
    last = None if end is None else (end - EPOCH + MICROSECOND) // BUCKET  # buckets wholly before end
    first_at = None if first is None else minute_start_or_none(first)
    last_at = None if last is None else minute_start_or_none(last)
    if (first is not None and first_at is None) or (first is not None and last is not None and first >= last):
        return Cut(None, [(start, end, True)])
    raw: list[RawBounds] = []
    if start is not None and first_at is not None and start < first_at:
        raw.append((start, first_at, False))
    if end is not None and last_at is not None and last_at <= end:
        raw.append((last_at, end, True))
    return Cut((first, last), raw)


class MinuteOf(DialectFunction[int]):
    """The bucket of a stored time: whole minutes since EPOCH (floor, exact on both databases)."""

    type = Integer()
    name = "minute_of"
    sqlite = f"((CAST(strftime('%s', substr({{0}}, 1, 19)) AS INTEGER) + {_EPOCH_UNIX_S}) / {BUCKET_S})"
    mysql = "TIMESTAMPDIFF(MINUTE, '0001-01-01 00:00:00', {0})"


# ---- the write: recompute the buckets a batch touched ------------------------------------------------


def _bucket_rows() -> Select[Any]:
    """Each bucket of run :run_id in [:lo, :hi], recomputed from its raw samples (columns of the roll-up)."""
    minute = MinuteOf(CpuUsage.recorded_at)
    order = (CpuUsage.recorded_at, CpuUsage.id)
    samples = (
        select(
            CpuUsage.test_run_id,
            minute.label("minute"),
            CpuUsage.recorded_at,
            CpuUsage.cpu_percent,
            *(getattr(CpuUsage, f"{name}_percent") for name in (*SUMMED_BREAKDOWN, "max_core")),
            func.lag(CpuUsage.recorded_at).over(partition_by=minute, order_by=order).label("previous_at"),
            func.row_number().over(partition_by=minute, order_by=order).label("place"),
        )
        .where(
            CpuUsage.test_run_id == bindparam("run_id", type_=CpuUsage.test_run_id.type),
            CpuUsage.recorded_at >= bindparam("lo", type_=UTCDateTime()),
            CpuUsage.recorded_at <= bindparam("hi", type_=UTCDateTime()),
        )
        .subquery("samples")
    )
    s = samples.c
    above = s.cpu_percent > TestRun.threshold_percent
    return (
        select(
            s.test_run_id,
            s.minute,
            func.count(),
            func.sum(s.cpu_percent),
            func.min(s.cpu_percent),
            func.max(s.cpu_percent),
            *(
                column
                for name in SUMMED_BREAKDOWN
                for column in (func.sum(s[f"{name}_percent"]), func.count(s[f"{name}_percent"]))
            ),
            func.max(s.max_core_percent),
            func.sum(
                case(
                    (and_(above, s.previous_at.is_not(None)), MicrosecondsBetween(s.recorded_at, s.previous_at)),
                    else_=0,
                )
            ),
            func.max(case((and_(above, s.place == 1), 1), else_=0)),
            func.min(s.recorded_at),
            func.max(s.recorded_at),
        )
        .select_from(samples.join(TestRun, TestRun.id == s.test_run_id))
        .where(TestRun.id == bindparam("run_id"))  # SQLite needs a WHERE before an upsert's ON CONFLICT
        .group_by(s.test_run_id, s.minute, TestRun.threshold_percent)
    )


ROLLUP_KEY = ("test_run_id", "minute")
ROLLUP_COLUMNS = tuple(column.name for column in CpuUsageRollup.__table__.columns)


def _refresh(insert: Any) -> Insert:
    statement = insert(CpuUsageRollup.__table__).from_select(ROLLUP_COLUMNS, _bucket_rows())
    figures = [name for name in ROLLUP_COLUMNS if name not in ROLLUP_KEY]
    if insert is sqlite.insert:
        return statement.on_conflict_do_update(  # type: ignore[no-any-return]
            index_elements=ROLLUP_KEY, set_={name: statement.excluded[name] for name in figures}
        )
    return statement.on_duplicate_key_update({name: statement.inserted[name] for name in figures})  # type: ignore[no-any-return]


#: Per dialect name: upsert every bucket of run :run_id in [:lo, :hi] from its samples. Compiled once each.
REFRESH_ROLLUPS: dict[str, Insert] = {"sqlite": _refresh(sqlite.insert), "mysql": _refresh(mysql.insert)}


async def refresh_rollups(connection: AsyncConnection, run_id: uuid.UUID, times: Iterable[dt.datetime]) -> None:
    """Recompute, in the caller's transaction, every bucket of the run in the span of `times` (a batch's)."""
    lo, hi = span_of(times)
    await connection.execute(REFRESH_ROLLUPS[connection.dialect.name], {"run_id": run_id, "lo": lo, "hi": hi})


# ---- the reads: partial sums over pieces of a time range -----------------------------------------------

#: The columns every piece yields, summed (or min/max-ed) across pieces by `summed`.
PIECE_COLUMNS = (
    "test_run_id",
    "sample_count",
    "cpu_sum",
    "cpu_min",
    "cpu_max",
    "first_at",
    "last_at",
    "above_us",
    *(f"{name}_{part}" for name in SUMMED_BREAKDOWN for part in ("sum", "count")),
    "max_core_percent",
)


def rollup_piece(
    run_ids: list[uuid.UUID], minutes: tuple[int | None, int | None], cut: dt.datetime | None
) -> list[Select[Any]]:
    """Partial sums of whole buckets [minutes[0], minutes[1]) of each run (either bound open).

    The interval of a bucket's first sample crosses from the previous bucket's last sample. Within
    the range LAG finds it; for the range's first bucket it comes from the raw samples before it,
    counted from `cut` (the window's start) when it began earlier: a second piece.
    """
    r = CpuUsageRollup
    bounds: list[ColumnElement[bool]] = [r.test_run_id.in_(run_ids)]
    if minutes[0] is not None:
        bounds.append(r.minute >= minutes[0])
    if minutes[1] is not None:
        bounds.append(r.minute < minutes[1])
    lagged = (
        select(
            *(getattr(r, name) for name in ROLLUP_COLUMNS),
            func.lag(r.last_at).over(partition_by=r.test_run_id, order_by=r.minute).label("previous_at"),
        )
        .where(*bounds)
        .subquery("buckets")
    )
    b = lagged.c
    crossing = case(
        (and_(b.first_above, b.previous_at.is_not(None)), MicrosecondsBetween(b.first_at, b.previous_at)), else_=0
    )
    pieces = [
        _piece(
            b.test_run_id,
            func.sum(b.sample_count),
            func.sum(b.cpu_sum),
            func.min(b.cpu_min),
            func.max(b.cpu_max),
            func.min(b.first_at),
            func.max(b.last_at),
            func.sum(b.above_us + crossing),
            *(func.sum(b[f"{name}_{part}"]) for name in SUMMED_BREAKDOWN for part in ("sum", "count")),
            func.max(b.max_core_percent),
        ).group_by(b.test_run_id)
    ]
    if cut is not None and minutes[0] is not None:
        pieces.append(_first_bucket_crossing(run_ids[0], (minutes[0], minutes[1]), cut))
    return pieces


def _first_bucket_crossing(run_id: uuid.UUID, minutes: tuple[int, int | None], cut: dt.datetime) -> Select[Any]:
    r = CpuUsageRollup
    in_range: list[ColumnElement[bool]] = [r.test_run_id == run_id, r.minute >= minutes[0]]
    if minutes[1] is not None:
        in_range.append(r.minute < minutes[1])
    first = select(r.first_at, r.first_above).where(*in_range).order_by(r.minute).limit(1).subquery("first_bucket")
    before = (
        select(func.max(CpuUsage.recorded_at))
        .where(CpuUsage.test_run_id == run_id, CpuUsage.recorded_at < as_timestamp(minute_start(minutes[0])))
        .scalar_subquery()
    )
    start = as_timestamp(cut)
    since = case((before < start, start), else_=before)
    crossing = case(
        (and_(first.c.first_above, before.is_not(None)), MicrosecondsBetween(first.c.first_at, since)), else_=0
    )
    return _nothing_but(run_id, crossing).select_from(first)


def _nothing_but(run_id: uuid.UUID, above_us: ColumnElement[Any]) -> Select[Any]:
    """A piece holding only time above the threshold."""
    zeros = (null(), literal(0)) * len(SUMMED_BREAKDOWN)  # (sum, count) of each breakdown figure
    return _piece(
        literal(run_id, CpuUsage.test_run_id.type), literal(0), literal(0.0), null(), null(), null(), null(),
        above_us, *zeros, null(),
    )  # fmt: skip


def raw_piece(
    run_id: uuid.UUID,
    bounds: RawBounds,
    cut: dt.datetime | None,
    threshold: float,
) -> Select[Any]:
    """Partial sums of the raw samples of a run in [lo, hi) (or [lo, hi] when bounds[2]), either side open.

    The sample just before `lo` travels along, only to give the first sample its interval; an
    interval that began before `cut` (the window's start) counts from `cut`.
    """
    lo, hi, hi_inclusive = bounds
    c = CpuUsage
    columns = (
        c.recorded_at,
        c.id,
        c.cpu_percent,
        *(getattr(c, f"{name}_percent") for name in (*SUMMED_BREAKDOWN, "max_core")),
    )
    where: list[ColumnElement[bool]] = [c.test_run_id == run_id]
    if lo is not None:
        where.append(c.recorded_at >= as_timestamp(lo))
    if hi is not None:
        where.append(c.recorded_at <= as_timestamp(hi) if hi_inclusive else c.recorded_at < as_timestamp(hi))
    parts = [select(*columns, literal(1).label("inside")).where(*where)]
    if lo is not None:
        # The sample(s) at the last time before `lo`: MAX over the index is one seek, where ORDER BY ...
        # DESC LIMIT 1 made MariaDB walk the run backwards from its end.
        latest_before = (
            select(func.max(c.recorded_at))
            .where(c.test_run_id == run_id, c.recorded_at < as_timestamp(lo))
            .scalar_subquery()
        )
        parts.append(select(*columns, literal(0)).where(c.test_run_id == run_id, c.recorded_at == latest_before))
    both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("both")
    lagged = select(
        *both.c, func.lag(both.c.recorded_at).over(order_by=(both.c.recorded_at, both.c.id)).label("previous_at")
    ).subquery("lagged")
    s = lagged.c
    since: ColumnElement[Any] = s.previous_at
    if cut is not None:
        start = as_timestamp(cut)
        since = case((s.previous_at < start, start), else_=s.previous_at)
    above = case(
        (and_(s.cpu_percent > threshold, s.previous_at.is_not(None)), MicrosecondsBetween(s.recorded_at, since)),
        else_=0,
    )
    return _piece(
        literal(run_id, c.test_run_id.type),
        func.count(),
        func.coalesce(func.sum(s.cpu_percent), 0.0),
        func.min(s.cpu_percent),
        func.max(s.cpu_percent),
        func.min(s.recorded_at),
        func.max(s.recorded_at),
        func.coalesce(func.sum(above), 0),
        *(
            column
            for name in SUMMED_BREAKDOWN
            for column in (func.sum(s[f"{name}_percent"]), func.count(s[f"{name}_percent"]))
        ),
        func.max(s.max_core_percent),
    ).where(s.inside == 1)


def _piece(*values: Any) -> Select[Any]:
    """A SELECT of one piece's values, labelled as PIECE_COLUMNS (UNION ALL matches them by place)."""
    return select(*(value.label(name) for value, name in zip(values, PIECE_COLUMNS, strict=True)))


def summed(pieces: list[Select[Any]]) -> Select[Any]:
    """The pieces' partial sums added up per run, in the order of PIECE_COLUMNS."""
    united = (union_all(*pieces) if len(pieces) > 1 else pieces[0]).subquery("pieces")
    u = united.c
    added = {
        "sample_count",
        "cpu_sum",
        "above_us",
        *(f"{n}_{part}" for n in SUMMED_BREAKDOWN for part in ("sum", "count")),
    }
    lowest = {"cpu_min", "first_at"}
    reduced = [
        func.sum(u[name]) if name in added else func.min(u[name]) if name in lowest else func.max(u[name])
        for name in PIECE_COLUMNS[1:]
    ]
    return select(u.test_run_id, *reduced).group_by(u.test_run_id)
