"""Running figures of a run, kept as samples are taken, for the live display and the report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cpumon.sample import Sample

_ONE_SECOND_US = 1_000_000


@dataclass
class RunStats:
    """Count, average, min, max and time above threshold of the samples taken so far.

    Time above threshold follows the server's rule, so the local report and the API's
    summary agree: over the samples in time order, each sample above the threshold adds
    the time since the previous sample; the first sample adds nothing. Kept in whole
    microseconds, as the database stores the timestamps, so no float error builds up.
    """

    threshold: float
    count: int = 0
    total_percent: float = 0.0
    min_percent: float | None = None
    max_percent: float | None = None
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    last_percent: float | None = None
    above_us: int = 0

    def add(self, sample: Sample) -> None:
        pct = sample.cpu_percent
        if self.last_at is not None and pct > self.threshold:
            self.above_us += _micros(sample.recorded_at - self.last_at)
        if self.first_at is None:
            self.first_at = sample.recorded_at
        self.count += 1
        self.total_percent += pct
        self.min_percent = pct if self.min_percent is None else min(self.min_percent, pct)
        self.max_percent = pct if self.max_percent is None else max(self.max_percent, pct)
        self.last_at = sample.recorded_at
        self.last_percent = pct

    @property
    def avg_percent(self) -> float | None:
        return self.total_percent / self.count if self.count else None

    @property
    def time_above_s(self) -> float:
        return self.above_us / _ONE_SECOND_US


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _ONE_SECOND_US + delta.microseconds
