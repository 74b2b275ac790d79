"""Server-side sessions: one behaviour over two stores (the `sessions` table or Redis).

cpumon's sessions have a fixed lifetime from login: a request that does not change its session
costs one indexed read and no write, and its cookie is not re-sent. The id is rotated at login (no
session fixation), the record deleted at logout and the cookie expired (Max-Age=0). A cookie that
is not one of our ids (64 hex digits) is never looked up: no client-chosen value reaches a store.

The stores keep the SHA-256 of the cookie's id, never the id: whoever reads a store (a backup, a
replica, `redis-cli`) holds values that do not open a session when sent as a cookie (they are
hashed once more and found nowhere). The ids are 256 random bits, so a plain hash suffices: there
is nothing to guess, which is what salts and slow hashes defend. Every store call takes the
cookie's id as it is; hashing is the stores' business alone.

Each session names its user, so a user's sessions can be ended at once (`end_sessions_of`: the
user commands of `cpumon-server`), and the database store reads a session only while its user
exists and is not disabled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Protocol

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from redis.asyncio import Redis
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpumon_backend.auth.clock import Clock
from cpumon_backend.auth.connections import hand_back
from cpumon_backend.auth.guards import SESSION_USER_ID, Connection
from cpumon_backend.auth.models import SessionRecord, User
from cpumon_backend.storage.db import request_session

SESSION_ID = re.compile(r"[0-9a-f]{64}")
_ROTATE = "cpumon_rotate_session"
_LOADED = "cpumon_loaded_session"


def rotate_session_id(connection: Connection) -> None:
    """Ask the middleware to store this response's session under a fresh id and drop the old one."""
    connection.state[_ROTATE] = True


def stored_id(session_id: str) -> str:
    """What the stores keep for a cookie's session id: its SHA-256, in hex."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore(Protocol):
    """Where sessions live. Every `session_id` is the cookie's id; what is stored is `stored_id` of it."""

    async def get(self, session_id: str, connection: Connection) -> bytes | None: ...

    async def put(self, session_id: str, data: bytes, lifetime_s: int, user_id: int, connection: Connection) -> None:
        """Store `data` as `user_id`'s session for `lifetime_s` seconds."""

    async def delete(self, session_id: str, connection: Connection) -> None: ...

    async def end_sessions_of(self, user_id: int) -> int:
        """End every session of the user at once; how many there were."""
        ...


#: Ends every session a user has in Redis, atomically (a login storing one meanwhile waits or goes first).
#: KEYS[1]: the user's index; ARGV[1]: the prefix of session keys. Returns how many sessions were ended.
_END_SESSIONS_OF = """
local ended = 0
for _, hashed in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  ended = ended + redis.call('DEL', ARGV[1] .. hashed)
end
redis.call('DEL', KEYS[1])
return ended
"""


