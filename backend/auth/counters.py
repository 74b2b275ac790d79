"""The two stores of login-attempt counters: Redis (one Lua script) and the `login_attempts` table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Update, case, delete, literal, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from backend.auth.clock import Clock
from backend.auth.models import LoginAttempt
from backend.auth.throttle import Limit
from backend.db import UTCDateTime
from backend.retry import retry_conflicts

#: KEYS = counters, ARGV = [window ms, limit per key...]. Returns 0 when reserved, else ms to wait.
_RESERVE = """
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    wait = math.max(wait, redis.call('PTTL', key), 1)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""
_RELEASE = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisAttemptCounter:
    """Counters as Redis keys under `<prefix>throttle:`; Redis expires each at its window's end."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}throttle:"
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    async def reserve(self, limits: Sequence[Limit], window_s: int) -> float | None:
        keys = [self._prefix + limit.key for limit in limits]
        wait_ms = int(await self._reserve(keys=keys, args=[window_s * 1000, *(lim.max_attempts for lim in limits)]))
        return wait_ms / 1000 if wait_ms > 0 else None

    async def release(self, key: str) -> None:
        await self._release(keys=[self._prefix + key])

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


def count_attempt(dialect: str, key: str, now: dt.datetime, window_ends_at: dt.datetime) -> Insert:
    """One statement: count an attempt under `key`, in the current window or a new one.

    An upsert on the primary key alone takes one row lock: first attempts arriving together do
    not deadlock on an index, as the old read-then-insert did.
    """
    values = {"key": key, "attempts": 1, "window_ends_at": window_ends_at}
    expired = LoginAttempt.window_ends_at <= literal(now, UTCDateTime())
    attempts = case((expired, 1), else_=LoginAttempt.attempts + 1)
    ends = case((expired, literal(window_ends_at, UTCDateTime())), else_=LoginAttempt.window_ends_at)
    if dialect in {"mysql", "mariadb"}:
        # MySQL applies the assignments in order, each seeing the ones before: `attempts` first.
        upsert = mysql.insert(LoginAttempt).values(values)
        return upsert.on_duplicate_key_update([("attempts", attempts), ("window_ends_at", ends)])
    return (
        sqlite.insert(LoginAttempt)
        .values(values)
        .on_conflict_do_update(index_elements=["key"], set_={"attempts": attempts, "window_ends_at": ends})
    )


def _give_back(keys: Sequence[str]) -> Update:
    return (
        update(LoginAttempt)
        .where(LoginAttempt.key.in_(keys), LoginAttempt.attempts > 0)
        .values(attempts=LoginAttempt.attempts - 1)
    )


class DatabaseAttemptCounter:
    """Counters as rows of `login_attempts`, changed in one short transaction per reservation."""

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], dialect: str, clock: Clock) -> None:
        self._session_maker = session_maker
        self._dialect = dialect
        self._clock = clock

    @retry_conflicts()  # one transaction per attempt: a deadlock (or Galera conflict) runs it again
    async def reserve(self, limits: Sequence[Limit], window_s: int) -> float | None:
        now = self._clock()
        ends = now + dt.timedelta(seconds=window_s)
        by_key = {limit.key: limit.max_attempts for limit in limits}
        async with self._session_maker() as session:
            for key in sorted(by_key):  # always the same order: two reservations never wait on each other in a cycle
                await session.execute(count_attempt(self._dialect, key, now, ends))
            rows = (
                await session.execute(
                    select(LoginAttempt.key, LoginAttempt.attempts, LoginAttempt.window_ends_at).where(
                        LoginAttempt.key.in_(by_key)
                    )
                )
            ).all()
            over = [(ends_at - now).total_seconds() for key, count, ends_at in rows if count > by_key[key]]
            if over:
                await session.execute(_give_back(list(by_key)))
            await session.commit()
        return max(*over, 0.001) if over else None

    async def release(self, key: str) -> None:
        await self._run(_give_back([key]))

    async def clear(self, key: str) -> None:
        await self._run(delete(LoginAttempt).where(LoginAttempt.key == key))

    async def _run(self, statement: Any) -> None:
        async with self._session_maker() as session:
            await session.execute(statement)
            await session.commit()
