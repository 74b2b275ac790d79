"""Running figures of a run, kept as samples are taken, for the live display and the report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cpumon.sample import Sample
from cpumon.threshold import ThresholdOn, watched_percent
from cpumon.wire import BREAKDOWN_FIELDS

_ONE_SECOND_US = 1_000_000
_AVERAGED = BREAKDOWN_FIELDS[:4]  # user, system, iowait, steal; the hottest core is a max


@dataclass
class Averager:
    """Sum, count and max of figures that may be missing (None is skipped, as SQL's AVG does)."""

    total: float = 0.0
    count: int = 0
    max: float | None = None

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.total += value
        self.count += 1
        self.max = value if self.max is None else max(self.max, value)

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class RunStats:
    """Count, average, min, max, breakdown and time above threshold of the samples taken so far.

    Time above threshold follows the server's rule, so the local report and the API's
    summary agree: over the samples in time order, each sample above the threshold adds
    the time since the previous sample; the first sample adds nothing. Kept in whole
    microseconds, as the database stores the timestamps, so no float error builds up.
    With `on` = core, the hottest core's figure is compared instead of the total.
    """

    threshold: float
    on: ThresholdOn = ThresholdOn.TOTAL
    count: int = 0
    total_percent: float = 0.0
    min_percent: float | None = None
    max_percent: float | None = None
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    above_us: int = 0
    breakdown: dict[str, Averager] = field(default_factory=lambda: {name: Averager() for name in _AVERAGED})
    hottest_core: Averager = field(default_factory=Averager)

    def add(self, sample: Sample) -> None:
        pct = sample.cpu_percent
        if self.last_at is not None and watched_percent(sample, self.on) > self.threshold:
            self.above_us += _micros(sample.recorded_at - self.last_at)
        if self.first_at is None:
            self.first_at = sample.recorded_at
        self.count += 1
        self.total_percent += pct
        self.min_percent = pct if self.min_percent is None else min(self.min_percent, pct)
        self.max_percent = pct if self.max_percent is None else max(self.max_percent, pct)
        self.last_at = sample.recorded_at
        for name, averager in self.breakdown.items():
            averager.add(getattr(sample, name))
        self.hottest_core.add(sample.max_core_percent)

    @property
    def avg_percent(self) -> float | None:
        return self.total_percent / self.count if self.count else None

    @property
    def time_above_s(self) -> float:
        return self.above_us / _ONE_SECOND_US

    def average_of(self, name: str) -> float | None:
        """The average of one breakdown figure (user_percent ...) over the samples that carry it."""
        return self.breakdown[name].average


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _ONE_SECOND_US + delta.microseconds
