"""Server-side sessions: one behaviour over two stores (a database table or Redis).

Litestar's stock middleware writes the session back and re-sends the cookie on every response, and
advanced-alchemy's backend renews the row on every read. cpumon's sessions have a fixed lifetime
from login, so a request that does not change its session costs one indexed read and no write.
The id is rotated at login (no session fixation) and the row deleted at logout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any

from advanced_alchemy.extensions.litestar.session import SQLAlchemyAsyncSessionBackend
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import SessionRecord

#: Session ids the middleware must never load: the login throttle keeps its counters under this prefix.
RESERVED_PREFIX = "throttle:"
_ROTATE = "cpumon_rotate_session"
_NEW_ID = "cpumon_new_session_id"
_LOADED = "cpumon_loaded_session"


def rotate_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask the middleware to store this response's session under a fresh id and drop the old one."""
    connection.state[_ROTATE] = True


class _FixedLifetimeSessions(ServerSideSessionBackend):
    """What both stores share: rotation, no write for an unchanged session, no cookie for no session."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.state.get(_ROTATE):
            if not connection.state.get(_NEW_ID):
                connection.state[_NEW_ID] = self.generate_session_id()
            return str(connection.state[_NEW_ID])
        return super().get_session_id(connection)

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        if not session_id or session_id.startswith(RESERVED_PREFIX):
            return {}
        loaded = await super().load_from_connection(connection)
        connection.state[_LOADED] = dict(loaded)
        return loaded

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        old_id = connection.cookies.get(self.config.key)
        if connection.state.get(_ROTATE):
            if old_id and not old_id.startswith(RESERVED_PREFIX):
                await self.delete(old_id, store=self._store(connection))
            await super().store_in_message(scope_session, message, connection)
            return
        if scope_session is Empty:
            if old_id:
                await super().store_in_message(scope_session, message, connection)
            return
        unchanged = scope_session == connection.state.get(_LOADED, {})
        if unchanged or not scope_session:
            return
        await super().store_in_message(scope_session, message, connection)

    def _store(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Store:
        return self.config.get_store_from_app(connection.scope["app"])


class StoreSessionBackend(_FixedLifetimeSessions):
    """Sessions in a Litestar store (Redis), which expires them by itself."""


class DatabaseSessionBackend(_FixedLifetimeSessions, SQLAlchemyAsyncSessionBackend):
    """Sessions in the `sessions` table through advanced-alchemy's backend, read without renewing.

    The row is read on the request's own database session, whose connection the handler then uses
    anyway: no second pool checkout (with its ping and two rollbacks) on every request. Before a
    write (login, logout), the request's session is rolled back, which returns its connection to the
    pool; the plugin would close it uncommitted a moment later anyway. So a login never waits for a
    second connection while holding one, which deadlocked a full pool under concurrent logins.
    """

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        token = _CONNECTION.set(connection)
        try:
            return await super().load_from_connection(connection)
        finally:
            _CONNECTION.reset(token)

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        token = _CONNECTION.set(connection)
        try:
            await super().store_in_message(scope_session, message, connection)
        finally:
            _CONNECTION.reset(token)

    def _request_db(self) -> AsyncSession | None:
        connection = _CONNECTION.get()
        return None if connection is None else self.alchemy.provide_session(connection.app.state, connection.scope)

    async def get(self, /, session_id: str, store: Store) -> bytes | None:
        now = dt.datetime.now(dt.UTC)
        stmt = select(SessionRecord.data, SessionRecord.expires_at).where(SessionRecord.session_id == session_id[:255])
        request_db = self._request_db()
        if request_db is not None:
            row = (await request_db.execute(stmt)).first()
        else:
            async with self.alchemy.get_session() as db_session:
                row = (await db_session.execute(stmt)).first()
        if row is None:
            return None
        data, expires_at = row
        return data if expires_at > now else None

    async def set(self, /, session_id: str, data: bytes, store: Store) -> None:
        await self._release_request_db()
        await super().set(session_id, data, store)

    async def delete(self, /, session_id: str, store: Store) -> None:
        await self._release_request_db()
        await super().delete(session_id, store)

    async def _release_request_db(self) -> None:
        request_db = self._request_db()
        if request_db is not None:
            await request_db.rollback()


#: The connection whose session is being loaded or stored (set around those two calls only).
_CONNECTION: ContextVar[ASGIConnection[Any, Any, Any, Any] | None] = ContextVar(
    "cpumon_session_connection", default=None
)


#: How often the database backend deletes expired sessions and throttle counters.
PURGE_EVERY_S = 600.0


async def purge_expired(session_maker: async_sessionmaker[AsyncSession]) -> int:
    """Delete the expired rows of the sessions table (sessions and throttle counters alike)."""
    async with session_maker() as db_session:
        result: Any = await db_session.execute(
            delete(SessionRecord).where(SessionRecord.expires_at < dt.datetime.now(dt.UTC))
        )
        await db_session.commit()
    return int(result.rowcount)


def purge_periodically(
    session_maker: async_sessionmaker[AsyncSession], every_s: float = PURGE_EVERY_S
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook that purges expired rows while the app runs (Redis expires keys itself)."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                # A database that is down now is retried at the next round.
                with contextlib.suppress(Exception):
                    await purge_expired(session_maker)
                await asyncio.sleep(every_s)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
