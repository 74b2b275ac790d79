"""Pure logic of the plugin's timeline: Locust's counters at each tick become intervals of load, each
later given the CPU every monitored host spent in it.

No I/O and no Locust import: the plugin (cpumon/locust/timeline.py) reads Locust's stats and the API.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Length of one interval: as often as Locust's own charts take a point.
INTERVAL_S = 5.0
#: The shortest interval: the agents' samples (0.1 s and up) must fall in every one.
MIN_INTERVAL_S = 0.5
#: Intervals kept; past this, neighbours are merged in pairs (a 1-hour test keeps 5 s intervals).
MAX_INTERVALS = 720
P95 = 0.95


@dataclass(frozen=True)
class LoadSnapshot:
    """Locust's running totals at one moment."""

    at: dt.datetime
    requests: int
    response_times: Mapping[int, int]  # Locust's histogram: rounded milliseconds -> requests, since the start
    users: int


@dataclass(frozen=True)
class CpuShare:
    """A host's CPU over one interval: the average of the samples its runs recorded in it."""

    avg_percent: float
    samples: int


@dataclass(frozen=True)
class LoadInterval:
    start: dt.datetime
    end: dt.datetime
    requests: int
    p95_ms: float | None
    users: int
    cpu: Mapping[str, CpuShare | None] = field(default_factory=dict)  # host -> CPU (None: no sample in it)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def has_cpu(self, hosts: Sequence[str]) -> bool:
        return all(host in self.cpu for host in hosts)


def percentile(histogram: Mapping[int, int], fraction: float) -> int | None:
    """The response time that `fraction` of the requests finished within (Locust's own rule), or None."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    wanted = int(total * fraction)
    done = 0
    for response_time in sorted(histogram, reverse=True):
        done += histogram[response_time]
        if total - done <= wanted:
            return response_time
    return 0


def between(earlier: LoadSnapshot, later: LoadSnapshot) -> LoadInterval:
    """The load from `earlier` to `later`: requests made and their 95th percentile, from the counters' difference."""
    added = {
        ms: count - earlier.response_times.get(ms, 0)
        for ms, count in later.response_times.items()
        if count > earlier.response_times.get(ms, 0)
    }
    p95 = percentile(added, P95)
    return LoadInterval(
        start=earlier.at,
        end=later.at,
        requests=max(0, later.requests - earlier.requests),
        p95_ms=None if p95 is None else float(p95),
        users=later.users,
    )


def interval_due(elapsed_s: float, interval_s: float, *, final: bool) -> bool:
    """Whether the interval open for `elapsed_s` closes now: when it is full; at the end of the test, when it is
    at least half full (a shorter tail's rate is mostly noise: it is left out)."""
    return elapsed_s >= interval_s or (final and elapsed_s >= interval_s / 2)


def merged(first: LoadInterval, second: LoadInterval) -> LoadInterval:
    """Two neighbours as one: requests add up, CPU weighted by samples, p95 the larger (a bound, not a percentile)."""
    hosts = set(first.cpu) & set(second.cpu)
    p95s = [p for p in (first.p95_ms, second.p95_ms) if p is not None]
    return LoadInterval(
        start=first.start,
        end=second.end,
        requests=first.requests + second.requests,
        p95_ms=max(p95s) if p95s else None,
        users=second.users,
        cpu={host: _weighted(first.cpu[host], second.cpu[host]) for host in hosts},
    )


def _weighted(a: CpuShare | None, b: CpuShare | None) -> CpuShare | None:
    shares = [s for s in (a, b) if s is not None and s.samples > 0]
    samples = sum(s.samples for s in shares)
    if not samples:
        return None
    return CpuShare(sum(s.avg_percent * s.samples for s in shares) / samples, samples)


def bounded(intervals: list[LoadInterval], limit: int = MAX_INTERVALS) -> list[LoadInterval]:
    """`intervals` with pairs merged until at most `limit` remain (those waiting for CPU are kept as they are)."""
    while len(intervals) > limit:
        done = [i for i in intervals if i.cpu]
        waiting = intervals[len(done) :]
        if len(done) < 2:
            return intervals
        pairs = [merged(done[k], done[k + 1]) for k in range(0, len(done) - 1, 2)]
        intervals = pairs + done[len(pairs) * 2 :] + waiting
    return intervals


def with_cpu(interval: LoadInterval, cpu: Mapping[str, CpuShare | None]) -> LoadInterval:
    return dataclasses.replace(interval, cpu={**interval.cpu, **cpu})


def combine_shares(shares: Sequence[tuple[float | None, int]]) -> CpuShare | None:
    """One host's CPU in an interval from each of its runs' (average, samples) there."""
    counted = [(avg, n) for avg, n in shares if avg is not None and n > 0]
    samples = sum(n for _, n in counted)
    return CpuShare(sum(avg * n for avg, n in counted) / samples, samples) if samples else None
