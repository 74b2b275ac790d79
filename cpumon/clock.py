"""Time for the agent: a monotonic clock for scheduling, and UTC stamps derived from it.

Sample timestamps are the wall time at start plus the monotonic time elapsed since. So an
NTP step or a manual clock change during a run cannot make timestamps go backwards or
jump: the intervals between samples (which the time-above-threshold figure adds up) stay
true, and the server orders the samples exactly as they were taken.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RunClock:
    """UTC timestamps anchored on one wall-clock reading, advanced by a monotonic clock."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _anchor_mono: float = field(init=False)
    _anchor_utc: dt.datetime = field(init=False)

    def __post_init__(self) -> None:
        self._anchor_mono = self.monotonic()
        self._anchor_utc = dt.datetime.fromtimestamp(self.wall(), tz=dt.UTC)

    def utc_at(self, mono: float) -> dt.datetime:
        """The UTC time of a monotonic reading, rounded to whole microseconds."""
        micros = round((mono - self._anchor_mono) * 1_000_000)
        return self._anchor_utc + dt.timedelta(microseconds=micros)

    def now(self) -> float:
        return self.monotonic()

    def utc_now(self) -> dt.datetime:
        return self.utc_at(self.monotonic())
