"""The two stores of login counters: Redis (Lua scripts) and the `login_attempts` table.

Each key holds two counts: the failures of its window and the password checks running now
(backend/cpumon_backend/auth/throttle.py says how the throttle uses them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import ColumnElement, Update, case, delete, literal, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from cpumon_backend.auth.clock import Clock
from cpumon_backend.auth.models import LoginAttempt
from cpumon_backend.auth.throttle import Limit, Refusal
from cpumon_backend.storage.db import UTCDateTime
from cpumon_backend.storage.retry import retry_conflicts

#: A key that is full only of running checks: try again in about this long.
BUSY = Refusal(1.0, in_flight=True)

#: KEYS = counters (hashes: f = failures, i = checks running), ARGV = [window ms, limit per key...].
#: Returns 0 when reserved, -1 when full of running checks, else the ms until a full key's window ends.
_RESERVE = """
local locked, busy = 0, false
for n, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[n + 1])
  local failed = tonumber(redis.call('HGET', key, 'f') or '0')
  local running = tonumber(redis.call('HGET', key, 'i') or '0')
  if failed >= limit then
    locked = math.max(locked, redis.call('PTTL', key), 1)
  elseif failed + running >= limit then
    busy = true
  end
end
if locked > 0 then return locked end
if busy then return -1 end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'i', 1)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""
#: KEYS = counters, ARGV = [window ms, outcome]: 'failed' counts a failure under every key; 'succeeded'
#: clears the first key's failures (the username's); 'abandoned' only gives the places back.
_SETTLE = """
for n, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, 'i') or '0') > 0 then redis.call('HINCRBY', key, 'i', -1) end
  if ARGV[2] == 'failed' then
    redis.call('HINCRBY', key, 'f', 1)
    if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
  elseif n == 1 and ARGV[2] == 'succeeded' then
    redis.call('HDEL', key, 'f')
  end
  if tonumber(redis.call('HGET', key, 'f') or '0') <= 0 and tonumber(redis.call('HGET', key, 'i') or '0') <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""


class RedisAttemptCounter:
    """Counters as Redis hashes under `<prefix>throttle:`; Redis expires each at its window's end."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}throttle:"
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    def _keys(self, limits: Sequence[Limit]) -> list[str]:
        return [self._prefix + limit.key for limit in limits]

    async def reserve(self, limits: Sequence[Limit], window_s: int) -> Refusal | None:
        args = [window_s * 1000, *(limit.max_attempts for limit in limits)]
        wait_ms = int(await self._reserve(keys=self._keys(limits), args=args))
        if wait_ms == 0:
            return None
        return BUSY if wait_ms < 0 else Refusal(wait_ms / 1000)

    async def settle(self, limits: Sequence[Limit], window_s: int, *, failed: bool) -> None:
        outcome = "failed" if failed else "succeeded"
        await self._settle(keys=self._keys(limits), args=[window_s * 1000, outcome])

    async def abandon(self, limits: Sequence[Limit]) -> None:
        await self._settle(keys=self._keys(limits), args=[0, "abandoned"])


def _upsert(dialect: str, key: str, values: dict[str, Any], on_conflict: dict[str, ColumnElement[Any]]) -> Insert:
    """INSERT `values` for `key`, or UPDATE its row with `on_conflict` (applied in order on MySQL)."""
    row = {"key": key, **values}
    if dialect in {"mysql", "mariadb"}:
        # MySQL applies the assignments in order, each seeing the ones before: the window's end goes last.
        return mysql.insert(LoginAttempt).values(row).on_duplicate_key_update(list(on_conflict.items()))
    return sqlite.insert(LoginAttempt).values(row).on_conflict_do_update(index_elements=["key"], set_=on_conflict)


def _window(now: dt.datetime, window_ends_at: dt.datetime) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """Whether the stored window is over, and the window's end after this statement."""
    expired = LoginAttempt.window_ends_at <= literal(now, UTCDateTime())
    return expired, case((expired, literal(window_ends_at, UTCDateTime())), else_=LoginAttempt.window_ends_at)


