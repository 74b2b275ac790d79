"""Agent unit tests: no network, no real clock waits, no user config or data dirs."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpumon.report import ReportFigures, build_report
from cpumon.sample import Sample
from cpumon.spool import RunSpool
from cpumon.stats import RunStats

T0 = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CPUMON_* variable of the caller's shell, and config/data dirs inside tmp_path."""
    for key in list(os.environ):
        if key.startswith("CPUMON_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def release_spool_locks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close the lock files tests leave taken (a running agent holds them until it exits)."""
    taken: list[RunSpool] = []
    real_lock = RunSpool.lock

    def lock(self: RunSpool) -> bool:
        taken.append(self)
        return real_lock(self)

    monkeypatch.setattr(RunSpool, "lock", lock)
    yield
    for spool in taken:
        spool.unlock()


def at(seconds: float) -> dt.datetime:
    """T0 + seconds."""
    return T0 + dt.timedelta(seconds=seconds)


def samples(percents: list[float], *, interval: float = 1.0, first_seq: int = 0) -> list[Sample]:
    """Samples one interval apart starting at T0."""
    return [
        Sample(seq=first_seq + i, recorded_at=at((first_seq + i) * interval), cpu_percent=pct)
        for i, pct in enumerate(percents)
    ]


def report_of(stats: RunStats, **changes: Any) -> ReportFigures:
    """The report of a run from at(-1) to at(5) with `stats`, every sample stored unless `changes` say otherwise."""
    fields: dict[str, Any] = {
        "run_id": "r1",
        "run_name": "load test",
        "started_at": at(-1),
        "ended_at": at(5),
        "stats": stats,
        "alerts": 1,
        "stored": stats.count,
        "kept": 0,
        "finished": True,
    }
    return build_report(**(fields | changes))


class CollectedNotices:
    """The notices (cpumon.notices.Notices) a part of the agent gave, kept in lists to assert on."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def info(self, text: str) -> None:
        self.infos.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
