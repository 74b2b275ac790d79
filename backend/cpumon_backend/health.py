"""GET /health (the process answers) and GET /ready (the database can serve requests).

/ready is a list of small checks, each answering why the database cannot serve (or None): a load
balancer sends requests only to a replica whose checks all pass. The same checks run once at
startup and log what they find: a server on an unmigrated database, or with a wrong password,
says so in its log at once, with the driver's own message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from litestar import Litestar, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cpumon_backend.http.errors import Failure, classify, driver_error_number, driver_message, unavailable_response
from cpumon_backend.storage.db import on_galera

logger = logging.getLogger("cpumon.server")

READY_TIMEOUT_S = 3.0

#: One readiness check: None when fine, else what is wrong (said in the 503's detail).
ReadyCheck = Callable[[AsyncConnection], Awaitable[str | None]]


async def galera_synced(connection: AsyncConnection) -> str | None:
    """On a Galera node: it must be Primary and Synced, not joining, donating or being evicted."""
    if not on_galera(connection):
        return None
    # SHOW is answered even by a node that is not ready; wsrep_sync_wait=0: never wait for the cluster.
    rows = await connection.execute(
        text(
            "SET STATEMENT wsrep_sync_wait=0 FOR SHOW GLOBAL STATUS "
            "WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')"
        )
    )
    status = {name.lower(): str(value) for name, value in rows.all()}
    ready, state = status.get("wsrep_ready", "OFF"), status.get("wsrep_local_state_comment", "unknown")
    if ready.upper() != "ON" or state != "Synced":
        return f"database node not ready: Galera wsrep_ready={ready}, state {state}"
    return None


async def answers_a_query(connection: AsyncConnection) -> str | None:
    await connection.execute(text("SELECT 1"))
    return None


#: Below this much free space where an SQLite database lives, its next writes fail ("database or disk
#: is full") while reads still answer: /ready says so instead of sending ingest to a replica that
#: cannot store it. A MariaDB server's disk is the server's own to report.
SQLITE_MIN_FREE_BYTES = 1 << 20


def _free_space_beside(database: str) -> tuple[Path, int]:
    """The folder of a database file and the bytes free there (one statvfs: no thread needed)."""
    folder = Path(database).resolve().parent
    return folder, shutil.disk_usage(folder).free


async def sqlite_disk_has_room(connection: AsyncConnection) -> str | None:
    """On SQLite: the file system holding the database file has room for the next writes."""
    database = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    folder, free = _free_space_beside(database)
    if free < SQLITE_MIN_FREE_BYTES:
        return f"database disk full: {free} bytes free in {folder}"
    return None


MIGRATE = "run `cpumon-server migrate`"
ACCESS_DENIED = frozenset({1045, 1698})  # a wrong password; an account that cannot log in over TCP


@functools.cache
def head_revision() -> str:
    """The newest migration this server ships (read once from the migration scripts)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - only the server reads migrations

    from cpumon_database import MIGRATIONS_DIR  # noqa: PLC0415

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() or "base"


async def stored_revision(connection: AsyncConnection) -> str | None:
    """The schema's migration revision, or None when the database has no cpumon schema."""
    try:
        revision: str | None = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError as exc:
        if "alembic_version" not in str(exc.orig):  # not "no such table" / "doesn't exist"
            raise
        return None
    return revision


@functools.cache
def is_older_revision(revision: str) -> bool:
    """True when `revision` is one of this server's migrations before its newest (not one it does not know,
    which a newer server applied)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

    from cpumon_database import MIGRATIONS_DIR  # noqa: PLC0415

    try:
        ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision)
    except CommandError:
        return False
    return revision != head_revision()


async def schema_is_current(connection: AsyncConnection) -> str | None:
    """The schema must be at this server's newest migration: an older one fails every login with 503."""
    revision = await stored_revision(connection)
    if revision is None:
        return f"the database has no cpumon schema: {MIGRATE}"
    if revision != head_revision():
        return f"the database schema is at revision {revision}, this server needs {head_revision()}: {MIGRATE}"
    return None


async def schema_is_behind(connection: AsyncConnection) -> str | None:
    """What `schema_is_current` says when the schema is missing or older than this server's; None when it
    is current, or newer (a newer server migrated it: this one keeps serving until it is replaced)."""
    revision = await stored_revision(connection)
    if revision is None or is_older_revision(revision):
        return await schema_is_current(connection)
    return None


READY_CHECKS: Sequence[ReadyCheck] = (galera_synced, answers_a_query, sqlite_disk_has_room, schema_is_current)


async def readiness_problem(engine: AsyncEngine) -> str | None:
    """None when every check passes, else what is wrong in one line (the driver's message is logged)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), engine.connect() as connection:
            for check in READY_CHECKS:
                problem = await check(connection)
                if problem is not None:
                    return problem
    except TimeoutError:
        return Failure.UNAVAILABLE.value
    except Exception as exc:
        failure = classify(exc)
        if failure is None:
            raise
        logger.warning("not ready: %s", driver_message(exc))
        if driver_error_number(exc) in ACCESS_DENIED:  # a setting to fix, not an outage to wait out
            return f"database unavailable: {driver_message(exc)}; check CPUMON_DATABASE_URL"
        return failure.value
    return None


def check_at_startup(engine: AsyncEngine) -> Callable[[Litestar], Awaitable[None]]:
    """An on_startup hook: log, in one line, why the server is not ready yet (it starts anyway)."""

    async def check(_: Litestar) -> None:
        problem = await readiness_problem(engine)
        if problem is not None:
            logger.error("cpumon-server: %s", problem)

    return check


@get("/health", summary="Liveness: the process answers", tags=["health"], opt={"skip_session": True})
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    summary="Readiness: the database can serve, its schema is current (on Galera: this node is Synced); 503 when not",
    tags=["health"],
    opt={"skip_session": True},
    responses={503: ResponseSpec(data_container=dict[str, Any], description="database unavailable")},
)
async def ready(db_engine: NamedDependency[AsyncEngine]) -> Response[dict[str, Any]]:
    problem = await readiness_problem(db_engine)
    return Response({"status": "ready"}) if problem is None else unavailable_response(problem)
