"""When to take samples: a fixed grid on the monotonic clock.

Tick k is due at start + k * interval, computed from k (never by adding intervals up) so
the schedule cannot drift. A tick that fires late is taken late; if it was so late that
later ticks have passed too, those are skipped rather than taken in a burst: the next
reading still measures CPU use since the previous one, so no time goes unmeasured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TickSchedule:
    start: float
    interval: float
    next_tick: int = 1  # tick 0 is the start itself, where the CPU counters are primed

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")

    def due(self, tick: int) -> float:
        return self.start + tick * self.interval

    @property
    def next_due(self) -> float:
        return self.due(self.next_tick)

    def taken(self, now: float) -> None:
        """Record that the due tick was taken at `now` and move to the next tick still ahead."""
        following = self.next_tick + 1
        if self.due(following) <= now:
            # Late by more than an interval: jump to the first tick after now.
            following = math.floor((now - self.start) / self.interval) + 1
            while self.due(following) <= now:  # guard against floating-point rounding
                following += 1
        self.next_tick = following
