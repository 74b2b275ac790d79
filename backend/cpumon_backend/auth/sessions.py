"""Server-side sessions: one behaviour over two stores (the `sessions` table or Redis).

cpumon's sessions have a fixed lifetime from login: a request that does not change its session
costs one indexed read and no write, and its cookie is not re-sent. The id is rotated at login (no
session fixation), the record deleted at logout and the cookie expired (Max-Age=0). A cookie that
is not one of our ids (64 hex digits) is never looked up: no client-chosen value reaches a store.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from redis.asyncio import Redis
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpumon_backend.auth.clock import Clock
from cpumon_backend.auth.connections import hand_back
from cpumon_backend.auth.models import SessionRecord
from cpumon_backend.storage.db import request_session

SESSION_ID = re.compile(r"[0-9a-f]{64}")
_ROTATE = "cpumon_rotate_session"
_LOADED = "cpumon_loaded_session"


def rotate_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask the middleware to store this response's session under a fresh id and drop the old one."""
    connection.state[_ROTATE] = True


class SessionStore(Protocol):
    async def get(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> bytes | None: ...

    async def put(
        self, session_id: str, data: bytes, lifetime_s: int, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None: ...

    async def delete(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> None: ...


class RedisSessionStore:
    """Sessions as Redis keys under `<prefix>sessions:`, which Redis expires by itself."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}sessions:"

    async def get(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> bytes | None:
        data: bytes | str | None = await self._redis.get(self._prefix + session_id)
        return data.encode() if isinstance(data, str) else data

    async def put(
        self, session_id: str, data: bytes, lifetime_s: int, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        await self._redis.set(self._prefix + session_id, data, ex=lifetime_s)

    async def delete(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        await self._redis.delete(self._prefix + session_id)


#: The session read, built once (every request runs it): one indexed read by primary key.
_READ_SESSION = select(SessionRecord.data, SessionRecord.expires_at).where(
    SessionRecord.session_id == bindparam("session_id")
)


class DatabaseSessionStore:
    """Sessions as rows of the `sessions` table.

    A row is read in autocommit on a connection of `reader` (the ingest engine): one round trip,
    no transaction to end. It used to be read on the request's ORM session, which cost every
    request (the ingest route included, which never uses that session) an ORM session, a BEGIN
    and the pool's ROLLBACK when the session closed: measured, about a quarter of the server's
    CPU for a single-sample ingest. Routes that do use an ORM session open it when they need it.
    Writes (login, logout) first hand the request's ORM session back (if it has one) and use a
    connection of their own (see cpumon_backend.auth.connections).
    """

    def __init__(self, reader: AsyncEngine, session_maker: async_sessionmaker[AsyncSession], clock: Clock):
        self._reader = reader
        self._session_maker = session_maker
        self._clock = clock

    async def get(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> bytes | None:
        async with self._reader.connect() as db:
            row = (await db.execute(_READ_SESSION, {"session_id": session_id})).first()
        if row is None:
            return None
        data, expires_at = row
        return bytes(data) if expires_at > self._clock() else None

    async def put(
        self, session_id: str, data: bytes, lifetime_s: int, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        await hand_back(request_session(connection.scope))
        expires_at = self._clock() + dt.timedelta(seconds=lifetime_s)
        async with self._session_maker() as session:
            # Ids are fresh random values: a plain insert (an id collision would be an error, not a merge).
            await session.execute(insert(SessionRecord).values(session_id=session_id, data=data, expires_at=expires_at))
            await session.commit()

    async def delete(self, session_id: str, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        await hand_back(request_session(connection.scope))
        async with self._session_maker() as session:
            await session.execute(delete(SessionRecord).where(SessionRecord.session_id == session_id))
            await session.commit()


class FixedLifetimeSessions(ServerSideSessionBackend):
    """Litestar's server-side session backend over a `SessionStore`, with cpumon's cookie rules."""

    def __init__(self, config: ServerSideSessionConfig, store: SessionStore) -> None:
        super().__init__(config=config)
        self.sessions = store

    def cookie_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        """The cookie's session id when it has the form of one of ours, else None."""
        value = connection.cookies.get(self.config.key)
        return value if value is not None and SESSION_ID.fullmatch(value) else None

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        return self.cookie_session_id(connection) or ""

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        session_id = self.cookie_session_id(connection)
        data = None if session_id is None else await self.sessions.get(session_id, connection)
        if data is None:
            return {}
        try:
            loaded = self.deserialize_data(data)
        except ValueError:  # damaged: no session
            return {}
        connection.state[_LOADED] = dict(loaded)
        return loaded

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        old_id = self.cookie_session_id(connection)
        headers = MutableScopeHeaders.from_message(message)
        rotate = bool(connection.state.get(_ROTATE))
        if (rotate or scope_session is Empty) and old_id:
            await self.sessions.delete(old_id, connection)
        if scope_session is Empty or not scope_session:
            if scope_session is Empty and self.config.key in connection.cookies:
                headers.add("Set-Cookie", self._cookie("", max_age=0).to_header(header=""))
            return
        if not rotate and old_id and scope_session == connection.state.get(_LOADED):
            return  # unchanged: no write, no cookie
        session_id = old_id if old_id and not rotate else self.generate_session_id()
        max_age = int(self.config.max_age)
        await self.sessions.put(session_id, self.serialize_data(scope_session, connection.scope), max_age, connection)
        headers.add("Set-Cookie", self._cookie(session_id, max_age=max_age).to_header(header=""))

    def _cookie(self, value: str, *, max_age: int) -> Cookie:
        return Cookie(
            key=self.config.key,
            value=value,
            max_age=max_age,
            expires=0 if max_age == 0 else None,
            path=self.config.path,
            domain=self.config.domain,
            secure=self.config.secure,
            httponly=self.config.httponly,
            samesite=self.config.samesite,
        )

    # Litestar's own store calls are not used: every read and write goes through `self.sessions`.
    async def get(self, session_id: str, store: Store) -> bytes | None:  # pragma: no cover
        raise NotImplementedError

    async def set(self, session_id: str, data: bytes, store: Store) -> None:  # pragma: no cover
        raise NotImplementedError

    async def delete(self, session_id: str, store: Store) -> None:  # pragma: no cover
        raise NotImplementedError