#: Stores a session and adds it to its user's index, in one step. KEYS: the session's key, the user's
#: index; ARGV: the data, the hashed id, now (ms), the lifetime (ms). The index lives as long as its
#: longest-lived session (PTTL is -1 for a key without expiry, -2 for none).
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
"""


class RedisSessionStore:
    """Sessions as Redis keys `<prefix>session:<sha256 of the id>`, which Redis expires by itself.

    Each user has an index, the sorted set `<prefix>user-sessions:<user id>` of their sessions'
    hashed ids scored by expiry (ms): `end_sessions_of` deletes what it lists. Each login prunes the
    expired entries and extends the index's own expiry to the new session's, so it holds at most
    the sessions alive now and vanishes with the last of them. A logout leaves its entry until it
    is pruned: deleting a session that is gone costs nothing.

    Keys of the earlier shape (`<prefix>sessions:<id>`, unhashed) are never read: sessions made
    before this version end at the upgrade, and Redis expires those keys within one lifetime.
    """

    def __init__(self, redis: Redis, prefix: str, clock: Clock) -> None:
        self._redis = redis
        self._prefix = f"{prefix}session:"
        self._index_prefix = f"{prefix}user-sessions:"
        self._clock = clock
        self._put = redis.register_script(_PUT)
        self._end_sessions_of = redis.register_script(_END_SESSIONS_OF)

    def _key(self, session_id: str) -> str:
        return self._prefix + stored_id(session_id)

    async def get(self, session_id: str, connection: Connection) -> bytes | None:
        data: bytes | str | None = await self._redis.get(self._key(session_id))
        return data.encode() if isinstance(data, str) else data

    async def put(self, session_id: str, data: bytes, lifetime_s: int, user_id: int, connection: Connection) -> None:
        now_ms = int(self._clock().timestamp() * 1000)
        hashed = stored_id(session_id)
        await self._put(
            keys=[self._prefix + hashed, f"{self._index_prefix}{user_id}"],
            args=[data, hashed, now_ms, lifetime_s * 1000],
        )

    async def delete(self, session_id: str, connection: Connection) -> None:
        await self._redis.delete(self._key(session_id))

    async def end_sessions_of(self, user_id: int) -> int:
        return int(await self._end_sessions_of(keys=[f"{self._index_prefix}{user_id}"], args=[self._prefix]))


#: The session read, built once (every request runs it): one indexed read by primary key, joined to
#: its user by primary key, so a disabled user's session reads as none, and so does a deleted user's
#: (its rows also go with the user: ON DELETE CASCADE).
_READ_SESSION = (
    select(SessionRecord.data, SessionRecord.expires_at)
    .join(User, User.id == SessionRecord.user_id)
    .where(SessionRecord.session_id == bindparam("session_id"), User.disabled_at.is_(None))
)


class DatabaseSessionStore:
    """Sessions as rows of the `sessions` table, keyed by the SHA-256 of the cookie's id.

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

    async def get(self, session_id: str, connection: Connection) -> bytes | None:
        async with self._reader.connect() as db:
            row = (await db.execute(_READ_SESSION, {"session_id": stored_id(session_id)})).first()
        if row is None:
            return None
        data, expires_at = row
        return bytes(data) if expires_at > self._clock() else None

    async def put(self, session_id: str, data: bytes, lifetime_s: int, user_id: int, connection: Connection) -> None:
        await hand_back(request_session(connection.scope))
        expires_at = self._clock() + dt.timedelta(seconds=lifetime_s)
        row = {"session_id": stored_id(session_id), "data": data, "expires_at": expires_at, "user_id": user_id}
        async with self._session_maker() as session:
            # Ids are fresh random values: a plain insert (an id collision would be an error, not a merge).
            await session.execute(insert(SessionRecord).values(**row))
            await session.commit()

    async def delete(self, session_id: str, connection: Connection) -> None:
        await hand_back(request_session(connection.scope))
        async with self._session_maker() as session:
            await session.execute(delete(SessionRecord).where(SessionRecord.session_id == stored_id(session_id)))
            await session.commit()

    async def end_sessions_of(self, user_id: int) -> int:
        async with self._session_maker() as session:
            result = await session.execute(delete(SessionRecord).where(SessionRecord.user_id == user_id))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


class FixedLifetimeSessions(ServerSideSessionBackend):
    """Litestar's server-side session backend over a `SessionStore`, with cpumon's cookie rules."""

    def __init__(self, config: ServerSideSessionConfig, store: SessionStore) -> None:
        super().__init__(config=config)
        self.sessions = store

    def cookie_session_id(self, connection: Connection) -> str | None:
        """The cookie's session id when it has the form of one of ours, else None."""
        value = connection.cookies.get(self.config.key)
        return value if value is not None and SESSION_ID.fullmatch(value) else None

    def get_session_id(self, connection: Connection) -> str:
        return self.cookie_session_id(connection) or ""

    async def load_from_connection(self, connection: Connection) -> dict[str, Any]:
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

    async def store_in_message(self, scope_session: ScopeSession, message: Message, connection: Connection) -> None:
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
        user_id = scope_session.get(SESSION_USER_ID) if isinstance(scope_session, dict) else None
        if not isinstance(user_id, int):  # only a login makes a session, and every session names its user
            raise TypeError("a session must name its user")
        session_id = old_id if old_id and not rotate else self.generate_session_id()
        max_age = int(self.config.max_age)
        data = self.serialize_data(scope_session, connection.scope)
        await self.sessions.put(session_id, data, max_age, user_id, connection)
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
