from __future__ import annotations

import datetime as dt

from cpumon.threshold import Direction, ThresholdTracker

from .conftest import at


def feed(tracker: ThresholdTracker, percents: list[float]) -> list[tuple[int, Direction]]:
    events = []
    for i, pct in enumerate(percents):
        crossing = tracker.observe(pct, at(i))
        if crossing is not None:
            events.append((i, crossing.direction))
    return events


def test_warns_once_when_going_above_and_notes_when_back_below() -> None:
    tracker = ThresholdTracker(80.0)
    events = feed(tracker, [10, 50, 85, 90, 95, 70, 60])
    assert events == [(2, Direction.ABOVE), (5, Direction.BELOW)]
    assert tracker.alerts == 1


def test_each_crossing_above_is_one_alert() -> None:
    tracker = ThresholdTracker(80.0)
    feed(tracker, [90, 10, 90, 10, 90])
    assert tracker.alerts == 3
    assert tracker.above


def test_at_the_threshold_is_not_above_as_on_the_server() -> None:
    tracker = ThresholdTracker(80.0)
    assert feed(tracker, [80.0, 80.0, 80.01]) == [(2, Direction.ABOVE)]


def test_the_first_sample_above_is_an_alert() -> None:
    tracker = ThresholdTracker(50.0)
    crossing = tracker.observe(99.0, at(0))
    assert crossing is not None
    assert crossing.direction is Direction.ABOVE
    assert crossing.alert_number == 1


def test_back_below_says_how_long_usage_stayed_above() -> None:
    tracker = ThresholdTracker(50.0)
    tracker.observe(60.0, at(3))
    tracker.observe(70.0, at(4))
    back = tracker.observe(10.0, at(7.5))
    assert back is not None
    assert back.direction is Direction.BELOW
    assert back.above_for == dt.timedelta(seconds=4.5)
    assert back.alert_number == 1


def test_threshold_100_never_alerts_and_0_alerts_on_any_use() -> None:
    never = ThresholdTracker(100.0)
    feed(never, [100.0, 100.0])
    assert never.alerts == 0
    always = ThresholdTracker(0.0)
    feed(always, [0.0, 0.1])
    assert always.alerts == 1
