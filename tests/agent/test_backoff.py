from __future__ import annotations

import pytest

from cpumon.backoff import is_retryable_status, retry_delay


def test_doubles_with_each_failure() -> None:
    delays = [retry_delay(n, random_fraction=0.0, base=0.5, cap=100) for n in range(1, 6)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0]  # half of each step is fixed


def test_jitter_spreads_over_the_upper_half_of_the_step() -> None:
    low = retry_delay(3, random_fraction=0.0, base=1.0, cap=100)
    high = retry_delay(3, random_fraction=0.999999, base=1.0, cap=100)
    assert low == 2.0
    assert high == pytest.approx(4.0, rel=1e-5)


def test_capped_even_after_very_many_failures() -> None:
    assert retry_delay(10_000, random_fraction=0.5, base=0.5, cap=30.0) <= 30.0
    assert retry_delay(10_000, random_fraction=0.999, base=0.5, cap=30.0) >= 15.0


def test_retry_after_is_a_floor_up_to_the_cap() -> None:
    assert retry_delay(1, random_fraction=0.0, base=0.5, cap=30.0, retry_after=7.0) == 7.0
    assert retry_delay(1, random_fraction=0.0, base=0.5, cap=30.0, retry_after=600.0) == 30.0
    assert retry_delay(8, random_fraction=0.0, base=1.0, cap=30.0, retry_after=1.0) == 15.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0, random_fraction=0.0)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (408, True)])
def test_server_trouble_is_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status)
