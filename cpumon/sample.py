"""One CPU reading, as taken, queued, spooled and uploaded.

Its fields are the contract's upload fields (cpumon.wire.UPLOAD_FIELDS), in their order: the upload
body, the spool row and the server's ingest row follow that one order.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from cpumon.wire import BREAKDOWN_FIELDS, UPLOAD_FIELDS


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
        """The upload body: the figures this sample has (older servers know only the total)."""
        return {name: value for name, value in zip(UPLOAD_FIELDS, self.to_row(), strict=True) if value is not None}

    def to_row(self) -> list[Any]:
        """Compact form for spool files: the values in the order of UPLOAD_FIELDS."""
        return [
            getattr(self, name) if name != "recorded_at" else self.recorded_at.isoformat() for name in UPLOAD_FIELDS
        ]

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
