"""The plugin's pure logic: per-host figures from window summaries, warnings, the gate and the renderings."""

from __future__ import annotations

import csv
import datetime as dt
import io

from cpumon.locust_figures import (
    HostFigures,
    RunWindow,
    combine,
    csv_text,
    html_section,
    insert_before_body_end,
    newly_above,
    settled,
    text_table,
    too_hot,
)
from cpumon.wire import RunSummary

START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(seconds=30)


def window(host: str, count: int, avg: float, high: float, above: float, last: str, latest: float) -> RunWindow:
    summary = RunSummary.from_json(
        {
            "sample_count": count,
            "avg_percent": avg if count else None,
            "max_percent": high if count else None,
            "last_sample_at": last if count else None,
            "threshold_percent": 80.0,
            "time_above_threshold_s": above,
        }
    )
    return RunWindow(hostname=host, summary=summary, latest_percent=latest if count else None)


def last_at(text: str | None) -> RunSummary:
    return RunSummary.from_json(
        {"sample_count": 0, "last_sample_at": text, "threshold_percent": 80, "time_above_threshold_s": 0}
    )


def test_runs_of_one_host_add_up_weighted_by_samples() -> None:
    (web,) = combine(
        [
            window("web", 10, 20.0, 50.0, 1.5, "2026-01-01T12:00:10Z", 30.0),
            window("web", 30, 60.0, 95.0, 2.0, "2026-01-01T12:00:29Z", 90.0),  # the agent restarted
        ]
    )
    assert (web.runs, web.samples, web.avg_percent, web.max_percent) == (2, 40, 50.0, 95.0)
    assert (web.current_percent, web.above_s) == (90.0, 3.5)


def test_hosts_are_sorted_and_an_empty_run_shows_dashes() -> None:
    figures = combine([window("b", 3, 10, 10, 0, "2026-01-01T12:00:01Z", 10), window("a", 0, 0, 0, 0, "", 0)])
    assert [f.host for f in figures] == ["a", "b"]
    assert figures[0].row()["avg_percent"] == figures[0].row()["current_percent"] == "-"
    assert figures[0].samples == 0


def test_a_warning_only_when_a_host_goes_above() -> None:
    hot = HostFigures("web", 1, 5, 91.0, 50.0, 91.0, 80.0, 1.0)
    cool = HostFigures("web", 1, 6, 40.0, 50.0, 91.0, 80.0, 1.0)
    state, lines = newly_above({}, [hot])
    assert lines == ["cpumon: web is at 91.0% CPU, above its threshold of 80%"]
    state, lines = newly_above(state, [hot])
    assert lines == []  # still above: no repeat
    state, lines = newly_above(state, [cool])
    assert lines == []
    _, lines = newly_above(state, [hot])
    assert len(lines) == 1  # above again: warned again


def test_the_gate_names_each_host_over_the_limit() -> None:
    hosts = [HostFigures("a", 1, 5, 1, 1, 1, 80, 1.0), HostFigures("b", 1, 5, 1, 1, 1, 80, 1.01)]
    assert too_hot(hosts, None) == []
    assert too_hot(hosts, 1.0) == ["cpumon: b spent 1.0 s above 80% CPU (more than --cpumon-max-above 1 s)"]


def test_renderings_carry_the_same_row() -> None:
    host = HostFigures("<web&1>", 1, 12, 33.333, 41.25, 99.0, 80.0, 2.25)
    table = text_table([host], START, END)
    (line,) = [line for line in table.splitlines() if line.startswith("<web&1>")]
    assert line.split() == ["<web&1>", "1", "12", "33.3", "41.2", "99.0", "80.0", "2.2"]
    assert text_table([], START, END).count("no cpumon run") == 1
    (row,) = csv.DictReader(io.StringIO(csv_text([host], START, END)))
    assert (row["host"], row["avg_percent"], row["window_from"]) == ("<web&1>", "41.2", START.isoformat())
    section = html_section([host], START, END)
    assert "<td>&lt;web&amp;1&gt;</td>" in section
    assert "<script" not in section


def test_the_section_goes_before_the_body_ends() -> None:
    assert (
        insert_before_body_end("<html><body><p>x</p></BODY></html>", "<s/>") == "<html><body><p>x</p><s/></BODY></html>"
    )
    assert insert_before_body_end("no body", "<s/>") == "no body<s/>"


def test_settled_once_running_runs_stored_their_samples_up_to_the_end() -> None:
    late = RunWindow("web", last_at("2026-01-01T12:00:28Z"), 1.0, interval_s=1.0, running=True)
    fresh = RunWindow("web", last_at("2026-01-01T12:00:29.5Z"), 1.0, interval_s=1.0, running=True)
    finished = RunWindow("db", last_at("2026-01-01T12:00:01Z"), 1.0, interval_s=1.0, running=False)
    empty = RunWindow("db", last_at(None), None, interval_s=1.0, running=True)
    assert settled([fresh, finished], END)
    assert not settled([late], END)
    assert not settled([empty], END)
