"""The wire contract between the API server and its clients: limits and types both sides must agree on.

Dependency-free, so the agent-only install carries it too. The server validates with these numbers
(`cpumon_backend.runs`, `cpumon_backend.auth`), and the agent and review commands size their requests with the same
ones: a batch the agent builds is never refused for its size, a name it sends is never too long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

#: Samples in one ingest request (one sample or a list of at most this many); also the largest page of samples.
MAX_BATCH: Final = 10_000
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
EVENT_KIND_PATTERN: Final = r"^[A-Za-z0-9_.-]+$"
#: The kind of an event sent without one.
EVENT_KIND_DEFAULT: Final = "note"
#: Events one run keeps; the next is refused (409), so a runaway script cannot fill the database.
EVENTS_PER_RUN_MAX: Final = 1_000

#: Where the API lives under its base URL.
API_PREFIX: Final = "/api"
RUNS_PATH: Final = f"{API_PREFIX}/test-runs"
#: A run's events, under its path: `{RUNS_PATH}/{run_id}{EVENTS_SUFFIX}`.
EVENTS_SUFFIX: Final = "/events"
LOGIN_PATH: Final = f"{API_PREFIX}/auth/login"


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
        decoded: dict[str, Any] = {
            "sample_count": int(body["sample_count"]),
            "first_sample_at": time_or_none(body.get("first_sample_at")),
            "last_sample_at": time_or_none(body.get("last_sample_at")),
            "threshold_percent": float(body["threshold_percent"]),
            "time_above_threshold_s": float(body["time_above_threshold_s"]),
        }
        # Every other field is a number or null: derived from the fields, so a new one needs no edit here.
        numbers: dict[str, Any] = {
            f.name: _number_or_none(body.get(f.name)) for f in fields(cls) if f.name not in decoded
        }
        return cls(**decoded, **numbers)

    @property
    def has_breakdown(self) -> bool:
        return self.avg_user_percent is not None or self.max_core_percent is not None


def time_or_none(value: Any) -> dt.datetime | None:
    """An RFC 3339 time of the API (always UTC; a naive one is read as UTC), or None."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _number_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
