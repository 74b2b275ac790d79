"""The plugin's timeline: Locust's load every INTERVAL_S while a test runs, and each interval's CPU per
host from the API (the window summary of each of the host's runs over that interval).

Bounded: at most MAX_INTERVALS intervals (cpumon/locust_load.py merges pairs beyond), and at most
MAX_FILLS_PER_POLL summaries asked per poll, so a poll after an outage does not flood the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cpumon.locust.client import MAX_RUNS, CpumonApi
from cpumon.locust_load import (
    INTERVAL_S,
    CpuShare,
    LoadInterval,
    LoadSnapshot,
    between,
    bounded,
    combine_shares,
    interval_due,
    with_cpu,
)
from cpumon.wire import RUNS_PATH, time_or_none

MAX_FILLS_PER_POLL = 60


@dataclass(frozen=True)
class RunRef:
    """One run of a monitored host, as listed with its (whole-run) summary."""

    id: str
    hostname: str
    interval_s: float
    last_sample_at: dt.datetime | None
    running: bool

    def covers(self, end: dt.datetime) -> bool:
        """True when the run has stored its samples up to `end` (or will store no more)."""
        if not self.running:
            return True
        return self.last_sample_at is not None and self.last_sample_at >= end - dt.timedelta(seconds=self.interval_s)


def runs_of(api: CpumonApi, hosts: Sequence[str] | None, start: dt.datetime, end: dt.datetime) -> list[RunRef]:
    """The caller's runs on `hosts` (all hosts when None) active in [start, end]."""
    params: dict[str, Any] = {
        "active_from": start.isoformat(),
        "active_to": end.isoformat(),
        "limit": MAX_RUNS,
        "summary": "true",
    }
    if hosts:
        params["host"] = ",".join(hosts)
    return [
        RunRef(
            id=str(item["id"]),
            hostname=str(item["hostname"]),
            interval_s=float(item.get("interval_s") or 1.0),
            last_sample_at=time_or_none(item["summary"]["last_sample_at"]),
            running=item.get("ended_at") is None,
        )
        for item in api.get(RUNS_PATH, params)["items"]
    ]


def running_ids(api: CpumonApi, hosts: Sequence[str] | None, at: dt.datetime) -> list[str]:
    """The runs of `hosts` recording at `at`: where the load's events go."""
    return [run.id for run in runs_of(api, hosts, at, at) if run.running]


def summary_share(api: CpumonApi, run: RunRef, start: dt.datetime, end: dt.datetime) -> tuple[float | None, int]:
    """(average CPU, samples) of the run's samples recorded from `start` to `end` (the API's window summary)."""
    summary = api.get(f"{RUNS_PATH}/{run.id}", {"from": start.isoformat(), "to": end.isoformat()})["summary"]
    avg = summary["avg_percent"]
    return (None if avg is None else float(avg)), int(summary["sample_count"])


class Timeline:
    """The test's intervals of load, each given its hosts' CPU once their agents have uploaded it."""

    def __init__(self, snapshot: Callable[[], LoadSnapshot], interval_s: float = INTERVAL_S) -> None:
        self.snapshot = snapshot
        self.interval_s = interval_s
        self.intervals: list[LoadInterval] = []
        self.last: LoadSnapshot | None = None

    def start(self) -> None:
        self.intervals, self.last = [], self.snapshot()

    def tick(self, *, final: bool = False) -> None:
        """Close the current interval when it is due; at the end of the test, the rest if it is at least half
        an interval (a shorter tail's rate is mostly noise: it is left out)."""
        if self.last is None:
            return
        now = self.snapshot()
        elapsed = (now.at - self.last.at).total_seconds()
        if interval_due(elapsed, self.interval_s, final=final):
            self.intervals = bounded([*self.intervals, between(self.last, now)])
            self.last = now
        if final:
            self.last = None

    def fill(self, api: CpumonApi, runs: Sequence[RunRef], *, final: bool = False) -> None:
        """Ask the CPU of each interval and host not known yet, once the host's runs have stored it.

        Found figures are applied by the intervals' bounds: a tick during the requests may have merged some.
        """
        found: dict[tuple[dt.datetime, dt.datetime], dict[str, CpuShare | None]] = {}
        asked = 0
        hosts = sorted({run.hostname for run in runs})
        for interval in list(self.intervals):
            for host in hosts:
                overlapping = [run for run in runs if run.hostname == host]
                if host in interval.cpu or asked >= MAX_FILLS_PER_POLL:
                    continue
                if not final and not all(run.covers(interval.end) for run in overlapping):
                    continue
                shares = [summary_share(api, run, interval.start, interval.end) for run in overlapping]
                asked += len(overlapping)
                found.setdefault((interval.start, interval.end), {})[host] = combine_shares(shares)
        self.intervals = [
            with_cpu(interval, found[key]) if (key := (interval.start, interval.end)) in found else interval
            for interval in self.intervals
        ]
