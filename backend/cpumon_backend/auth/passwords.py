"""bcrypt hashing, run off the event loop (one check costs ~0.2 s of CPU at the default cost).

`Passwords` also answers for unknown usernames: the hash checked for them has the cost most of the
stored hashes have, so an unknown name takes as long as a real one even while old hashes keep an
old cost (each is rehashed at the current cost on its next successful login).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass, field

import bcrypt

from cpumon_backend.auth.clock import Clock, system_clock

#: bcrypt only reads the first 72 bytes; longer passwords are refused rather than silently truncated.
MAX_PASSWORD_BYTES = 72
#: How long the stored hashes' typical cost is trusted before it is read again.
TYPICAL_COST_TTL = dt.timedelta(minutes=10)


class PasswordTooLongError(ValueError):
    def __init__(self) -> None:
        super().__init__(f"password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")


def hash_password(password: str, rounds: int) -> str:
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise PasswordTooLongError
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=rounds)).decode()


def cost_of(password_hash: str) -> int | None:
    """The bcrypt cost of a `$2b$12$...` hash, or None when it is not one."""
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) >= 4 and parts[2].isdigit() else None


def _check(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    # Still pay for one bcrypt check on an over-long password, so the answer takes as long as any other.
    matches = bcrypt.checkpw(encoded[:MAX_PASSWORD_BYTES], password_hash.encode())
    return matches and len(encoded) <= MAX_PASSWORD_BYTES


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(_check, password, password_hash)


@dataclass
class Passwords:
    """The server's hashing policy (one per app): the current cost, and the stand-in for unknown users."""

    rounds: int
    clock: Clock = system_clock
    _typical_cost: int | None = None
    _read_at: dt.datetime | None = None
    _dummies: dict[int, str] = field(default_factory=dict)

    def needs_typical_cost(self) -> bool:
        return self._read_at is None or self.clock() - self._read_at > TYPICAL_COST_TTL

    async def set_typical_cost(self, cost: int | None) -> None:
        """Record the stored hashes' most common cost (None: no users) and make its stand-in hash."""
        self._typical_cost, self._read_at = cost, self.clock()
        await self.dummy_hash()

    def forget_typical_cost(self) -> None:
        self._read_at = None

    async def dummy_hash(self) -> str:
        """A hash of a random password, at the typical cost of the stored hashes."""
        cost = self._typical_cost or self.rounds
        if cost not in self._dummies:
            self._dummies[cost] = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16), cost)
        return self._dummies[cost]

    def is_current(self, password_hash: str) -> bool:
        return cost_of(password_hash) == self.rounds

    async def rehash(self, password: str) -> str:
        return await asyncio.to_thread(hash_password, password, self.rounds)
