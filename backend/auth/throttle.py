"""Login throttling: failed logins are counted per username and per client in the shared store.

The counters live where the sessions live (the `sessions` table or Redis), so every worker and
replica sees the same count. A window starts at the first failure and lasts `window` seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import SessionRecord
from backend.auth.sessions import RESERVED_PREFIX
from backend.retry import retry_conflicts


class FailureCounter(Protocol):
    async def count(self, key: str) -> tuple[int, float]:
        """The failures counted under `key` and the seconds until its window closes."""

    async def increment(self, key: str, window: int) -> None: ...

    async def clear(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    counter: FailureCounter
    max_failures: int
    window: int

    @staticmethod
    def keys(username: str, client: str) -> tuple[str, str]:
        # Hashed so a username never appears in a key (and keys have a bounded length).
        def digest(value: str) -> str:
            return hashlib.sha256(value.encode()).hexdigest()[:40]

        return (
            f"{RESERVED_PREFIX}user:{digest(username.casefold())}",
            f"{RESERVED_PREFIX}ip:{digest(client)}",
        )

    async def retry_after(self, keys: tuple[str, ...]) -> int | None:
        """Seconds the caller must wait, or None when a login may be tried now."""
        waits = [
            left for failures, left in [await self.counter.count(k) for k in keys] if failures >= self.max_failures
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    async def failed(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            await self.counter.increment(key, self.window)

    async def succeeded(self, user_key: str) -> None:
        # Only the username's count: a login to one's own account must not reset a client's count.
        await self.counter.clear(user_key)


class RedisFailureCounter:
    """INCR + EXPIRE NX in one transaction: atomic across every worker sharing the Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def count(self, key: str) -> tuple[int, float]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._prefix + key)
            pipe.pttl(self._prefix + key)
            value, ttl_ms = await pipe.execute()
        return (int(value), max(ttl_ms, 0) / 1000) if value is not None else (0, 0.0)

    async def increment(self, key: str, window: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, window, nx=True)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class DatabaseFailureCounter:
    """Counters as rows of the sessions table (`session_id` = key, `data` = count in ASCII)."""

    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._session_maker = session_maker

    async def count(self, key: str) -> tuple[int, float]:
        async with self._session_maker() as session:
            query = select(SessionRecord.data, SessionRecord.expires_at).where(SessionRecord.session_id == key)
            row = (await session.execute(query)).first()
        if row is None:
            return 0, 0.0
        left = (row.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
        return (int(row.data), left) if left > 0 else (0, 0.0)

    @retry_conflicts()  # each attempt has its own session: nothing to reset
    async def increment(self, key: str, window: int) -> None:
        now = dt.datetime.now(dt.UTC)
        for _attempt in range(3):  # a concurrent first failure may insert the row under us: read again
            async with self._session_maker() as session:
                record = await session.scalar(
                    select(SessionRecord).where(SessionRecord.session_id == key).with_for_update()
                )
                if record is None or record.expires_at <= now:
                    if record is not None:
                        await session.delete(record)
                        await session.flush()
                    expires = now + dt.timedelta(seconds=window)
                    session.add(SessionRecord(session_id=key, data=b"1", expires_at=expires))
                else:
                    record.data = str(int(record.data) + 1).encode()
                try:
                    await session.commit()
                except IntegrityError:
                    continue
                return

    async def clear(self, key: str) -> None:
        async with self._session_maker() as session:
            await session.execute(delete(SessionRecord).where(SessionRecord.session_id == key))
            await session.commit()
