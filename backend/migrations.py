"""Apply the Alembic migrations in `database/` programmatically."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from alembic import command
from alembic.config import Config

from backend.settings import ServerSettings
from database import MIGRATIONS_DIR


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
