"""CPU readings from psutil: the total, its breakdown and the busiest core, from one read of the counters.

psutil.cpu_times(percpu=True) gives each core's cumulative time per state; a reading is the
difference between two calls. Everything is computed from that one snapshot pair, so the
total, the breakdown and the hottest core describe exactly the same interval (separate
psutil.cpu_percent / cpu_times_percent calls would each keep their own previous snapshot).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from cpumon.sample import Sample

# Time that is not busy. Linux counts guest time inside user time as well, so it is left out of the total.
_IDLE = ("idle", "iowait")
_NOT_IN_TOTAL = ("guest", "guest_nice")
# What the breakdown groups: user-space (nice included), kernel (interrupts included), waiting for I/O, stolen.
_USER = ("user", "nice")
_SYSTEM = ("system", "irq", "softirq")


@dataclass(frozen=True)
class Reading:
    cpu_percent: float
    parts: Mapping[str, float | None] = field(default_factory=dict)  # Sample's breakdown fields by name

    def sample(self, seq: int, recorded_at: dt.datetime) -> Sample:
        return Sample(seq, recorded_at, self.cpu_percent, **self.parts)


@dataclass(frozen=True)
class _Delta:
    total: float
    busy: float
    states: dict[str, float]


def _clamp(value: float) -> float:
    # Rounding in the kernel's tick counts can give -0.0 or a hair over 100: the API takes 0-100.
    return min(100.0, max(0.0, value))


def _delta(before: Any, after: Any) -> _Delta:
    fields: tuple[str, ...] = after._fields
    states = {name: max(0.0, getattr(after, name) - getattr(before, name)) for name in fields}
    total = sum(value for name, value in states.items() if name not in _NOT_IN_TOTAL)
    busy = total - sum(states.get(name, 0.0) for name in _IDLE)
    return _Delta(total=total, busy=busy, states=states)


def _share(delta: _Delta, names: Sequence[str]) -> float | None:
    if not any(name in delta.states for name in names):
        return None  # this platform does not count that state (iowait and steal are Linux's)
    return _clamp(100.0 * sum(delta.states.get(name, 0.0) for name in names) / delta.total)


def reading_between(before: Sequence[Any], after: Sequence[Any]) -> Reading:
    """The reading for the interval between two per-core snapshots of psutil.cpu_times(percpu=True)."""
    cores = [_delta(b, a) for b, a in zip(before, after, strict=True)]
    whole = _Delta(
        total=sum(core.total for core in cores),
        busy=sum(core.busy for core in cores),
        states={name: sum(core.states[name] for core in cores) for name in (cores[0].states if cores else {})},
    )
    if whole.total <= 0:
        return Reading(0.0)  # no tick elapsed (a very short interval): nothing was measured
    hottest = max((_clamp(100.0 * c.busy / c.total) for c in cores if c.total > 0), default=None)
    parts = {
        "user_percent": _share(whole, _USER),
        "system_percent": _share(whole, _SYSTEM),
        "iowait_percent": _share(whole, ("iowait",)),
        "steal_percent": _share(whole, ("steal",)),
        "max_core_percent": hottest,
    }
    return Reading(_clamp(100.0 * whole.busy / whole.total), parts)


class CpuSampler:
    """System-wide CPU usage since the previous reading, in percent of all cores, with its breakdown.

    The first snapshot only primes the counters.
    """

    def __init__(self) -> None:
        self._last: list[Any] | None = None

    def prime(self) -> None:
        self._last = list(psutil.cpu_times(percpu=True))

    def read(self) -> Reading:
        now = list(psutil.cpu_times(percpu=True))
        before, self._last = self._last, now
        if before is None or len(before) != len(now):  # not primed, or a core went on/offline
            return Reading(0.0)
        return reading_between(before, now)
