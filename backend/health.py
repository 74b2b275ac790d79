"""GET /health (the process answers) and GET /ready (the database answers too)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.errors import UNAVAILABLE_ERRORS, unavailable_response

READY_TIMEOUT_S = 3.0


@get("/health", summary="Liveness: the process answers", tags=["health"], opt={"skip_session": True})
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    summary="Readiness: the database answers a query (503 when it does not)",
    tags=["health"],
    opt={"skip_session": True},
    responses={503: ResponseSpec(data_container=dict[str, Any], description="database unavailable")},
)
async def ready(db_engine: NamedDependency[AsyncEngine]) -> Response[dict[str, Any]]:
    import asyncio  # noqa: PLC0415

    try:
        async with asyncio.timeout(READY_TIMEOUT_S), db_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except UNAVAILABLE_ERRORS:  # includes TimeoutError
        return unavailable_response()
    return Response({"status": "ready"})
