"""Database plumbing: the column types every model shares, the engine, and the advanced-alchemy config."""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Any

from advanced_alchemy.base import orm_registry
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cpumon_backend.http.errors import CANNOT_CONNECT, CONNECTION_LOST, raw_error_number
from cpumon_backend.settings import ServerSettings

UTC = dt.UTC

#: One MetaData for every table (advanced-alchemy's registry carries the naming convention).
metadata: MetaData = orm_registry.metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime stored naive in UTC, with microseconds on every backend.

    advanced-alchemy's DateTimeUTC maps to MySQL's DATETIME without fractional seconds, which would
    drop the microseconds of every sample; this type asks for DATETIME(6) there.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime: cpumon stores aware UTC timestamps only"
            raise ValueError(msg)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


#: BIGINT AUTO_INCREMENT on MySQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class BigIntIdMixin:
    # advanced-alchemy's BigIntBase attaches a SEQUENCE, which MariaDB would then require to exist.
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True, sort_order=-10)


class CreatedAtMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, sort_order=10)


class AuditMixin(CreatedAtMixin):
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False, sort_order=11
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLite leaves foreign keys off per connection: without this, ON DELETE CASCADE does nothing.
    # WAL lets readers (CSV export, summaries) run while a batch is being written.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(settings: ServerSettings, *, autocommit: bool = False, pool_size: int | None = None) -> AsyncEngine:
    """The async engine for the configured URL, with the pool and per-dialect settings cpumon relies on.

    No pre-ping: it would cost a round trip on every checkout. A connection the server dropped
    fails its next statement instead; SQLAlchemy then invalidates the whole pool, that request
    answers 503 (the agent retries it) and the next ones get fresh connections.

    `pool_size` overrides CPUMON_DATABASE_POOL_SIZE (with no overflow): the export engine's small pool.
    `autocommit=True` makes the ingest engine: every statement commits by itself, so there is no
    COMMIT round trip and nothing for the pool to roll back when a connection is returned.
    `skip_autocommit_rollback` matters as much as `pool_reset_on_return=None`: closing a SQLAlchemy
    connection still ends its (implicit) transaction with the driver's rollback(), and asyncmy sends
    a ROLLBACK over the wire even in autocommit mode, one round trip per request for nothing.
    """
    url = settings.database_url.get_secret_value()
    options: dict[str, Any] = {"hide_parameters": True}  # values (session ids, hashes) never reach a log
    if autocommit:
        options |= {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None, "skip_autocommit_rollback": True}
    if settings.database_dialect == "sqlite":
        path = settings.sqlite_path()
        if path is not None:
            create_private_file(path)
        engine = create_async_engine(url, connect_args={"timeout": 5}, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    engine = create_async_engine(
        url,
        pool_recycle=1800,
        pool_size=pool_size or settings.database_pool_size,
        max_overflow=0 if pool_size else settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout,
        connect_args={
            "connect_timeout": settings.database_connect_timeout,
            "charset": "utf8mb4",
            "cursor_cls": _quiet_cursor_class(),
        },
        **options,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_failure_as_driver_error)
    event.listen(engine.sync_engine, "connect", _mysql_on_connect)
    event.listen(engine.sync_engine, "handle_error", _drop_unusable_connection)
    return engine


#: What cpumon creates for an SQLite database: a folder and a file only their owner may open.
#: (SQLite gives the -wal and -shm files it creates beside the database the database file's mode.)
PRIVATE_FOLDER_MODE, PRIVATE_FILE_MODE = 0o700, 0o600


def create_private_file(path: Path) -> None:
    """Create `path` empty (mode 0600), and its folder (0700), unless they exist: those keep their modes.

    An empty file is a valid, empty SQLite database. Left to SQLite, the file would get the umask's
    mode (often 0644, readable by every local user: password hashes, sessions, every run).
    """
    folder = path.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=PRIVATE_FOLDER_MODE)
    except FileExistsError:
        pass
    else:
        folder.chmod(PRIVATE_FOLDER_MODE)  # whatever the umask left of it
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)


