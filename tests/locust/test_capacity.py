"""The capacity fit and the load intervals, on synthetic intervals: no Locust, no API."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from cpumon import locust_load as load
from cpumon.locust_capacity import NO_GROWTH, NO_VARIATION, capacity, least_squares

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


def interval(k: int, rps: float, cpu: float | None, *, seconds: float = 5.0, host: str = "web") -> load.LoadInterval:
    start = T0 + dt.timedelta(seconds=k * seconds)
    share = None if cpu is None else load.CpuShare(cpu, 50)
    return load.LoadInterval(
        start, start + dt.timedelta(seconds=seconds), round(rps * seconds), 12.0, 10, {host: share}
    )


def test_a_load_step_gives_the_line_it_was_made_from() -> None:
    """CPU = 5 % + 15 % per 1,000 req/s: 0, 200, 400, 600 req/s in steps, with a little noise."""
    noise = [0.3, -0.2, 0.1, -0.3, 0.2, 0.0, -0.1, 0.2]
    steps = [0, 0, 200, 200, 400, 400, 600, 600]
    intervals = [interval(k, rps, 5 + 0.015 * rps + noise[k]) for k, rps in enumerate(steps)]
    found = capacity("web", intervals, 80.0)
    assert found.verdict is None
    assert found.cpu_per_1000_rps == pytest.approx(15.0, abs=0.5)
    assert found.projected_rps == pytest.approx((80 - 5) / 0.015, rel=0.03)  # 5,000 req/s
    assert found.fit is not None
    assert found.fit.r2 > 0.99
    row = found.row()
    assert row["cpu_per_1000_rps"] == f"{found.cpu_per_1000_rps:.1f}"
    assert row["projected_rps"] == f"{found.projected_rps:,.0f}"
    assert row["r2"] == "1.00"


def test_an_exact_line_is_fitted_exactly() -> None:
    fit = least_squares([(0, 10), (100, 20), (200, 30), (300, 40)])
    assert fit is not None
    assert (fit.intercept, fit.slope, fit.r2, fit.points, fit.spread) == pytest.approx((10, 0.1, 1.0, 4, 1.0))


@pytest.mark.parametrize(
    ("rps", "cpu"),
    [
        pytest.param([100, 101, 99, 100, 100, 102], [30, 31, 29, 30, 30, 31], id="a flat load"),
        pytest.param([0, 500], [5, 50], id="too few intervals"),
        pytest.param([0, 100, 200, 300, 400, 500], [40, 5, 60, 10, 55, 20], id="CPU unrelated to load"),
        pytest.param([100, 100, 100, 100], [30, 30, 30, 30], id="nothing varies"),
        pytest.param([], [], id="no interval"),
    ],
)
def test_a_poor_fit_says_not_enough_variation_instead_of_a_number(rps: list[float], cpu: list[float]) -> None:
    found = capacity("web", [interval(k, x, y) for k, (x, y) in enumerate(zip(rps, cpu, strict=True))], 80.0)
    assert found.verdict == NO_VARIATION
    assert (found.cpu_per_1000_rps, found.projected_rps) == (None, None)
    assert found.row()["cpu_per_1000_rps"] == "not enough variation in load"
    assert found.row()["projected_rps"] == "-"


def test_cpu_that_falls_as_load_grows_gives_no_projection() -> None:
    found = capacity("web", [interval(k, 100.0 * k, 50 - 5 * k) for k in range(6)], 80.0)
    assert found.verdict == NO_GROWTH
    assert found.projected_rps is None


def test_intervals_without_samples_and_other_hosts_do_not_count() -> None:
    intervals = [interval(k, 100.0 * k, 10 + 10 * k) for k in range(4)]
    intervals += [interval(9, 10_000.0, None), interval(10, 5.0, 99.0, host="db")]
    found = capacity("web", intervals, 80.0)
    assert found.fit is not None
    assert found.fit.points == 4
    assert found.projected_rps == pytest.approx(700.0)


def test_an_interval_counts_requests_and_its_own_95th_percentile() -> None:
    earlier = load.LoadSnapshot(T0, 100, {10: 100}, 5)
    later = load.LoadSnapshot(T0 + dt.timedelta(seconds=4), 300, {10: 180, 20: 10, 500: 10}, 10)
    made = load.between(earlier, later)
    assert (made.requests, made.rps, made.users, made.seconds) == (200, 50.0, 10, 4.0)
    assert made.p95_ms == 500.0  # 80 at 10 ms, 10 at 20 ms, 10 at 500 ms: the slow tenth is 500 ms
    assert load.between(later, later).p95_ms is None
    assert load.percentile({10: 96, 700: 4}, 0.95) == 10


def test_merging_keeps_totals_and_weights_cpu_by_samples() -> None:
    a = load.LoadInterval(T0, T0 + dt.timedelta(seconds=5), 100, 10.0, 1, {"web": load.CpuShare(10.0, 1)})
    b = load.LoadInterval(a.end, a.end + dt.timedelta(seconds=5), 300, 30.0, 2, {"web": load.CpuShare(50.0, 3)})
    both = load.merged(a, b)
    assert (both.start, both.end, both.requests, both.p95_ms, both.users) == (a.start, b.end, 400, 30.0, 2)
    assert both.cpu["web"] == load.CpuShare(40.0, 4)
    assert load.combine_shares([(10.0, 1), (None, 0), (50.0, 3)]) == load.CpuShare(40.0, 4)
    assert load.combine_shares([(None, 0)]) is None


def test_a_long_test_keeps_a_bounded_number_of_intervals_covering_all_of_it() -> None:
    intervals = [interval(k, 10.0 * k, 10.0 + k / 10) for k in range(100)]
    kept = load.bounded(intervals, limit=30)
    assert len(kept) <= 30
    assert (kept[0].start, kept[-1].end) == (intervals[0].start, intervals[-1].end)
    assert sum(i.requests for i in kept) == sum(i.requests for i in intervals)
    assert all(x.end == y.start for x, y in itertools.pairwise(kept))


def test_an_interval_closes_when_full_and_a_short_tail_is_left_out() -> None:
    assert load.interval_due(5.0, 5.0, final=False)
    assert not load.interval_due(4.9, 5.0, final=False)
    assert load.interval_due(2.5, 5.0, final=True)
    assert not load.interval_due(2.4, 5.0, final=True)
