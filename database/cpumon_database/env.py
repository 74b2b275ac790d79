"""Alembic environment: runs migrations over the app's own async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from cpumon_backend.storage.migrations import compare_type, hold_sqlite_write_lock, include_object
from cpumon_backend.storage.models import metadata

config = context.config


def _run(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite alters a table by copying it and dropping the old one; with foreign keys on, that
        # drop would cascade to every child row (users -> test_runs -> cpu_usage). Off for this
        # connection only, set before any transaction begins (inside one, SQLite ignores it).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        hold_sqlite_write_lock(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        compare_type=compare_type,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    migration = context.get_context()
    # Read under the migration lock: read before it, every replica migrating at once would find the
    # database empty (and say it created the schema) although only the first one did.
    before = migration.get_current_revision()
    with context.begin_transaction():
        context.run_migrations()
    config.attributes["revisions"] = (before, migration.get_current_revision())


async def _run_online() -> None:
    from cpumon_backend.settings import ServerSettings  # noqa: PLC0415
    from cpumon_backend.storage.db import create_engine  # noqa: PLC0415 - keeps `alembic` importable without settings
    from cpumon_backend.storage.migrations import migration_lock  # noqa: PLC0415

    settings = config.attributes.get("settings") or ServerSettings()
    engine = create_engine(settings)
    try:
        # One migrator at a time, however many replicas run `cpumon-server migrate` at once.
        async with migration_lock(engine), engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
