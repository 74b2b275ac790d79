"""The gate in front of a long answer (a live stream, a CSV export): bounded per user and per worker,
and cut off when its client stops reading.

A long answer holds its worker's task, buffers and (between chunks) database work for as long as the
client reads, so a worker serves at most `max_total` of a kind at once and at most `max_per_user` of
them for one user; beyond that it answers at once, with Retry-After (429 for the user's own limit,
`Refusals.busy_status` for the worker's). A client that accepts no byte for `send_timeout` seconds is
cut off, which frees its place; a client that goes away frees it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cpumon_backend.auth.guards import SESSION_USER_ID

logger = logging.getLogger("cpumon.server")


@dataclass(frozen=True)
class GateLimits:
    max_per_user: int
    max_total: int
    send_timeout: float


@dataclass(frozen=True)
class Refusals:
    """What a full gate answers. `per_user` is formatted with `limit` (the user's number of places)."""

    per_user: str
    busy: str
    busy_status: int
    retry_after_s: int


class GateFullException(HTTPException):
    """No place free: answered with Retry-After. The class's status is the per-user one (the OpenAPI
    document lists it for routes that raise it)."""

    status_code = HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, status_code: int, detail: str, retry_after_s: int) -> None:
        super().__init__(status_code=status_code, detail=detail, headers={"Retry-After": str(retry_after_s)})


class Slots:
    """The answers of one kind open in this worker, per user; a place is taken for an answer's whole life."""

    def __init__(self, limits: GateLimits, refusals: Refusals) -> None:
        self.limits = limits
        self._refusals = refusals
        self._open: Counter[int] = Counter()

    @property
    def open_count(self) -> int:
        return self._open.total()

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one place for `user_id` for the block; GateFullException when none is free."""
        refusals = self._refusals
        if self._open[user_id] >= self.limits.max_per_user:
            detail = refusals.per_user.format(limit=self.limits.max_per_user)
            raise GateFullException(HTTP_429_TOO_MANY_REQUESTS, detail, refusals.retry_after_s)
        if self._open.total() >= self.limits.max_total:
            raise GateFullException(refusals.busy_status, refusals.busy, refusals.retry_after_s)
        self._open[user_id] += 1
        try:
            yield
        finally:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]


class SlowReaderError(Exception):
    """The client accepted no byte of the answer for `send_timeout` seconds."""


class TimedSend:
    """`send` that gives up after `seconds` (uvicorn's send waits while the client's buffers are full)."""

    def __init__(self, send: Send, seconds: float) -> None:
        self._send = send
        self._seconds = seconds
        self.cut_off = False

    async def __call__(self, message: Message) -> None:
        if self.cut_off:
            raise SlowReaderError
        try:
            async with asyncio.timeout(self._seconds):
                await self._send(message)
        except TimeoutError:
            self.cut_off = True
            raise SlowReaderError from None


class SlotGate:
    """Route middleware: takes a place (or answers as `Refusals` say) and cuts clients that stop reading.

    A subclass names its `Slots` (kept in the app's state, one per worker) and what its log calls the answer.
    """

    #: The answer's name in the log line of a cut-off, e.g. "live stream".
    what = "answer"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def slots(self, scope: Scope) -> Slots:
        raise NotImplementedError

    def ended(self, exc: Exception) -> bool:
        """Whether `exc` ended the answer in a way the subclass has dealt with (nothing to raise)."""
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots = self.slots(scope)
        session = scope.get("session")
        user_id = session.get(SESSION_USER_ID) if isinstance(session, dict) else None
        if not isinstance(user_id, int):  # not logged in: the route's guard answers 401
            await self.app(scope, receive, send)
            return
        timed_send = TimedSend(send, slots.limits.send_timeout)
        try:
            with slots.slot(user_id):
                await self.app(scope, receive, timed_send)
        except Exception as exc:
            if self.ended(exc):
                return
            if not timed_send.cut_off:  # whatever wraps it on the way out, the cut-off is known here
                raise
            logger.warning("%s cut off: the client accepted nothing for %g s", self.what, slots.limits.send_timeout)
