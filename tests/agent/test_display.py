"""What the user sees: plain lines without escape codes when piped, the report's figures."""

from __future__ import annotations

import io
import re

import pytest

from cpumon.display import Display, Progress, usage_bar
from cpumon.report import build_report
from cpumon.stats import RunStats
from cpumon.theme import make_console
from cpumon.threshold import ThresholdTracker

from .conftest import at, samples

ESCAPE = re.compile(r"\x1b\[")


def piped() -> tuple[Display, io.StringIO]:
    out = io.StringIO()
    console = make_console(file=out, force_terminal=False, width=100)
    return Display(console, threshold=80.0, print_interval=5.0), out


def play(display: Display, percents: list[float]) -> tuple[RunStats, ThresholdTracker]:
    """Feed samples one second apart, as the monitor does (monotonic time = seconds since start)."""
    stats, tracker = RunStats(threshold=80.0), ThresholdTracker(80.0)
    display.start(run_id="r1", run_name="nightly", api_url="http://api.test", interval=1.0, started_mono=0.0)
    for sample in samples(percents):
        stats.add(sample)
        crossing = tracker.observe(sample.cpu_percent, sample.recorded_at)
        progress = Progress(taken=stats.count, stored=stats.count - 1)
        display.sample(sample, float(sample.seq + 1), crossing, progress)
    return stats, tracker


def test_piped_output_is_plain_lines() -> None:
    display, out = piped()
    play(display, [10.0] * 12)
    text = out.getvalue()
    assert not ESCAPE.search(text)
    usage = [line for line in text.splitlines() if "  cpu  " in line]
    assert len(usage) == 2  # one line per 5 s print interval over 12 s
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  "
    assert re.match(stamp + r"cpu      avg  10\.0 %  max  10\.0 %  stored 4/5$", usage[0])


def test_usage_line_shows_the_average_and_max_of_its_interval() -> None:
    display, out = piped()
    # A burst between two usage lines: the last sample alone (10 %) would hide it.
    play(display, [10.0, 10.0, 100.0, 40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 20.0])
    usage = [line for line in out.getvalue().splitlines() if "  cpu  " in line]
    assert "avg  34.0 %  max 100.0 %" in usage[0]  # samples 0-4
    assert "avg  12.0 %  max  20.0 %" in usage[1]  # samples 5-9


def test_terminal_lines_fit_80_columns() -> None:
    out = io.StringIO()
    console = make_console(file=out, force_terminal=True, width=200, color_system=None)
    strip = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
    display = Display(console, threshold=80.0, print_interval=1.0)
    display.start(
        run_id="01a30000-0000-7000-8000-000000000000",
        run_name="nightly",
        api_url="http://127.0.0.1:8000",
        interval=1.0,
        started_mono=0.0,
    )
    for sample in samples([99.9] * 3):
        on_disk = 11_111 if sample.seq else 0
        progress = Progress(taken=99_999, stored=88_888, on_disk=on_disk, failing=True)
        display.sample(sample, float(sample.seq + 1), None, progress)
        assert len(display._status().plain) <= 80
    display.close()
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert any("stored 88,888, 11,111 on disk" in line for line in lines)
    assert any("stored 88,888/99,999" in line for line in lines)
    assert max(len(strip.sub("", line).rstrip()) for line in lines) <= 80, lines


def test_alert_when_going_above_and_note_when_back_below() -> None:
    display, out = piped()
    play(display, [10.0, 90.0, 95.0, 20.0])
    lines = out.getvalue().splitlines()
    alerts = [line for line in lines if "ALERT" in line]
    notes = [line for line in lines if "  OK    " in line]
    assert len(alerts) == 1
    assert "cpu 90.0 % is above the 80.0 % threshold (alert 1)" in alerts[0]
    assert len(notes) == 1
    assert "back below 80.0 % after 2.0 s" in notes[0]


def test_report_shows_every_figure_and_no_escape_codes_when_piped() -> None:
    display, out = piped()
    stats, tracker = play(display, [10.0, 90.0, 95.0, 20.0])
    figures = build_report(
        run_id="r1",
        run_name="nightly",
        started_at=at(-1),
        ended_at=at(4),
        stats=stats,
        alerts=tracker.alerts,
        stored=3,
        kept=1,
        finished=False,
    )
    display.report(figures)
    text = out.getvalue()
    assert not ESCAPE.search(text)
    for label, value in [
        ("Run", "r1"),
        ("Name", "nightly"),
        ("Started", "2025-01-01T11:59:59Z"),
        ("Ended", "2025-01-01T12:00:04Z"),
        ("Total time", "5.0 s"),
        ("Samples taken", "4"),
        ("Samples stored", "3"),
        ("Kept for later", "1"),
        ("Average CPU", "53.8 %"),
        ("Max CPU", "95.0 %"),
        ("Threshold", "80.0 %"),
        ("Time above threshold", "2.0 s (67 % of the sampled time)"),
        ("Alerts", "1"),
        ("Run state", "open"),
    ]:
        assert re.search(rf"│ {re.escape(label)} +│ {re.escape(value)}", text), label


def test_a_terminal_gets_colour() -> None:
    out = io.StringIO()
    console = make_console(file=out, force_terminal=True, width=100, color_system="standard")
    display = Display(console, threshold=80.0, print_interval=5.0)
    play(display, [90.0])
    display.close()
    assert ESCAPE.search(out.getvalue())


def test_usage_bar() -> None:
    assert usage_bar(0.0, 10) == "░" * 10
    assert usage_bar(50.0, 10) == "█" * 5 + "░" * 5
    assert usage_bar(100.0, 10) == "█" * 10
    assert usage_bar(250.0, 10) == "█" * 10


def test_the_status_bar_goes_when_the_block_ends_even_by_an_exception() -> None:
    console = make_console(file=io.StringIO(), force_terminal=True, width=80)

    def record_then_interrupt() -> None:
        with Display(console, threshold=80, print_interval=5) as display:
            display.start(run_id="r", run_name="n", api_url="http://x", interval=1.0, started_mono=0.0)
            assert console._live_stack  # the status bar is up while recording
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record_then_interrupt()
    assert not console._live_stack
