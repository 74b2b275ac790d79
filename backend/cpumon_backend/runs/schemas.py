"""Request and response bodies of the runs routes. msgspec validates them before a handler runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec

from cpumon.wire import HOSTNAME_MAX, MAX_BATCH, NAME_MAX, RunSummary
from cpumon_backend.runs.models import TestRun

MAX_SEQ = 2**63 - 1

Percent = Annotated[float, msgspec.Meta(ge=0, le=100, description="finite, 0-100")]
AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO-8601 with a UTC offset")]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ, description="the client's sample number")]
RunName = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
Hostname = Annotated[str, msgspec.Meta(max_length=HOSTNAME_MAX)]
IntervalSeconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class RunCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: RunName | None = None
    hostname: Hostname | None = None
    interval_s: IntervalSeconds | None = None
    threshold_percent: Percent = 80.0
    started_at: AwareDatetime | None = None


class RunFinish(msgspec.Struct, forbid_unknown_fields=True):
    ended_at: AwareDatetime | None = None


class RunRead(msgspec.Struct):
    id: uuid.UUID
    name: str
    hostname: str
    interval_s: float | None
    threshold_percent: float
    started_at: dt.datetime
    ended_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RunDetail(RunRead):
    summary: RunSummary


class RunListItem(RunRead):
    summary: RunSummary | None = None  # present with ?summary=true


class RunPage(msgspec.Struct):
    items: list[RunListItem]
    total: int
    limit: int
    offset: int


class SampleIn(msgspec.Struct, forbid_unknown_fields=True):
    cpu_percent: Percent
    recorded_at: AwareDatetime | None = None
    seq: Seq | None = None
    # Optional, so older clients keep working: shares of total CPU time over the interval, and the busiest core.
    user_percent: Percent | None = None
    system_percent: Percent | None = None
    iowait_percent: Percent | None = None
    steal_percent: Percent | None = None
    max_core_percent: Percent | None = None


SampleBatch = Annotated[list[SampleIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class IngestResult(msgspec.Struct):
    inserted: int
    duplicates: int


class SampleRead(msgspec.Struct):
    id: int
    seq: int | None
    recorded_at: dt.datetime
    cpu_percent: float
    user_percent: float | None = None
    system_percent: float | None = None
    iowait_percent: float | None = None
    steal_percent: float | None = None
    max_core_percent: float | None = None


class SamplePage(msgspec.Struct):
    items: list[SampleRead]
    next_cursor: str | None


class SeriesPoint(msgspec.Struct):
    start: dt.datetime
    count: int
    min_percent: float
    avg_percent: float
    max_percent: float
    max_core_percent: float | None = None  # the hottest core in the bucket, when the samples carry it


class Series(msgspec.Struct):
    items: list[SeriesPoint]


def run_fields(run: TestRun) -> dict[str, Any]:
    """The RunRead fields of a stored run (RunDetail and RunListItem add theirs)."""
    return {name: getattr(run, name) for name in RunRead.__struct_fields__}
