"""The CPU breakdown and the hottest core: computed from counter snapshots, carried, spooled, averaged, watched."""

from __future__ import annotations

import datetime as dt
import json
from collections import namedtuple
from pathlib import Path

import pytest

from cpumon.report import report_json, write_report_json
from cpumon.sample import Sample
from cpumon.sampler import Reading, reading_between
from cpumon.stats import RunStats
from cpumon.threshold import Direction, ThresholdOn, ThresholdTracker, watched_percent

from .conftest import at, report_of

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")  # Linux's fields
MacTimes = namedtuple("MacTimes", "user nice system idle")


def times(**values: float) -> Times:
    return Times(**{name: values.get(name, 0.0) for name in Times._fields})


def test_breakdown_and_hottest_core_from_two_snapshots() -> None:
    before = [times(), times()]
    # core 0: 1 s user, 0.5 s system + 0.25 s irq, 0.25 s idle (75 % busy); core 1: 0.5 s iowait, 0.4 idle, 0.1 steal
    after = [
        times(user=1.0, system=0.5, irq=0.25, idle=0.25, guest=0.5),  # guest is inside user on Linux: not counted twice
        times(iowait=0.5, idle=0.4, steal=0.1),
    ]
    sample = reading_between(before, after).sample(0, at(0))
    assert sample.cpu_percent == pytest.approx(100 * 1.85 / 3.0)  # busy: user, system, irq, steal
    assert sample.user_percent == pytest.approx(100 * 1.0 / 3.0)
    assert sample.system_percent == pytest.approx(100 * 0.75 / 3.0)
    assert sample.iowait_percent == pytest.approx(100 * 0.5 / 3.0)
    assert sample.steal_percent == pytest.approx(100 * 0.1 / 3.0)
    assert sample.max_core_percent == pytest.approx(100 * 1.75 / 2.0)


def test_one_busy_core_of_sixteen() -> None:
    before = [times()] * 16
    after = [times(user=1.0)] + [times(idle=1.0)] * 15
    reading = reading_between(before, after)
    assert reading.cpu_percent == pytest.approx(6.25)
    assert reading.parts["max_core_percent"] == 100.0


def test_no_tick_elapsed_and_platforms_without_iowait() -> None:
    assert reading_between([times(user=5)], [times(user=5)]) == Reading(0.0)
    reading = reading_between([MacTimes(0, 0, 0, 0)], [MacTimes(1, 0, 1, 2)])
    assert reading.cpu_percent == 50.0
    assert (reading.parts["iowait_percent"], reading.parts["steal_percent"]) == (None, None)


def test_counters_that_go_backwards_never_give_negative_or_over_100() -> None:
    reading = reading_between([times(user=5, idle=5)], [times(user=4, idle=6)])
    assert 0.0 <= reading.cpu_percent <= 100.0
    assert reading.parts["user_percent"] == 0.0


def test_sample_carries_the_breakdown_to_the_api_and_the_spool() -> None:
    sample = Sample(3, at(0), 40.0, 30.0, 8.0, 1.5, 0.5, 97.0)
    assert sample.to_api() == {
        "seq": 3,
        "recorded_at": at(0).isoformat(),
        "cpu_percent": 40.0,
        "user_percent": 30.0,
        "system_percent": 8.0,
        "iowait_percent": 1.5,
        "steal_percent": 0.5,
        "max_core_percent": 97.0,
    }
    assert Sample.from_row(json.loads(json.dumps(sample.to_row()))) == sample
    # A spool file of an older cpumon: three fields per row.
    assert Sample.from_row([3, at(0).isoformat(), 40.0]) == Sample(3, at(0), 40.0)
    assert "user_percent" not in Sample(3, at(0), 40.0).to_api()
    with pytest.raises(ValueError, match="max_core_percent"):
        Sample.from_row([3, at(0).isoformat(), 40.0, None, None, None, None, 100.5])


def test_stats_average_the_breakdown_over_the_samples_that_carry_it() -> None:
    stats = RunStats(threshold=80.0)
    stats.add(Sample(0, at(0), 20.0, 10.0, 5.0, 4.0, 1.0, 60.0))
    stats.add(Sample(1, at(1), 40.0, 30.0, 7.0, 2.0, 1.0, 100.0))
    stats.add(Sample(2, at(2), 30.0))  # nothing but the total
    assert stats.avg_percent == 30.0
    assert [stats.average_of(name) for name in ("user_percent", "system_percent")] == [20.0, 6.0]
    assert [stats.average_of(name) for name in ("iowait_percent", "steal_percent")] == [3.0, 1.0]
    assert stats.hottest_core.max == 100.0


def hot_core_run() -> list[Sample]:
    """The total stays low while one core is pegged from the second sample to the fourth."""
    cores = [20.0, 100.0, 100.0, 100.0, 30.0]
    return [Sample(i, at(i), 12.0, max_core_percent=core) for i, core in enumerate(cores)]


def test_threshold_on_the_hottest_core() -> None:
    on_total, on_core = RunStats(threshold=90.0), RunStats(threshold=90.0, on=ThresholdOn.CORE)
    tracker = ThresholdTracker(90.0)
    events = []
    for sample in hot_core_run():
        on_total.add(sample)
        on_core.add(sample)
        crossing = tracker.observe(watched_percent(sample, ThresholdOn.CORE), sample.recorded_at)
        if crossing:
            events.append((sample.seq, crossing.direction))
    assert on_total.time_above_s == 0.0
    assert on_core.time_above_s == 3.0
    assert events == [(1, Direction.ABOVE), (4, Direction.BELOW)]
    # A sample of an older cpumon (no core figure) is watched by its total.
    assert watched_percent(Sample(0, at(0), 55.0), ThresholdOn.CORE) == 55.0


def test_hysteresis_gives_one_alert_for_usage_hovering_at_the_threshold() -> None:
    hovering = [81.0, 79.0, 82.0, 78.0, 81.0, 76.0, 74.0, 90.0]
    plain, damped = ThresholdTracker(80.0), ThresholdTracker(80.0, hysteresis=5.0)
    for i, pct in enumerate(hovering):
        plain.observe(pct, at(i))
        damped.observe(pct, at(i))
    assert plain.alerts == 4
    assert damped.alerts == 2  # 81 .. 76 is one alert; it ends at 74 (<= 75); 90 is the second


def gate_figures(max_above: float | None) -> dict[str, object]:
    stats = RunStats(threshold=90.0, on=ThresholdOn.CORE)
    for sample in hot_core_run():
        stats.add(sample)
    return report_json(report_of(stats, max_above_s=max_above))


@pytest.mark.parametrize(("max_above", "failed"), [(2.0, True), (3.0, False), (None, False)])
def test_gate_fails_only_when_time_above_exceeds_max_above(max_above: float | None, failed: bool) -> None:
    assert gate_figures(max_above)["gate_failed"] is failed


def test_json_report_has_every_figure(tmp_path: Path) -> None:
    body = gate_figures(2.0)
    assert body["time_above_s"] == 3.0
    assert body["threshold_on"] == "core"
    assert body["max_core_percent"] == 100.0
    assert body["samples_taken"] == 5
    assert body["above_share"] == pytest.approx(0.75)
    assert body["started_at"] == (at(-1)).isoformat()
    assert dt.datetime.fromisoformat(str(body["ended_at"])) == at(5)
    path = tmp_path / "report.json"
    write_report_json(report_of(RunStats(threshold=50.0)), path)
    written = json.loads(path.read_text())
    assert written["samples_taken"] == 0
    assert written["avg_percent"] is None
    assert written["gate_failed"] is False
