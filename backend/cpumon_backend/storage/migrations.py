"""Apply the Alembic migrations in `database/` programmatically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from advanced_alchemy.types import GUID
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, delete, func, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeEngine

from cpumon_backend.http.errors import DEADLOCK, driver_error_number
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from cpumon_backend.storage.models import metadata
from cpumon_database import MIGRATIONS_DIR
from cpumon_database.target import TARGET_KEY, MigrationTarget

# advanced-alchemy's session mixin declares this index for Cloud Spanner only (ddl_if); we never create it.
_SPANNER_ONLY = {"ix_sessions_session_id_unique"}

logger = logging.getLogger("cpumon.server")

#: The row whose holder may migrate: one at a time, over every replica and every Galera node.
LOCK_TABLE = "cpumon_migration_lock"
LOCK_TTL_S = 900  # a migrator killed mid-way leaves its row; it is taken over once this has passed
LOCK_WAIT_S = 1800.0
_DUPLICATE_KEY = 1062


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter: what autogenerate and the drift test compare."""
    if type_ == "table" and name == LOCK_TABLE:
        return False
    return not (type_ == "index" and name in _SPANNER_ONLY)


#: Not in the app's metadata: Alembic neither creates nor compares it.
_lock = Table(
    LOCK_TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(32), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # Unix seconds
)


@contextlib.asynccontextmanager
async def migration_lock(engine: AsyncEngine, *, wait_s: float = LOCK_WAIT_S) -> AsyncIterator[None]:
    """Hold the cluster-wide migration lock (MySQL/MariaDB; on SQLite the migrating connection itself
    holds the database's write lock for the whole migration: see `hold_sqlite_write_lock`).

    GET_LOCK() is not cluster-wide on Galera (it locks on one node), so the lock is a committed row:
    whoever inserts it first holds it; the others get a duplicate key (or, when their insert raced
    on another node, a certification conflict) and wait for it to be deleted.
    """
    if engine.dialect.name == "sqlite":
        yield
        return
    holder = uuid.uuid4().hex
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(CreateTable(_lock, if_not_exists=True))
        await _acquire(autocommit, holder, wait_s)
        try:
            yield
        finally:
            await autocommit.execute(delete(_lock).where(_lock.c.id == 1, _lock.c.holder == holder))


async def _acquire(connection: AsyncConnection, holder: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    expires = func.unix_timestamp() + LOCK_TTL_S
    said = False
    while True:
        await connection.execute(delete(_lock).where(_lock.c.expires_at < func.unix_timestamp()))
        try:
            await connection.execute(insert(_lock).values(id=1, holder=holder, expires_at=expires))
            return
        except DBAPIError as exc:
            if driver_error_number(exc) not in {_DUPLICATE_KEY, DEADLOCK} or time.monotonic() > deadline:
                raise
        if not said:
            logger.info("another replica is migrating the database: waiting for it")
            said = True
        await asyncio.sleep(0.2)


def hold_sqlite_write_lock(connection: Connection, wait_s: float = LOCK_WAIT_S) -> None:
    """Take SQLite's write lock on the migrating connection until it commits (BEGIN IMMEDIATE).

    SQLite runs DDL outside a transaction unless one is open: two migrators would each create the
    tables and one would fail with "table already exists". Each wait is the driver's busy timeout.
    """
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
        if not said:
            logger.info("another process is migrating the database: waiting for it")
            said = True


def compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, minus one false alarm: SQLite reflects BINARY(16) UUIDs as NUMERIC."""
    if context.dialect.name == "sqlite" and isinstance(metadata_type, GUID):
        return False
    return None  # alembic's own comparison


@contextlib.asynccontextmanager
async def migrating_connection(settings: ServerSettings) -> AsyncIterator[AsyncConnection]:
    """A connection of the app's own engine, held by the one migrator allowed at a time."""
    engine = create_engine(settings)
    try:
        # One migrator at a time, however many replicas run `cpumon-server migrate` at once.
        async with migration_lock(engine), engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                await connection.run_sync(_prepare_sqlite)
            yield connection
    finally:
        await engine.dispose()


def _prepare_sqlite(connection: Connection) -> None:
    # SQLite alters a table by copying it and dropping the old one; with foreign keys on, that
    # drop would cascade to every child row (users -> test_runs -> cpu_usage). Off for this
    # connection only, set before any transaction begins (inside one, SQLite ignores it).
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    hold_sqlite_write_lock(connection)


def alembic_config(settings: ServerSettings) -> Config:
    """Alembic's configuration, with the target that database/cpumon_database/env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes[TARGET_KEY] = MigrationTarget(
        metadata=metadata,
        connect=lambda: migrating_connection(settings),
        include_object=include_object,
        compare_type=compare_type,
    )
    return config


def head_revision() -> str:
    """The latest revision in database/cpumon_database/versions."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError("database/cpumon_database/versions has no migration")
    return head


def upgrade(settings: ServerSettings, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to `revision`; the revisions it was at before and after (None: no schema).

    Both are read under the migration lock (in database/cpumon_database/env.py), so of several migrators started at
    once exactly one sees the revision it changed.
    """
    config = alembic_config(settings)
    _outside_event_loop(lambda: command.upgrade(config, revision))
    before, after = config.attributes["revisions"]
    return before, after


def downgrade(settings: ServerSettings, revision: str = "base") -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(settings), revision))


def _outside_event_loop(fn: Callable[[], None]) -> None:
    """Run `fn` here, or in a worker thread when this thread already runs an event loop.

    env.py calls asyncio.run(), which refuses to nest inside a running loop (pytest-asyncio, the app).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
