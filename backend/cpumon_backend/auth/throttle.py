"""Login throttling: every password check holds a place in the shared store *before* it runs.

Two limits, each over a window that starts at the first attempt: a tight one per username (its
canonical key) and a much looser one per client address (an office behind one NAT must survive
one user's typos). Under each key the store keeps two counts: the failures of the window, and the
checks running now. A check may start only while `failures + running < max` under both keys, and
it takes its place under both at once, atomically across every worker. When its answer is known
the place is settled: a wrong password becomes a failure (it stays counted until the window
ends); a right one gives its place back and clears its username's failures. So:

- at most `max` wrong passwords are checked per key in one window, whatever the concurrency
  (a success of the username itself starts its count again);
- correct logins never use up a limit: one that finds every place taken by running checks waits
  for one to be settled (up to `queue_s`), and only a key full of *failures* answers 429 at once.

The counters live in Redis or in the `login_attempts` table, never beside the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cpumon_backend.storage.retry import RetryPolicy

#: How long a login waits for a place held by running checks before it answers 429 (Retry-After: 1).
QUEUE_S = 20.0
#: Between two tries for a place: a random wait up to 10 ms, doubling per try to at most 250 ms.
QUEUE_POLICY = RetryPolicy(first_delay_s=0.01, max_delay_s=0.25)


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no check may start now: the seconds to wait, and whether only running checks fill the key."""

    wait_s: float
    in_flight: bool = False


class AttemptCounter(Protocol):
    async def reserve(self, limits: Sequence[Limit], window_s: int) -> Refusal | None:
        """Take a place under every key, unless one is full: then take nothing and say why.
        Atomic across every worker."""

    async def settle(self, limits: Sequence[Limit], window_s: int, *, failed: bool) -> None:
        """End a reserved check: count it as a failure under every key, or give its places back and
        clear the first key's failures (the username's)."""

    async def abandon(self, limits: Sequence[Limit]) -> None:
        """Give a reserved check's places back without counting anything (it never got an answer)."""


def _digest(value: str) -> str:
    # A username never appears in a key, and keys have a bounded length (and are plain ASCII).
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class LocalQueue:
    """Per worker, at most `max_attempts` logins per key ask the store at once; the rest wait here in turn.

    The store's answer is the rule; this queue only keeps a crowd of logins for one key (a fleet
    sharing an account, or behind one NAT) from polling the store together and fighting over its row.
    """

    def __init__(self) -> None:
        self._places: dict[str, tuple[asyncio.Semaphore, int]] = {}

    async def enter(self, limits: Sequence[Limit], timeout_s: float) -> bool:
        """Take a place under every key in order (username, then address); False when `timeout_s` ran out."""
        taken: list[Limit] = []
        try:
            async with asyncio.timeout(timeout_s):
                for limit in limits:
                    semaphore = self._join(limit)
                    taken.append(limit)
                    await semaphore.acquire()
        except TimeoutError:
            self._leave(taken[-1], acquired=False)
            self.leave(taken[:-1])
            return False
        return True

    def leave(self, limits: Sequence[Limit]) -> None:
        for limit in limits:
            self._leave(limit, acquired=True)

    def _join(self, limit: Limit) -> asyncio.Semaphore:
        semaphore, users = self._places.get(limit.key, (asyncio.Semaphore(limit.max_attempts), 0))
        self._places[limit.key] = (semaphore, users + 1)
        return semaphore

    def _leave(self, limit: Limit, *, acquired: bool) -> None:
        semaphore, users = self._places[limit.key]
        if acquired:
            semaphore.release()
        if users <= 1:
            del self._places[limit.key]
        else:
            self._places[limit.key] = (semaphore, users - 1)


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    counter: AttemptCounter
    max_per_username: int
    max_per_address: int
    window_s: int
    queue_s: float = QUEUE_S
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    queue: LocalQueue = field(default_factory=LocalQueue)

    def limits(self, username_key: str, address: str) -> tuple[Limit, Limit]:
        """The username's limit first, then the address's."""
        return (
            Limit(f"user:{_digest(username_key)}", self.max_per_username),
            Limit(f"addr:{_digest(address)}", self.max_per_address),
        )

    async def reserve(self, limits: Sequence[Limit]) -> Refusal | None:
        """None when this attempt may check a password now, else why not (whole seconds to wait).

        A key full of running checks frees a place within one check's time: wait for it (in this
        worker's queue, then trying the store again after short random pauses) rather than refuse
        a login that may well be right. After None, exactly one of `succeeded`, `failed` or
        `abandoned` must follow.
        """
        deadline = time.monotonic() + self.queue_s
        if not await self.queue.enter(limits, self.queue_s):
            return Refusal(1, in_flight=True)
        try:
            refusal = await self._reserve_in_store(limits, deadline)
        except BaseException:
            self.queue.leave(limits)
            raise
        if refusal is not None:
            self.queue.leave(limits)
        return refusal

    async def _reserve_in_store(self, limits: Sequence[Limit], deadline: float) -> Refusal | None:
        attempt = 1
        while True:
            refusal = await self.counter.reserve(limits, self.window_s)
            if refusal is None:
                return None
            if not refusal.in_flight or time.monotonic() >= deadline:
                return Refusal(max(1, math.ceil(refusal.wait_s)), refusal.in_flight)
            await self.sleep(QUEUE_POLICY.delay(attempt))
            attempt = min(attempt + 1, 8)  # the bound stops doubling at max_delay_s long before

    async def succeeded(self, limits: Sequence[Limit]) -> None:
        try:
            await self.counter.settle(limits, self.window_s, failed=False)
        finally:
            self.queue.leave(limits)

    async def failed(self, limits: Sequence[Limit]) -> None:
        try:
            await self.counter.settle(limits, self.window_s, failed=True)
        finally:
            self.queue.leave(limits)

    async def abandoned(self, limits: Sequence[Limit]) -> None:
        """The check ended without an answer (an error, a cancelled request): its places go back.

        Best effort: when the store itself failed, the places stay held until the window ends.
        """
        try:
            with contextlib.suppress(Exception):
                await self.counter.abandon(limits)
        finally:
            self.queue.leave(limits)
