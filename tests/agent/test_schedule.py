from __future__ import annotations

import pytest

from cpumon.schedule import TickSchedule


def test_ticks_on_time_follow_the_grid() -> None:
    schedule = TickSchedule(start=100.0, interval=1.0)
    dues = []
    for _ in range(5):
        dues.append(schedule.next_due)
        schedule.taken(schedule.next_due)
    assert dues == [101.0, 102.0, 103.0, 104.0, 105.0]


def test_a_late_tick_is_taken_late_and_the_next_keeps_its_time() -> None:
    schedule = TickSchedule(start=0.0, interval=1.0)
    schedule.taken(1.7)  # tick 1, 0.7 s late
    assert schedule.next_due == 2.0  # not 2.7: no drift


def test_ticks_missed_entirely_are_skipped_not_bunched() -> None:
    schedule = TickSchedule(start=0.0, interval=1.0)
    schedule.taken(4.5)  # tick 1 taken 3.5 s late: ticks 2, 3 and 4 have passed
    assert schedule.next_due == 5.0
    schedule.taken(5.0)
    assert schedule.next_due == 6.0


def test_a_tick_landing_exactly_on_a_later_grid_point_moves_past_it() -> None:
    schedule = TickSchedule(start=0.0, interval=1.0)
    schedule.taken(3.0)
    assert schedule.next_due == 4.0


def test_no_drift_over_many_ticks_with_a_small_jitter() -> None:
    interval = 0.1
    schedule = TickSchedule(start=1000.0, interval=interval)
    for _ in range(100_000):
        schedule.taken(schedule.next_due + 0.003)  # each tick taken 3 ms late
    # Tick k is due at start + k*interval: 100,000 ticks later the grid is where it should be.
    assert schedule.next_tick == 100_001
    assert schedule.next_due == pytest.approx(1000.0 + 100_001 * interval, abs=1e-6)


@pytest.mark.parametrize("interval", [0.0, -1.0])
def test_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TickSchedule(start=0.0, interval=interval)
