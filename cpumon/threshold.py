"""Threshold crossings: when usage goes above the threshold and when it comes back."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


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


class ThresholdTracker:
    """Feeds on samples in order; `above` means strictly greater, as the server counts it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.alerts = 0
        self.above = False
        self._above_since: dt.datetime | None = None

    def observe(self, cpu_percent: float, at: dt.datetime) -> Crossing | None:
        above = cpu_percent > self.threshold
        if above == self.above:
            return None
        self.above = above
        if above:
            self.alerts += 1
            self._above_since = at
            return Crossing(Direction.ABOVE, cpu_percent, at, self.alerts)
        since, self._above_since = self._above_since, None
        return Crossing(Direction.BELOW, cpu_percent, at, self.alerts, at - since if since else None)
