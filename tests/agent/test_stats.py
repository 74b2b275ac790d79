"""Run figures, and the report built from them: pure functions over samples with set times."""

from __future__ import annotations

import datetime as dt

import pytest

from cpumon.formats import format_duration
from cpumon.sample import Sample
from cpumon.stats import RunStats

from .conftest import T0, at, report_of, samples


def stats_of(items: list[Sample], threshold: float = 80.0) -> RunStats:
    stats = RunStats(threshold=threshold)
    for sample in items:
        stats.add(sample)
    return stats


def test_count_average_min_max() -> None:
    stats = stats_of(samples([10.0, 20.0, 60.0]))
    assert stats.count == 3
    assert stats.avg_percent == pytest.approx(30.0)
    assert stats.min_percent == 10.0
    assert stats.max_percent == 60.0
    assert stats.first_at == at(0)
    assert stats.last_at == at(2)


def test_no_samples_no_figures() -> None:
    stats = RunStats(threshold=80.0)
    assert stats.count == 0
    assert stats.avg_percent is None
    assert stats.max_percent is None
    assert stats.time_above_s == 0.0


def test_time_above_adds_the_interval_before_each_sample_above() -> None:
    # The server's rule: ordered by time, each sample above adds (its time - previous time).
    items = [
        Sample(0, at(0.0), 90.0),  # first sample: adds nothing even though above
        Sample(1, at(1.0), 95.0),  # +1.0
        Sample(2, at(3.5), 50.0),  # below: adds nothing
        Sample(3, at(4.0), 81.0),  # +0.5
        Sample(4, at(4.25), 80.0),  # equal is not above
    ]
    assert stats_of(items).time_above_s == 1.5


def test_time_above_is_exact_in_microseconds() -> None:
    # 0.1 s steps summed as floats drift (0.1 * 3 != 0.3); whole microseconds do not.
    items = [Sample(i, T0 + dt.timedelta(microseconds=100_000 * i), 99.0) for i in range(10_001)]
    assert stats_of(items).time_above_s == 1000.0


def test_report_figures() -> None:
    items = samples([10.0, 90.0, 95.0, 20.0, 85.0])
    stats = stats_of(items)
    figures = report_of(stats, alerts=2, stored=3, kept=2, finished=False)
    assert figures.samples_taken == 5
    assert figures.samples_stored == 3
    assert figures.samples_kept == 2
    assert figures.avg_percent == pytest.approx(60.0)
    assert figures.max_percent == 95.0
    assert figures.time_above_s == 3.0
    assert figures.total_s == 6.0
    assert figures.above_share == pytest.approx(0.75)  # of the sampled time, 4 s: as `cpumon show` says
    assert figures.alerts == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0.0 s"), (12.34, "12.3 s"), (65.0, "1 min 05.0 s"), (3599.9, "59 min 59.9 s"), (7384.0, "2 h 03 min 04 s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
