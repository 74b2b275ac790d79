"""`cpumon runs` on an 80-column terminal (COLUMNS=80): columns are left out or shortened, never cut short."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.console import Console

from cpumon.review.client import Run
from cpumon.review.runs import fitting_table
from cpumon.theme import make_console
from cpumon.wire import RunSummary

WIDTH = 80
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def a_run(number: int, name: str, *, ended: bool = True, breakdown: bool = True) -> Run:
    parts = dict.fromkeys(("avg_user_percent", "avg_system_percent", "avg_iowait_percent", "avg_steal_percent"), 12.5)
    summary = RunSummary(
        sample_count=1_234_567,
        avg_percent=45.25,
        min_percent=1.0,
        max_percent=99.9,
        first_sample_at=T0,
        last_sample_at=T0,
        threshold_percent=80.0,
        time_above_threshold_s=7384.0,
        max_core_percent=100.0 if breakdown else None,
        **(parts if breakdown else {}),
    )
    return Run(
        id=f"01a3{number:04d}-0000-7000-8000-000000000000",
        name=name,
        hostname="build-agent-17.example.internal",
        interval_s=1.0,
        threshold_percent=80.0,
        started_at=T0,
        ended_at=T0 + dt.timedelta(hours=2, minutes=3) if ended else None,
        created_at=T0,
        updated_at=T0,
        summary=summary,
    )


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Console:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return make_console(file=io.StringIO(), force_terminal=True, color_system=None)


def printed(console: Console, runs: list[Run], waiting: dict[str | None, int]) -> list[str]:
    console.print(fitting_table(runs, {run.id: run.id[:8] for run in runs}, console, waiting))
    file = console.file
    assert isinstance(file, io.StringIO)
    return [line.rstrip() for line in file.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("spooled", [False, True], ids=["finished", "waiting-here"])
def test_runs_fit_80_columns_with_every_figure_whole(terminal: Console, spooled: bool) -> None:
    runs = [a_run(1, "checkout load test against staging with 500 users"), a_run(2, "open", ended=not spooled)]
    waiting: dict[str | None, int] = {runs[1].id: 123_456} if spooled else {}
    lines = printed(terminal, runs, waiting)
    assert all(len(line) <= WIDTH for line in lines), "\n".join(lines)
    header = lines[0].split()
    for kept in ("id", "name", "duration", "samples", "avg", "max", "above"):
        assert kept in header, lines[0]
    first = lines[2]
    for whole in ("01a30001", "2h03m00s", "1,234,567", "45.2 %", "99.9 %", "2h03m04s"):
        assert whole in first, first
    assert "…" not in "\n".join(lines)  # nothing cut
    if spooled:
        assert "123,456 waiting" in "\n".join(lines)


def test_a_wider_terminal_keeps_more_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    console = make_console(file=io.StringIO(), force_terminal=True, color_system=None)
    lines = printed(console, [a_run(1, "checkout")], {})
    assert "core max" in lines[0]
    assert "above threshold" in lines[0]
