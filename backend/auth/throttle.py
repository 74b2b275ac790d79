"""Login throttling: every attempt is reserved in the shared store *before* its password is checked.

Two limits, each over a window that starts at the first attempt: a tight one per username (its
canonical key) and a much looser one per client address (an office behind one NAT must survive
one user's typos). A reservation counts the attempt under both keys at once, or under neither
when either is at its limit; so whatever the concurrency and however many workers share the
store, at most `max` password checks per key run in one window. A successful login clears its
username's count and gives its address reservation back. The counters live in Redis or in the
`login_attempts` table, never beside the sessions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    max_attempts: int


class AttemptCounter(Protocol):
    async def reserve(self, limits: Sequence[Limit], window_s: int) -> float | None:
        """Count one attempt under every key, unless one is at its limit: then count nothing and
        return the seconds until that key's window ends. Atomic across every worker."""

    async def release(self, key: str) -> None:
        """Give one reserved attempt back."""

    async def clear(self, key: str) -> None: ...


def _digest(value: str) -> str:
    # A username never appears in a key, and keys have a bounded length (and are plain ASCII).
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    counter: AttemptCounter
    max_per_username: int
    max_per_address: int
    window_s: int

    def limits(self, username_key: str, address: str) -> tuple[Limit, Limit]:
        """The username's limit first, then the address's."""
        return (
            Limit(f"user:{_digest(username_key)}", self.max_per_username),
            Limit(f"addr:{_digest(address)}", self.max_per_address),
        )

    async def reserve(self, limits: Sequence[Limit]) -> int | None:
        """None when this attempt may check a password now, else the whole seconds to wait."""
        wait = await self.counter.reserve(limits, self.window_s)
        return None if wait is None else max(1, math.ceil(wait))

    async def succeeded(self, limits: Sequence[Limit]) -> None:
        user, *others = limits
        await self.counter.clear(user.key)
        for limit in others:  # a good login is not a failure of its address
            await self.counter.release(limit.key)
