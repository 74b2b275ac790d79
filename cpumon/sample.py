"""One CPU reading, as taken, queued, spooled and uploaded."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

# The optional figures beside the total, in the order of the API, the spool rows and the CSV.
BREAKDOWN_FIELDS = ("user_percent", "system_percent", "iowait_percent", "steal_percent", "max_core_percent")


@dataclass(frozen=True, slots=True)
class Sample:
    seq: int  # 0, 1, 2 ... per run: the server skips a (run, seq) it already has, so retries are safe
    recorded_at: dt.datetime  # aware, UTC, whole microseconds (what the database keeps)
    cpu_percent: float
    user_percent: float | None = None
    system_percent: float | None = None
    iowait_percent: float | None = None
    steal_percent: float | None = None
    max_core_percent: float | None = None  # the busiest core

    @property
    def breakdown(self) -> tuple[float | None, ...]:
        return tuple(getattr(self, name) for name in BREAKDOWN_FIELDS)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "seq": self.seq,
            "recorded_at": self.recorded_at.isoformat(),
            "cpu_percent": self.cpu_percent,
        }
        body.update(
            (name, value) for name, value in zip(BREAKDOWN_FIELDS, self.breakdown, strict=True) if value is not None
        )
        return body

    def to_row(self) -> list[Any]:
        """Compact form for spool files."""
        return [self.seq, self.recorded_at.isoformat(), self.cpu_percent, *self.breakdown]

    @classmethod
    def from_row(cls, row: Any) -> Sample:
        """Inverse of to_row; ValueError for anything that is not a well-formed row.

        Rows of 3 (spooled by a cpumon before the breakdown) are read too.
        """
        if not isinstance(row, list) or len(row) not in (3, 3 + len(BREAKDOWN_FIELDS)):
            raise ValueError("a sample must be [seq, recorded_at, cpu_percent, breakdown...]")
        seq, recorded_at, cpu_percent, *breakdown = row
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"bad seq {seq!r}")
        if not isinstance(recorded_at, str):
            raise ValueError(f"bad recorded_at {recorded_at!r}")
        when = dt.datetime.fromisoformat(recorded_at)
        if when.tzinfo is None:
            raise ValueError(f"recorded_at {recorded_at!r} has no time zone")
        extra = {name: _percent_or_none(name, value) for name, value in zip(BREAKDOWN_FIELDS, breakdown, strict=False)}
        total = _percent_or_none("cpu_percent", cpu_percent)
        if total is None:
            raise ValueError("bad cpu_percent None")
        return cls(seq=seq, recorded_at=when.astimezone(dt.UTC), cpu_percent=total, **extra)


def _percent_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"bad {name} {value!r}")
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"{name} {value!r} out of 0-100")
    return float(value)
