"""The login throttle's waiting for a place, with a scripted store: no database, no real sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cpumon_backend.auth.throttle import Limit, LocalQueue, LoginThrottle, Refusal

BUSY = Refusal(1.0, in_flight=True)
LIMITS = (Limit("user:a", 1), Limit("addr:b", 3))


class ScriptedCounter:
    """Answers `reserve` from a script (the last answer repeats); records every settle."""

    def __init__(self, *answers: Refusal | None) -> None:
        self.answers = list(answers)
        self.reserves = 0
        self.settled: list[str] = []

    async def reserve(self, limits: Sequence[Limit], window_s: int) -> Refusal | None:
        self.reserves += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def settle(self, limits: Sequence[Limit], window_s: int, *, failed: bool) -> None:
        self.settled.append("failed" if failed else "succeeded")

    async def abandon(self, limits: Sequence[Limit]) -> None:
        self.settled.append("abandoned")


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def throttle(counter: ScriptedCounter, queue_s: float = 5.0) -> LoginThrottle:
    return LoginThrottle(counter, 1, 3, 60, queue_s=queue_s, sleep=no_sleep)


def test_a_key_full_of_running_checks_is_waited_for() -> None:
    counter = ScriptedCounter(BUSY, BUSY, None)
    gate = throttle(counter)
    assert asyncio.run(gate.reserve(LIMITS)) is None
    assert counter.reserves == 3
    assert gate.queue._places  # held until the answer is settled


def test_a_key_full_of_failures_is_refused_at_once_with_its_wait() -> None:
    counter = ScriptedCounter(Refusal(42.2))
    gate = throttle(counter)
    assert asyncio.run(gate.reserve(LIMITS)) == Refusal(43)
    assert counter.reserves == 1
    assert gate.queue._places == {}


def test_waiting_ends_with_429_after_queue_s() -> None:
    counter = ScriptedCounter(BUSY)
    gate = throttle(counter, queue_s=0.05)
    assert asyncio.run(gate.reserve(LIMITS)) == Refusal(1, in_flight=True)
    assert counter.reserves >= 2
    assert gate.queue._places == {}


def test_one_worker_lets_at_most_the_limit_ask_the_store_at_once() -> None:
    async def scenario() -> tuple[list[bool], dict[str, object]]:
        queue = LocalQueue()
        assert await queue.enter(LIMITS, 1.0)
        # The username's place (1) is taken: the next login for it waits, and gives up after its time.
        second = await queue.enter(LIMITS, 0.05)
        queue.leave(LIMITS)
        third = await queue.enter(LIMITS, 0.05)
        queue.leave(LIMITS)
        return [second, third], dict(queue._places)

    entered, left = asyncio.run(scenario())
    assert entered == [False, True]
    assert left == {}


def test_every_answer_gives_the_local_places_back() -> None:
    async def scenario() -> list[str]:
        counter = ScriptedCounter(None)
        gate = throttle(counter)
        for settle in (gate.succeeded, gate.failed, gate.abandoned):
            assert await gate.reserve(LIMITS) is None
            await settle(LIMITS)
            assert gate.queue._places == {}
        return counter.settled

    assert asyncio.run(scenario()) == ["succeeded", "failed", "abandoned"]