def _connect_failure_as_driver_error(dialect: Dialect, record: Any, cargs: Any, cparams: Any) -> Any:
    """Connect as the dialect would, with every failure to connect raised as the driver's error 2003.

    asyncmy raises a bare RuntimeError ("Transport does not expose socket instance") when the server (or
    a proxy in front of it) closes the connection before the handshake; SQLAlchemy does not know that
    type, so a database outage would answer 500 instead of 503.
    """
    dbapi = dialect.loaded_dbapi
    try:
        return dbapi.connect(*cargs, **cparams)
    except RuntimeError as exc:
        host = cparams.get("host", "?")
        raise dbapi.OperationalError(CANNOT_CONNECT, f"Can't connect to MySQL server on {host!r} ({exc})") from exc


@functools.cache  # one class for every engine
def _quiet_cursor_class() -> type[Any]:
    """asyncmy's cursor without its warnings round trip.

    After any statement that leaves warnings, asyncmy's cursor asks the server for them (SHOW WARNINGS:
    one more round trip) and logs each one. cpumon's ingest is an INSERT IGNORE, so an agent resending
    a batch it is not sure was stored warns by design; nothing in cpumon reads warnings.
    """
    from asyncmy.cursors import Cursor  # noqa: PLC0415 - the SQLite-only server need not import it

    class QuietCursor(Cursor):
        async def _show_warnings(self, conn: Any) -> None:
            return None

    return QuietCursor


#: Key in a pooled connection's `info`: True when its server is a Galera cluster node.
GALERA = "cpumon_galera"


def _mysql_on_connect(dbapi_connection: Any, record: Any) -> None:
    # Detected per connection, nothing to configure. SHOW is answered even by a node that is not ready.
    cursor = dbapi_connection.cursor()
    cursor.execute("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'")
    row = cursor.fetchone()
    galera = row is not None and str(row[1]).upper() == "ON"
    record.info[GALERA] = galera
    if galera:
        # Read-your-writes across replicas: reads (1) and UPDATE/DELETE (2) first wait until this node
        # has applied every write the cluster committed before them, so a run or session created
        # through another replica is found at once. Writes are ordered by certification already.
        cursor.execute("SET SESSION wsrep_sync_wait = 3")
    cursor.close()


def _drop_unusable_connection(context: ExceptionContext) -> None:
    """A connection whose server refuses to serve (a Galera node not Primary or joining, a shutdown) is dropped.

    Marked as a disconnect, it is invalidated instead of rolled back: such a node refuses even the
    ROLLBACK at the end of the request, which would turn a 503 into a 500.
    """
    if raw_error_number(context.original_exception) in CONNECTION_LOST:
        context.is_disconnect = True


def on_galera(connection: AsyncConnection) -> bool:
    """True when `connection` is to a Galera cluster node (found when the connection was opened)."""
    return bool(connection.info.get(GALERA, False))


#: Where a request's database session is noted in its ASGI scope's state (see `request_session`).
REQUEST_SESSION_KEY = "cpumon_db_session"


class RequestSessionConfig(SQLAlchemyAsyncConfig):
    """advanced-alchemy's Litestar config that also notes each request's session where cpumon can find it.

    The library keeps it under a private key of the scope, read only through its private helpers;
    the deadline middleware needs it to drop a session whose connection may hang.
    """

    def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        session = super().provide_session(state, scope)
        scope.setdefault("state", {})[REQUEST_SESSION_KEY] = session
        return session


def request_session(scope: Scope) -> AsyncSession | None:
    """The database session this request has opened, if any."""
    session: AsyncSession | None = (scope.get("state") or {}).get(REQUEST_SESSION_KEY)
    return session


def create_alchemy_config(engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's Litestar config over our engine. Schema comes from Alembic only."""
    return RequestSessionConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        create_all=False,
        metadata=metadata,
        set_default_exception_handler=False,
    )
