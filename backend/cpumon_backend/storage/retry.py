"""Retry a whole transaction that lost a write conflict: a deadlock, or a Galera certification conflict.

On a Galera cluster, two nodes may commit writes to the same row at the same moment (batches into
one run, a finish during ingest, two failed logins counted at once); certification lets one win and
aborts the other with error 1213, as InnoDB does for a deadlock. The loser's transaction was rolled
back whole, so running it again is safe and usually succeeds at once: cpumon does that inside the
server, a few times with jittered backoff, before answering "server busy" (503).

`retry_conflicts` decorates one async method that is a whole unit of work (it begins, writes and
commits). Before each new attempt it calls `reset(self)` (roll back the service's session), so the
method starts again from a clean session.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError

from cpumon_backend.http.errors import DEADLOCK, LOCK_WAIT_TIMEOUT, driver_error_number

logger = logging.getLogger("cpumon.server")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    first_delay_s: float = 0.005
    max_delay_s: float = 0.2
    #: 1205 (lock wait timeout) rolls back only the statement; it is retried because the whole
    #: method runs again after a rollback. Turn off for a method that is not one whole transaction.
    lock_wait_timeouts: bool = True

    def retryable(self, exc: BaseException) -> int | None:
        """The error number when `exc` is a conflict this policy retries, else None."""
        number = driver_error_number(exc)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            # A pooled connection that died while idle (the engines skip the pre-ping on purpose):
            # SQLAlchemy has dropped it and the pool, and every decorated unit is safe to run again.
            return number or 0
        if number == DEADLOCK or (number == LOCK_WAIT_TIMEOUT and self.lock_wait_timeouts):
            return number
        return None

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to a bound that doubles per attempt, so the losers spread out."""
        bound: float = min(self.max_delay_s, self.first_delay_s * 2.0**attempt)
        return draw() * bound


DEFAULT_POLICY = RetryPolicy()
Sleep = Callable[[float], Awaitable[None]]


def retry_conflicts(
    reset: Callable[[Any], Awaitable[None]] | None = None,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Sleep = asyncio.sleep,
) -> Callable[
    [Callable[Concatenate[S, P], Coroutine[Any, Any, R]]], Callable[Concatenate[S, P], Coroutine[Any, Any, R]]
]:
    """Decorate a unit-of-work method: run it again when it loses a write conflict (logged with the error number)."""

    def decorate(
        method: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
        @functools.wraps(method)
        async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            attempt = 1
            while True:
                try:
                    return await method(self, *args, **kwargs)
                except Exception as exc:
                    number = policy.retryable(exc)
                    if number is None or attempt >= policy.attempts:
                        if number is not None:
                            logger.warning(
                                "%s: gave up after %d conflicts (error %d)", method.__qualname__, attempt, number
                            )
                        raise
                    logger.info(
                        "%s: write conflict (error %d), attempt %d: retrying", method.__qualname__, number, attempt
                    )
                if reset is not None:
                    await reset(self)
                await sleep(policy.delay(attempt))
                attempt += 1

        return wrapper

    return decorate
