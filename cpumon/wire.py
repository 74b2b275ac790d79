"""The wire contract between the API server and its clients: limits and types both sides must agree on.

Dependency-free, so the agent-only install carries it too. The server validates with these numbers
(`cpumon_backend.runs`, `cpumon_backend.auth`), and the agent and review commands size their requests with the same
ones: a batch the agent builds is never refused for its size, a name it sends is never too long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from types import NoneType
from typing import Any, Final, TypeVar, get_args, get_type_hints

#: Samples in one ingest request (one sample or a list of at most this many); also the largest page of samples.
MAX_BATCH: Final = 10_000
T = TypeVar("T")

#: Characters in a run's name.
NAME_MAX: Final = 200
#: Characters in a run's host name.
HOSTNAME_MAX: Final = 255
#: Characters in a username.
USERNAME_MAX: Final = 64
#: Runs in one page of `GET /api/test-runs`.
RUNS_PAGE_MAX: Final = 500
#: Points in one `series` answer.
SERIES_POINTS_MAX: Final = 10_000
#: Characters in an event's text (`POST /api/test-runs/{id}/events`); utf8mb4 stores each in at most 4 bytes.
EVENT_TEXT_MAX: Final = 500
#: Characters in an event's kind: one short word (letters, digits, `_`, `-`, `.`).
EVENT_KIND_MAX: Final = 32
#: `$(?!\n)`: Python's `$` also matches before a final newline, JSON Schema's (ECMA-262) only at the end.
EVENT_KIND_PATTERN: Final = r"^[A-Za-z0-9_.-]+$(?!\n)"
#: The kind of an event sent without one.
EVENT_KIND_DEFAULT: Final = "note"
#: Events one run keeps; the next is refused (409), so a runaway script cannot fill the database.
EVENTS_PER_RUN_MAX: Final = 1_000

#: Where the API lives under its base URL. The server mounts its routes on these, the clients call them.
API_PREFIX: Final = "/api"
AUTH_PATH: Final = f"{API_PREFIX}/auth"
RUNS_PATH: Final = f"{API_PREFIX}/test-runs"
#: A run's events, under its path: `{RUNS_PATH}/{run_id}{EVENTS_SUFFIX}`.
EVENTS_SUFFIX: Final = "/events"
#: Routes below AUTH_PATH.
LOGIN_ROUTE: Final = "/login"
LOGOUT_ROUTE: Final = "/logout"
ME_ROUTE: Final = "/me"
LOGIN_PATH: Final = AUTH_PATH + LOGIN_ROUTE
LOGOUT_PATH: Final = AUTH_PATH + LOGOUT_ROUTE
ME_PATH: Final = AUTH_PATH + ME_ROUTE
#: Routes below RUNS_PATH: one run, its samples (POST: upload, GET: a page), their series, CSV and
#: live feed, its finish.
RUN_ROUTE: Final = "/{run_id}"
SAMPLES_ROUTE: Final = f"{RUN_ROUTE}/cpu-usage"
SERIES_ROUTE: Final = f"{SAMPLES_ROUTE}/series"
CSV_ROUTE: Final = f"{SAMPLES_ROUTE}.csv"
LIVE_ROUTE: Final = f"{RUN_ROUTE}/live"
FINISH_ROUTE: Final = f"{RUN_ROUTE}/finish"


def run_path(route: str, run_id: str) -> str:
    """The path of one run's route: `run_path(SERIES_ROUTE, id)` is /api/test-runs/<id>/cpu-usage/series."""
    return RUNS_PATH + route.format(run_id=run_id)


@dataclass(frozen=True, slots=True)
class SampleRead:
    """One stored sample as the API answers it: THE definition of a sample's fields, in their order.

    Everything else is derived from it: the upload body the server validates (SampleIn), the
    ingest's JSON rows and their SQL columns, the agent's upload and spool rows, the CSV's header.
    The fields with a default are the optional figures that older clients do not send.
    """

    id: int  # given by the server
    seq: int | None  # the client's number of the sample: a (run, seq) already stored is skipped
    recorded_at: dt.datetime
    cpu_percent: float  # all cores together, 0-100
    # Shares of total CPU time over the interval, and the busiest core: null when the client sent none.
    user_percent: float | None = None
    system_percent: float | None = None
    iowait_percent: float | None = None
    steal_percent: float | None = None
    max_core_percent: float | None = None


