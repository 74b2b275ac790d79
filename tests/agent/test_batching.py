from __future__ import annotations

import pytest

from cpumon.batching import chunked, next_upload_at


def test_chunked_cuts_in_order() -> None:
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunked([1], 0)


def due(**overrides: object) -> float | None:
    values: dict[str, object] = {
        "now": 100.0,
        "waiting": 3,
        "backlog": False,
        "batch_size": 10,
        "last_upload": 98.0,
        "flush_interval": 5.0,
        "draining": False,
    }
    values.update(overrides)
    return next_upload_at(**values)  # type: ignore[arg-type]


def test_nothing_waiting_nothing_due() -> None:
    assert due(waiting=0) is None
    assert due(waiting=0, draining=True) is None


def test_a_partial_batch_waits_for_the_flush_interval() -> None:
    assert due() == 103.0
    assert due(last_upload=90.0) == 100.0  # overdue: now


def test_a_full_batch_goes_at_once() -> None:
    assert due(waiting=10) == 100.0


def test_a_backlog_goes_at_once_to_catch_up() -> None:
    assert due(waiting=0, backlog=True) == 100.0


def test_draining_sends_everything_at_once() -> None:
    assert due(draining=True) == 100.0
