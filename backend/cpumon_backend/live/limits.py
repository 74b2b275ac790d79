"""How many live streams a worker holds, and for how long a stream may stop reading.

Each open stream costs its worker a task, a bounded queue and socket buffers, and each watched run a
poll of the database twice a second: so a worker holds at most `live_max_streams` streams, at most
`live_max_per_user` of them for one user, and answers 429 with Retry-After beyond. A client that
accepts no byte for `live_send_timeout` seconds is cut off (the CSV export's mechanism), which frees
its place; a client that goes away frees it at once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import ASGIApp, Receive, Scope, Send

from cpumon_backend.auth.guards import SESSION_USER_ID
from cpumon_backend.runs.export import _TimedSend
from cpumon_backend.settings import ServerSettings

logger = logging.getLogger("cpumon.server")

#: Seconds a refused client is told to wait (a stream ends when its page closes or its run ends).
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class StreamLimits:
    max_per_user: int
    max_streams: int
    send_timeout: float

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> StreamLimits:
        return cls(settings.live_max_per_user, settings.live_max_streams, settings.live_send_timeout)


class TooManyStreamsException(HTTPException):
    status_code = HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail, headers={"Retry-After": str(RETRY_AFTER_S)})


class StreamSlots:
    """The streams open in this worker, per user; a place is taken for a stream's whole life."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._open: Counter[int] = Counter()

    @property
    def open_streams(self) -> int:
        return self._open.total()

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one place for `user_id` for the block; TooManyStreamsException when none is free."""
        if self._open[user_id] >= self.limits.max_per_user:
            detail = f"{self.limits.max_per_user} of your live streams are already open: close one or retry later"
            raise TooManyStreamsException(detail)
        if self._open.total() >= self.limits.max_streams:
            raise TooManyStreamsException("server busy: too many live streams open")
        self._open[user_id] += 1
        try:
            yield
        finally:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]


def provide_stream_slots(state: State) -> StreamSlots:
    slots: StreamSlots = state.live_slots
    return slots


class LiveGate:
    """Route middleware of the live stream: takes a place (or answers 429) and cuts clients that stop reading."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots = provide_stream_slots(scope["litestar_app"].state)
        session = scope.get("session")
        user_id = session.get(SESSION_USER_ID) if isinstance(session, dict) else None
        if not isinstance(user_id, int):  # not logged in: the route's guard answers 401
            await self.app(scope, receive, send)
            return
        timed_send = _TimedSend(send, slots.limits.send_timeout)
        try:
            with slots.slot(user_id):
                await self.app(scope, receive, timed_send)
        except Exception:
            if not timed_send.cut_off:  # whatever wraps it on the way out, the cut-off is known here
                raise
            logger.warning("live stream cut off: the client accepted nothing for %g s", slots.limits.send_timeout)
