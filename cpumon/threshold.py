"""Threshold crossings: when usage goes above the threshold and when it comes back."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from cpumon.sample import Sample


class Direction(enum.Enum):
    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True)
class Crossing:
    direction: Direction
    cpu_percent: float
    at: dt.datetime
    alert_number: int  # for ABOVE: 1 for the first alert of the run; for BELOW: the alert that ended
    above_for: dt.timedelta | None = None  # for BELOW: how long usage stayed above


class ThresholdOn(enum.StrEnum):
    """Which figure the threshold watches."""

    TOTAL = "total"  # all cores together
    CORE = "core"  # the busiest core: a single-threaded bottleneck shows here, not in the total


def watched_percent(sample: Sample, on: ThresholdOn) -> float:
    """The figure of `sample` the threshold applies to (the total when the core figure is missing)."""
    if on is ThresholdOn.CORE and sample.max_core_percent is not None:
        return sample.max_core_percent
    return sample.cpu_percent


class ThresholdTracker:
    """Feeds on samples in order; `above` means strictly greater, as the server counts it.

    With a hysteresis of H points, an alert ends only when usage is at or below threshold - H: a
    reading that hovers around the threshold gives one alert, not one per sample.
    """

    def __init__(self, threshold: float, *, hysteresis: float = 0.0) -> None:
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.alerts = 0
        self.above = False
        self._above_since: dt.datetime | None = None

    def observe(self, cpu_percent: float, at: dt.datetime) -> Crossing | None:
        limit = self.threshold - self.hysteresis if self.above else self.threshold
        above = cpu_percent > limit
        if above == self.above:
            return None
        self.above = above
        if above:
            self.alerts += 1
            self._above_since = at
            return Crossing(Direction.ABOVE, cpu_percent, at, self.alerts)
        since, self._above_since = self._above_since, None
        return Crossing(Direction.BELOW, cpu_percent, at, self.alerts, at - since if since else None)
