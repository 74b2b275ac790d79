"""A live stream belongs to its session: it closes, sending nothing more, once the session ends.

A stream outlives the request that checked its session, so each worker re-checks the sessions of
its open streams every `live_session_check_interval` seconds: one lookup per distinct session (500
streams of one login cost one lookup), through the session backend's own public lookup by cookie, so
how the store keeps its ids stays its business; and one query for all their users, so a user deleted
from the database loses their streams too. Logout, expiry, a password change or a disabled user all
end the session in the store, which the next check sees. While the store cannot be read, streams are
left open: an outage is not a logout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon_backend.auth.guards import SESSION_USER_ID, Connection
from cpumon_backend.auth.models import User

logger = logging.getLogger("cpumon.server")


class SessionLookup(Protocol):
    """What the session middleware's backend offers (cpumon_backend.auth.sessions.FixedLifetimeSessions)."""

    def cookie_session_id(self, connection: Connection) -> str | None: ...

    async def load_from_connection(self, connection: Connection) -> dict[str, Any]: ...


@dataclass(eq=False)
class WatchedStream:
    """One open stream: the request that opened it, its user, and how to end it."""

    connection: Connection
    user_id: int
    end: Callable[[], None]


class SessionWatch:
    """The open streams of this worker by session id, and the task that checks their sessions."""

    def __init__(self, sessions: SessionLookup, engine: AsyncEngine, interval: float) -> None:
        self._sessions = sessions
        self._engine = engine
        self._interval = interval
        self._streams: dict[str, set[WatchedStream]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watching(self, connection: Connection, user_id: int, end: Callable[[], None]) -> Iterator[None]:
        """Watch the session of `connection` for the block; `end()` is called when it ends."""
        session_id = self._sessions.cookie_session_id(connection)
        if session_id is None:  # behind the login guard a cookie is there; without one, no stream
            end()
            yield
            return
        stream = WatchedStream(connection, user_id, end)
        self._streams.setdefault(session_id, set()).add(stream)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._check_periodically(), name="live session watch")
        try:
            yield
        finally:
            streams = self._streams.get(session_id, set())
            streams.discard(stream)
            if not streams:
                self._streams.pop(session_id, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _check_periodically(self) -> None:
        while self._streams:  # ends with the last stream; the next stream starts it again
            await asyncio.sleep(self._interval)
            await self.check()

    async def check(self) -> None:
        """End every stream whose session ended or whose user is gone."""
        for streams in list(self._streams.values()):
            holder = await self._session_user(next(iter(streams)).connection)
            if holder is not None:
                _end_unless(streams, {holder})
        user_ids = {stream.user_id for streams in self._streams.values() for stream in streams}
        if not user_ids:
            return
        try:
            async with self._engine.connect() as connection:
                found = set((await connection.scalars(select(User.id).where(User.id.in_(user_ids)))).all())
        except Exception as exc:  # the database is away: the feeds say so; check again next round
            logger.debug("live session watch: users not read (%s)", exc)
            return
        for streams in list(self._streams.values()):
            _end_unless(streams, found)

    async def _session_user(self, connection: Connection) -> int | None:
        """The user id the session holds now (0 when it ended), or None when the store cannot say."""
        try:
            session = await self._sessions.load_from_connection(connection)
        except Exception as exc:  # the store is away: an outage is not a logout
            logger.debug("live session watch: session not read (%s)", exc)
            return None
        user_id = session.get(SESSION_USER_ID)
        return user_id if isinstance(user_id, int) else 0


def _end_unless(streams: Iterable[WatchedStream], users: set[int]) -> None:
    """End the streams whose user is not one of `users`."""
    for stream in list(streams):
        if stream.user_id not in users:
            stream.end()
