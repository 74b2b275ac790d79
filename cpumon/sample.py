"""One CPU reading, as taken, queued, spooled and uploaded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    seq: int  # 0, 1, 2 ... per run: the server skips a (run, seq) it already has, so retries are safe
    recorded_at: dt.datetime  # aware, UTC, whole microseconds (what the database keeps)
    cpu_percent: float

    def to_api(self) -> dict[str, Any]:
        return {"seq": self.seq, "recorded_at": self.recorded_at.isoformat(), "cpu_percent": self.cpu_percent}

    def to_row(self) -> list[Any]:
        """Compact form for spool files."""
        return [self.seq, self.recorded_at.isoformat(), self.cpu_percent]

    @classmethod
    def from_row(cls, row: Any) -> Sample:
        """Inverse of to_row; ValueError for anything that is not a well-formed row."""
        if not isinstance(row, list) or len(row) != 3:
            raise ValueError("a sample must be [seq, recorded_at, cpu_percent]")
        seq, recorded_at, cpu_percent = row
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"bad seq {seq!r}")
        if not isinstance(cpu_percent, int | float) or isinstance(cpu_percent, bool):
            raise ValueError(f"bad cpu_percent {cpu_percent!r}")
        if not 0.0 <= cpu_percent <= 100.0:
            raise ValueError(f"cpu_percent {cpu_percent!r} out of 0-100")
        if not isinstance(recorded_at, str):
            raise ValueError(f"bad recorded_at {recorded_at!r}")
        when = dt.datetime.fromisoformat(recorded_at)
        if when.tzinfo is None:
            raise ValueError(f"recorded_at {recorded_at!r} has no time zone")
        return cls(seq=seq, recorded_at=when.astimezone(dt.UTC), cpu_percent=float(cpu_percent))
