"""On a database without the schema this server needs, every API route answers 503 naming the fix.

Without it, each route would fail in its own way on a missing table (a 500 for a login). The answer
is 503 with Retry-After, `the database has no cpumon schema: run `cpumon-server migrate``, so a client
retries and an operator reads what to do. The check is asked once per worker and then remembered;
while the schema is behind it is asked again at most once a second, so a worker serves as soon as
`migrate` has run, without a restart. Pages, /health, /ready and the document are not gated.
"""

from __future__ import annotations

import asyncio
import math
import time

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon.wire import API_PREFIX
from cpumon_backend.health import READY_TIMEOUT_S, schema_is_behind
from cpumon_backend.http.errors import RETRY_AFTER_S, DatabaseUnavailableException

RECHECK_S = 1.0


class SchemaGate:
    """Whether the database's schema is behind this server's, remembered once it is not."""

    def __init__(self, engine: AsyncEngine, recheck_s: float = RECHECK_S) -> None:
        self._engine = engine
        self._recheck_s = recheck_s
        self._current = False
        self._problem: str | None = None
        self._checked_at = -math.inf
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """Why the API cannot serve on this schema, or None."""
        if self._current:
            return None
        async with self._lock:  # one check at a time: a burst of requests asks once
            if not self._current and time.monotonic() - self._checked_at >= self._recheck_s:
                self._problem = await self._ask()
                self._checked_at = time.monotonic()
        return None if self._current else self._problem

    async def _ask(self) -> str | None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S), self._engine.connect() as connection:
                problem = await schema_is_behind(connection)
        except Exception:
            return None
        self._current = problem is None
        return problem


class SchemaGateMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, gate: SchemaGate) -> None:
        self.gate = gate

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"].startswith(f"{API_PREFIX}/"):
            problem = await self.gate.problem()
            if problem is not None:
                raise DatabaseUnavailableException(detail=problem, headers={"Retry-After": str(RETRY_AFTER_S)})
        await next_app(scope, receive, send)
