"""Alembic environment: runs the migrations over the connection its runner hands in.

Imports nothing from the backend: `cpumon-server migrate` (cpumon_backend.storage.migrations)
passes the models' metadata and the connection in `config.attributes` (see target.py).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from cpumon_database.target import TARGET_KEY, MigrationTarget

config = context.config


def _target() -> MigrationTarget:
    target = config.attributes.get(TARGET_KEY)
    if not isinstance(target, MigrationTarget):
        raise SystemExit("cpumon's migrations run through `cpumon-server migrate`, which hands them their target")
    return target


target = _target()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target.metadata,
        include_object=target.include_object,
        compare_type=target.compare_type,
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
    async with target.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