def take_place(dialect: str, key: str, now: dt.datetime, window_ends_at: dt.datetime) -> Insert:
    """One statement: one more check running under `key`, in the current window or a new one.

    An upsert on the primary key alone takes one row lock: first attempts arriving together do
    not deadlock on an index, as a read-then-insert would.
    """
    expired, ends = _window(now, window_ends_at)
    return _upsert(
        dialect,
        key,
        {"attempts": 0, "in_flight": 1, "window_ends_at": window_ends_at},
        {
            "attempts": case((expired, 0), else_=LoginAttempt.attempts),
            "in_flight": case((expired, 1), else_=LoginAttempt.in_flight + 1),
            "window_ends_at": ends,
        },
    )


def count_failure(dialect: str, key: str, now: dt.datetime, window_ends_at: dt.datetime) -> Insert:
    """One statement: a running check under `key` ends as a failure of the current window (or of a new one)."""
    expired, ends = _window(now, window_ends_at)
    return _upsert(
        dialect,
        key,
        {"attempts": 1, "in_flight": 0, "window_ends_at": window_ends_at},
        {
            "attempts": case((expired, 1), else_=LoginAttempt.attempts + 1),
            "in_flight": case((expired | (LoginAttempt.in_flight <= 0), 0), else_=LoginAttempt.in_flight - 1),
            "window_ends_at": ends,
        },
    )


def _give_back(keys: Sequence[str]) -> Update:
    return (
        update(LoginAttempt)
        .where(LoginAttempt.key.in_(keys), LoginAttempt.in_flight > 0)
        .values(in_flight=LoginAttempt.in_flight - 1)
    )


def _success(key: str, *, is_username: bool) -> list[Any]:
    """A correct password gives its place back; under the username it also ends the failures.

    The username's row goes unless other checks under it still run (their places must stay).
    """
    if not is_username:
        return [_give_back([key])]
    return [
        delete(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.in_flight <= 1),
        update(LoginAttempt).where(LoginAttempt.key == key).values(attempts=0, in_flight=LoginAttempt.in_flight - 1),
    ]


class DatabaseAttemptCounter:
    """Counters as rows of `login_attempts`, changed in one short transaction per reservation or answer."""

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], dialect: str, clock: Clock) -> None:
        self._session_maker = session_maker
        self._dialect = dialect
        self._clock = clock

    @retry_conflicts()  # one transaction per attempt: a deadlock (or Galera conflict) runs it again
    async def reserve(self, limits: Sequence[Limit], window_s: int) -> Refusal | None:
        now = self._clock()
        ends = now + dt.timedelta(seconds=window_s)
        by_key = {limit.key: limit.max_attempts for limit in limits}
        async with self._session_maker() as session:
            for key in sorted(by_key):  # always the same order: two reservations never wait on each other in a cycle
                await session.execute(take_place(self._dialect, key, now, ends))
            columns = (LoginAttempt.key, LoginAttempt.attempts, LoginAttempt.in_flight, LoginAttempt.window_ends_at)
            rows = (await session.execute(select(*columns).where(LoginAttempt.key.in_(by_key)))).all()
            locked = [(ends_at - now).total_seconds() for key, failed, _, ends_at in rows if failed >= by_key[key]]
            # This check's own place is counted in `running` already: above the limit, it did not fit.
            busy = any(failed + running > by_key[key] for key, failed, running, _ in rows)
            if locked or busy:
                await session.execute(_give_back(list(by_key)))
            await session.commit()
        if locked:
            return Refusal(max(*locked, 0.001))
        return BUSY if busy else None

    @retry_conflicts()
    async def settle(self, limits: Sequence[Limit], window_s: int, *, failed: bool) -> None:
        now = self._clock()
        ends = now + dt.timedelta(seconds=window_s)
        async with self._session_maker() as session:
            for key in sorted(limit.key for limit in limits):  # as in `reserve`: rows locked in one order
                if failed:
                    await session.execute(count_failure(self._dialect, key, now, ends))
                    continue
                for statement in _success(key, is_username=key == limits[0].key):
                    await session.execute(statement)
            await session.commit()

    async def abandon(self, limits: Sequence[Limit]) -> None:
        async with self._session_maker() as session:
            await session.execute(_give_back([limit.key for limit in limits]))
            await session.commit()
