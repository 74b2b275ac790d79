"""On an 80-column terminal (COLUMNS=80) the agent's lines do not wrap: the stopping line and the Gate row."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from cpumon.display import Display
from cpumon.report import report_table
from cpumon.stats import RunStats
from cpumon.theme import make_console

from .conftest import report_of, samples

WIDTH = 80


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Console:
    """An 80-column terminal, in a time zone whose name is four letters (the stamp's widest common case)."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()  # and again after the test, by _restore_zone
    return make_console(file=io.StringIO(), force_terminal=True, color_system=None)


@pytest.fixture(autouse=True)
def _restore_zone() -> Iterator[None]:
    yield  # torn down after monkeypatch has put TZ back
    time.tzset()


def lines(console: Console) -> list[str]:
    file = console.file
    assert isinstance(file, io.StringIO)
    return [line.rstrip() for line in file.getvalue().splitlines() if line.strip()]


def test_the_stopping_line_fits_80_columns(terminal: Console) -> None:
    display = Display(terminal, threshold=80.0, print_interval=5.0)
    display.stopping(99_999, 120.0)
    (line,) = lines(terminal)
    assert line.endswith("stopping: uploading the last 99999 samples (up to 120 s)"), line
    assert len(line) <= WIDTH


def test_the_gate_row_fits_80_columns(terminal: Console) -> None:
    stats = RunStats(threshold=10.0)
    for sample in samples([50.0] * 3):
        stats.add(sample)
    figures = report_of(stats, max_above_s=3600.0)
    terminal.print(report_table(figures, local=True))
    printed = lines(terminal)
    assert all(len(line) <= WIDTH for line in printed), printed
    (gate,) = [line for line in printed if "Gate" in line]
    assert "is within --max-above 1 h 00 min 00 s" in gate
    failed = report_of(stats, max_above_s=0.5)
    assert failed.gate_row == "exceeds --max-above 0.5 s"
    assert failed.gate_text == "time above threshold 2.0 s exceeds --max-above 0.5 s"  # the line on stderr, whole
