"""GET /health (the process answers) and GET /ready (the database can serve requests).

/ready is a list of small checks, each answering why the database cannot serve (or None): a load
balancer sends requests only to a replica whose checks all pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.db import on_galera
from backend.errors import classify, driver_message, unavailable_response

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


READY_CHECKS: Sequence[ReadyCheck] = (galera_synced, answers_a_query)


@get("/health", summary="Liveness: the process answers", tags=["health"], opt={"skip_session": True})
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    summary="Readiness: the database can serve (on Galera: this node is Synced); 503 when not",
    tags=["health"],
    opt={"skip_session": True},
    responses={503: ResponseSpec(data_container=dict[str, Any], description="database unavailable")},
)
async def ready(db_engine: NamedDependency[AsyncEngine]) -> Response[dict[str, Any]]:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), db_engine.connect() as connection:
            for check in READY_CHECKS:
                problem = await check(connection)
                if problem is not None:
                    return unavailable_response(problem)
    except TimeoutError:
        return unavailable_response()
    except Exception as exc:
        failure = classify(exc)
        if failure is None:
            raise
        logger.warning("not ready: %s", driver_message(exc))
        return unavailable_response(failure.value)
    return Response({"status": "ready"})
