"""Where sessions and login counters live (the database or Redis): chosen once, in one small object.

`build_auth_storage` returns an `AuthStorage` that the app factory plugs in as it is: the session
middleware's backend, the login throttle, the lifespan hook that purges expired rows (database
only; Redis expires keys itself) and what to close at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from litestar import Litestar
from litestar.middleware.session.server_side import ServerSideSessionConfig
from pydantic import SecretStr
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpumon_backend.auth.clock import Clock, system_clock
from cpumon_backend.auth.counters import DatabaseAttemptCounter, RedisAttemptCounter
from cpumon_backend.auth.models import LoginAttempt, SessionRecord
from cpumon_backend.auth.sessions import DatabaseSessionStore, FixedLifetimeSessions, RedisSessionStore, SessionStore
from cpumon_backend.auth.throttle import LoginThrottle
from cpumon_backend.settings import ServerSettings

logger = logging.getLogger("cpumon.server")

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]

#: How often the database backend deletes expired sessions and login counters.
PURGE_EVERY_S = 600.0

#: Seconds one Redis command (or connecting) may take before the request answers 503.
REDIS_SOCKET_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AuthStorage:
    sessions: FixedLifetimeSessions
    throttle: LoginThrottle
    lifespan: list[Lifespan] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def session_config(settings: ServerSettings, extra_exclude: Sequence[str] = ()) -> ServerSideSessionConfig:
    return ServerSideSessionConfig(
        key=settings.session_cookie_name,
        max_age=settings.session_lifetime,
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
        exclude=["^/health$", "^/ready$", "^/schema", *extra_exclude],
    )


def build_auth_storage(
    settings: ServerSettings,
    engine: AsyncEngine,
    reader: AsyncEngine,
    clock: Clock = system_clock,
    extra_exclude: Sequence[str] = (),
) -> AuthStorage:
    """`engine` for writes (sessions, login counters), `reader`, an autocommit engine, for session reads."""
    config = session_config(settings, extra_exclude)

    def throttle(counter: DatabaseAttemptCounter | RedisAttemptCounter) -> LoginThrottle:
        return LoginThrottle(
            counter, settings.login_max_failures, settings.login_address_max_failures, settings.login_window
        )

    if settings.session_redis_url is not None:
        redis = redis_client(settings, settings.session_redis_url)
        prefix = redis_prefix(settings)
        return AuthStorage(
            sessions=FixedLifetimeSessions(config, RedisSessionStore(redis, prefix, clock)),
            throttle=throttle(RedisAttemptCounter(redis, prefix)),
            on_shutdown=[redis.aclose],
        )
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    return AuthStorage(
        sessions=FixedLifetimeSessions(config, DatabaseSessionStore(reader, session_maker, clock)),
        throttle=throttle(DatabaseAttemptCounter(session_maker, engine.dialect.name, clock)),
        lifespan=[purge_periodically(session_maker, clock)],
    )


def redis_client(settings: ServerSettings, url: SecretStr) -> Redis:
    """The worker's Redis client (sessions, login counters), with a pool that waits for a free connection.

    A burst beyond the pool waits, each request for at most CPUMON_SESSION_REDIS_POOL_TIMEOUT s (then
    503 with Retry-After), instead of failing at once as redis-py's default pool does. The pool's size
    bounds this worker's connections to Redis; each command is bounded by the socket timeout.
    """
    pool = BlockingConnectionPool.from_url(
        url.get_secret_value(),
        max_connections=settings.session_redis_pool_size,
        timeout=settings.session_redis_pool_timeout,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
    )
    return Redis.from_pool(pool)


def redis_prefix(settings: ServerSettings) -> str:
    return f"{settings.session_redis_prefix}:"


@asynccontextmanager
async def open_session_store(
    settings: ServerSettings, engine: AsyncEngine, clock: Clock = system_clock
) -> AsyncIterator[SessionStore]:
    """The configured session store outside the server (the user commands of `cpumon-server`), closed after."""
    if settings.session_redis_url is None:
        yield DatabaseSessionStore(engine, async_sessionmaker(engine, expire_on_commit=False), clock)
        return
    redis = redis_client(settings, settings.session_redis_url)
    try:
        yield RedisSessionStore(redis, redis_prefix(settings), clock)
    finally:
        await redis.aclose()


async def purge_expired(session_maker: async_sessionmaker[AsyncSession], clock: Clock = system_clock) -> int:
    """Delete expired sessions and login counters; how many rows went."""
    now = clock()
    purged = 0
    async with session_maker() as db_session:
        for statement in (
            delete(SessionRecord).where(SessionRecord.expires_at < now),
            delete(LoginAttempt).where(LoginAttempt.window_ends_at < now),
        ):
            result = await db_session.execute(statement)
            purged += int(getattr(result, "rowcount", 0) or 0)
        await db_session.commit()
    return purged


def purge_periodically(
    session_maker: async_sessionmaker[AsyncSession], clock: Clock = system_clock, every_s: float = PURGE_EVERY_S
) -> Lifespan:
    """A lifespan hook that purges expired rows while the app runs; a shutdown never waits on it."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await purge_expired(session_maker, clock)
                except Exception as exc:  # a database that is down now is tried again at the next round
                    logger.warning("purging expired sessions failed: %s", exc)
                await asyncio.sleep(every_s)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            # A purge stuck on a dead connection must not hold the shutdown: wait a moment, then go.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=2.0)

    return lifespan
