"""A deadline on every request until its answer starts: 503 instead of a hang.

A database that stops answering without refusing anything (a network partition, a frozen server)
leaves a query waiting forever: the MySQL driver's connect timeout covers only the TCP connect.
This middleware gives the request `seconds` to start its answer; past that, the work is cancelled,
its database session is dropped without a round trip, and the client gets the same 503 as for a
database that is down. Once an answer has started (a long CSV export streaming), no deadline applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from cpumon_backend.http.errors import RETRY_AFTER_S, UNAVAILABLE
from cpumon_backend.storage.db import request_session

logger = logging.getLogger("cpumon.server")

_BODY = json.dumps({"status_code": 503, "detail": UNAVAILABLE}, separators=(",", ":")).encode()


class DeadlineMiddleware:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = False
        deadline: asyncio.Timeout | None = None

        async def send_and_lift_the_deadline(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if deadline is not None:
                    deadline.reschedule(None)
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as deadline:
                await self.app(scope, receive, send_and_lift_the_deadline)
        except TimeoutError:
            if started:
                raise
            _drop_database_session(scope)
            logger.warning(
                "no answer within %g s on %s %s: database not answering",
                self.seconds,
                scope.get("method", "?"),
                scope["path"],
            )
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_BODY)).encode()),
                    (b"retry-after", str(RETRY_AFTER_S).encode()),
                ],
            }
            body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": _BODY, "more_body": False}
            await send(start)
            await send(body)


def _drop_database_session(scope: Scope) -> None:
    """Invalidate the request's database session: its connection may hang, so no rollback over it."""
    session = request_session(scope)
    if session is None:
        return
    with contextlib.suppress(Exception):
        session.sync_session.invalidate()
