"""Request and response bodies of the runs routes. msgspec validates them before a handler runs.

A sample's, a summary's and a series point's fields are the contract's (cpumon.wire): the answers are
its dataclasses, and the upload body SampleIn and the run's answer RunRead are derived from it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import msgspec

from cpumon import wire
from cpumon.wire import (
    HOSTNAME_MAX,
    MAX_BATCH,
    NAME_MAX,
    UPLOAD_FIELDS,
    UPLOAD_REQUIRED,
    RunSummary,
    SampleRead,
    SeriesPoint,
    field_types,
)
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


def _run_fields() -> list[tuple[str, Any]]:
    """RunRead's fields, from the contract (cpumon.wire.RunRead): its id typed as the UUID it is, so the
    OpenAPI document says `format: uuid` (the agent-only install reads it as text)."""
    return [(name, uuid.UUID if name == "id" else hint) for name, hint in get_type_hints(wire.RunRead).items()]


if TYPE_CHECKING:
    RunRead = msgspec.Struct  # its fields are read by name (run_fields)
else:
    RunRead = msgspec.defstruct("RunRead", _run_fields(), module=__name__)


class RunDetail(RunRead):
    summary: RunSummary


class RunListItem(RunRead):
    summary: RunSummary | None = None  # present with ?summary=true


class RunPage(msgspec.Struct):
    items: list[RunListItem]
    total: int
    limit: int
    offset: int


def _upload_fields() -> list[tuple[str, Any, Any]]:
    """SampleIn's fields, from the contract (cpumon.wire.SampleRead), validated by their type."""
    validated: dict[type, Any] = {float: Percent, int: Seq, dt.datetime: AwareDatetime}
    types = field_types(SampleRead)
    return [
        (name, validated[types[name]], msgspec.NODEFAULT)
        if name in UPLOAD_REQUIRED
        else (name, validated[types[name]] | None, None)
        for name in UPLOAD_FIELDS
    ]


if TYPE_CHECKING:
    SampleIn = msgspec.Struct  # its fields are read by name (UPLOAD_FIELDS), in their order
else:
    #: One uploaded sample. Keyword-only, so its fields keep the contract's order (the ingest row's).
    SampleIn = msgspec.defstruct(
        "SampleIn", _upload_fields(), kw_only=True, forbid_unknown_fields=True, module=__name__
    )

SampleBatch = Annotated[list[SampleIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class IngestResult(msgspec.Struct):
    inserted: int
    duplicates: int


class SamplePage(msgspec.Struct):
    items: list[SampleRead]
    next_cursor: str | None


class Series(msgspec.Struct):
    items: list[SeriesPoint]


def run_fields(run: TestRun) -> dict[str, Any]:
    """The RunRead fields of a stored run (RunDetail and RunListItem add theirs)."""
    return {name: getattr(run, name) for name in RunRead.__struct_fields__}