#: The sample's fields in order: a page of samples, the CSV's header.
SAMPLE_FIELDS: Final = tuple(f.name for f in fields(SampleRead))
#: What a client sends of a sample (all but the server's id), in order: the ingest row, the spool row.
UPLOAD_FIELDS: Final = tuple(name for name in SAMPLE_FIELDS if name != "id")
#: The optional figures beside cpu_percent.
BREAKDOWN_FIELDS: Final = tuple(f.name for f in fields(SampleRead) if f.default is not MISSING)
#: A sample's percentages: the total, then the breakdown.
PERCENT_FIELDS: Final = ("cpu_percent", *BREAKDOWN_FIELDS)
#: What an upload must carry; the server fills the rest (recorded_at: the time the sample arrived).
UPLOAD_REQUIRED: Final = ("cpu_percent",)


def field_types(cls: type) -> dict[str, type]:
    """Each field of a contract dataclass with its type, None left out (`int | None` gives int)."""
    return {name: _without_none(hint) for name, hint in get_type_hints(cls).items()}


def _without_none(hint: Any) -> type:
    kept = [arg for arg in get_args(hint) if arg is not NoneType] or [hint]
    if len(kept) != 1 or not isinstance(kept[0], type):
        raise TypeError(f"a contract field is one type, or one type or None: not {hint!r}")
    return kept[0]


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One time bucket of a run's series (GET .../cpu-usage/series): its samples' count, min, average, max."""

    start: dt.datetime
    count: int
    min_percent: float
    avg_percent: float
    max_percent: float
    max_core_percent: float | None = None  # the hottest core in the bucket, when the samples carry it

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SeriesPoint:
        return decode(cls, body)


@dataclass(frozen=True)
class RunRead:
    """A run as the API answers it: THE definition of a run's fields, in their order.

    The server's answers (cpumon_backend.runs.schemas.RunRead, with the id typed as the UUID it is, for
    its OpenAPI document) and the review commands' `Run` are derived from it; clients read it with `decode`.
    """

    id: str  # a UUID, in its canonical text form
    name: str
    hostname: str  # empty when the agent did not say
    interval_s: float | None
    threshold_percent: float
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while the run records
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class RunSummary:
    """A run's summary, as the server computes it (GET /api/test-runs/{id}, ?summary=true) and clients read it.

    A stdlib dataclass: the server's msgspec encodes it and documents it in OpenAPI, and the agent-only
    install reads it with `from_json` without msgspec.
    """

    sample_count: int
    avg_percent: float | None
    min_percent: float | None
    max_percent: float | None
    first_sample_at: dt.datetime | None
    last_sample_at: dt.datetime | None
    threshold_percent: float
    time_above_threshold_s: float
    # The breakdown's averages and the hottest core's max, over the samples that carry them (null if none).
    avg_user_percent: float | None = None
    avg_system_percent: float | None = None
    avg_iowait_percent: float | None = None
    avg_steal_percent: float | None = None
    max_core_percent: float | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RunSummary:
        """The summary in a decoded JSON answer; absent optional fields are None."""
        return decode(cls, body)

    @property
    def has_breakdown(self) -> bool:
        return self.avg_user_percent is not None or self.max_core_percent is not None


def time_or_none(value: Any) -> dt.datetime | None:
    """An RFC 3339 time of the API (always UTC; a naive one is read as UTC), or None."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


_HINTS: dict[type, dict[str, Any]] = {}  # read per answer: resolved once per class


def _type_hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


_DECODERS: dict[type, Callable[[Any], Any]] = {int: int, float: float, str: str, dt.datetime: time_or_none}


def decode(cls: type[T], body: Mapping[str, Any]) -> T:
    """A contract dataclass from a decoded JSON object, each field read by its type; a field that
    may be null is None when absent. KeyError for a missing field that may not be null."""
    values: dict[str, Any] = {}
    for name, hint in _type_hints(cls).items():
        value = body.get(name) if NoneType in get_args(hint) else body[name]
        values[name] = None if value is None else _DECODERS[_without_none(hint)](value)
    return cls(**values)
