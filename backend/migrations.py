"""Apply the Alembic migrations in `database/` programmatically."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from advanced_alchemy.types import GUID
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Column
from sqlalchemy.types import TypeEngine

from backend.settings import ServerSettings
from database import MIGRATIONS_DIR

# advanced-alchemy's session mixin declares this index for Cloud Spanner only (ddl_if); we never create it.
_SPANNER_ONLY = {"ix_sessions_session_id_unique"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter: what autogenerate and the drift test compare."""
    return not (type_ == "index" and name in _SPANNER_ONLY)


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


def alembic_config(settings: ServerSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: ServerSettings, revision: str = "head") -> None:
    """Bring the database to `revision`."""
    _outside_event_loop(lambda: command.upgrade(alembic_config(settings), revision))


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
