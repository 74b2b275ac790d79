"""The chart and the id prefixes, without a server."""

from __future__ import annotations

import datetime as dt
import re

from cpumon.formats import compact_duration
from cpumon.review.chart import Column, columns, render
from cpumon.review.client import Bucket
from cpumon.review.resolve import short_ids

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _bucket(seconds: float, percent: float, *, peak: float | None = None) -> Bucket:
    return Bucket(T0 + dt.timedelta(seconds=seconds), 1, percent, percent, percent if peak is None else peak)


def test_each_sample_fills_the_columns_of_the_interval_that_ends_at_it() -> None:
    buckets = [_bucket(0, 10), _bucket(1, 20), _bucket(2, 30)]
    placed = columns(buckets, first=T0, last=T0 + dt.timedelta(seconds=2), width=10)
    assert [column.avg_percent if column else None for column in placed] == [10] + [20] * 5 + [30] * 4


def test_a_long_pause_in_the_samples_stays_blank() -> None:
    # samples every second for 10 s, then nothing until 100 s: the pause is not drawn as data
    buckets = [_bucket(s, 50) for s in range(11)] + [_bucket(100, 50)]
    placed = columns(buckets, first=T0, last=T0 + dt.timedelta(seconds=100), width=100)
    assert all(column is not None for column in placed[:11])
    assert all(column is None for column in placed[11:99])
    assert placed[99] is not None


def test_buckets_sharing_a_column_are_merged_by_count() -> None:
    merged = Column(1, 10, 10, 10).merged(Column(3, 50, 50, 90))
    assert merged == Column(4, 10, 40, 90)


def test_average_is_solid_max_is_a_dot_and_the_threshold_a_line() -> None:
    buckets = [_bucket(0, 45, peak=95), _bucket(1, 45, peak=95)]
    lines = render(buckets, first=T0, last=T0 + dt.timedelta(seconds=1), threshold=80, width=10, height=10)
    plot = [line.plain[6:] for line in lines[:10]]  # top row first, without the axis
    assert plot[9 - 0] == "█" * 10  # 0-10 %
    assert plot[9 - 4] == "▄" * 10  # 40-50 %: the average ends half way up
    assert plot[9 - 7] == " " * 10  # 70-80 %: nothing between the average and the max
    assert plot[9 - 8] == "▁" * 10  # 80 % is the bottom edge of the 80-90 % row
    assert plot[9 - 9] == "·" * 10  # 90-100 %: the max
    no_peak = render(
        [_bucket(0, 45), _bucket(1, 45)],
        first=T0,
        last=T0 + dt.timedelta(seconds=1),
        threshold=80,
        width=10,
    )
    assert no_peak[9 - 8].plain == "  80 ┤" + "▁" * 10
    assert "·" not in "".join(line.plain for line in no_peak), "no dot where the max is the average"
    wide = render(buckets, first=T0, last=T0 + dt.timedelta(seconds=1), threshold=80, width=40)
    assert re.findall(r"\S+ s", wide[-1].plain) == ["0.0 s", "0.3 s", "0.5 s", "1.0 s"]  # 0.8 s would touch the end


def test_short_ids_grow_until_they_tell_runs_apart() -> None:
    ids = [
        "01a212ea-bd93-7271-a214-38327e00ac08",
        "01a212ea-bdaa-7667-a112-e3c4467c297b",
        "01a212eb-176a-70de-9fd6-42f54fa0cba2",
    ]
    assert short_ids(ids) == {ids[0]: "01a212ea-bd9", ids[1]: "01a212ea-bda", ids[2]: "01a212eb"}
    assert short_ids(ids[:1]) == {ids[0]: "01a212ea"}
    assert short_ids(ids[:1], among=ids) == {ids[0]: "01a212ea-bd9"}, "unlisted runs count too"
    assert short_ids(ids[2:], minimum=13) == {ids[2]: "01a212eb-176a-7"}


def test_compact_durations() -> None:
    assert [compact_duration(s) for s in (0.04, 9.96, 59.9, 60, 245, 7384)] == [
        "0.0 s",
        "10.0 s",
        "59.9 s",
        "1m00s",
        "4m05s",
        "2h03m04s",
    ]


def test_the_hottest_core_is_a_dashed_mark_above_the_average() -> None:
    # 4 cores, one pinned: 25 % in total, 100 % on the hottest core.
    buckets = [Bucket(T0 + dt.timedelta(seconds=s), 1, 25.0, 25.0, 25.0, max_core_percent=100.0) for s in range(2)]
    lines = render(buckets, first=T0, last=T0 + dt.timedelta(seconds=1), threshold=80, width=10, height=10)
    plot = [line.plain[6:] for line in lines[:10]]
    assert plot[0] == "╌" * 10  # 90-100 %: the hottest core
    assert plot[9 - 2] == "▄" * 10  # the total's average, 20-30 %
    assert all("╌" not in row for row in plot[1:])
    plain = render(
        [_bucket(0, 25), _bucket(1, 25)], first=T0, last=T0 + dt.timedelta(seconds=1), threshold=80, width=10
    )
    assert "╌" not in "".join(line.plain for line in plain), "no mark for samples without a hottest core"
