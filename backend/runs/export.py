"""CSV export: every sample of a run in keyset chunks, behind a gate that keeps exports from taking the API down.

A slow reader must not be able to starve everyone else, so:
- each chunk is one short query on the export engine's own small pool, and no connection is held
  while the client reads (the export pool is apart from the main pool: exports never take its
  connections);
- at most `export_max_concurrent` exports run at once in a worker, `export_max_per_user` of them for
  one user; beyond that the export answers 429 (that user) or 503 (everyone's), with Retry-After;
- a client that accepts nothing for `export_send_timeout` seconds is cut off, which frees its slot.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from advanced_alchemy.exceptions import NotFoundError
from litestar.datastructures import State
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.guards import SESSION_USER_ID
from backend.runs.models import TestRun
from backend.runs.queries import SAMPLE_FIELDS, samples_after

logger = logging.getLogger("cpumon.server")

CSV_HEADER = SAMPLE_FIELDS
CSV_ROWS_PER_CHUNK = 5_000
BUSY_RETRY_AFTER_S = 10


@dataclass(frozen=True)
class ExportLimits:
    max_concurrent: int
    max_per_user: int
    send_timeout: float


class ExportsBusyError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class SlowReaderError(Exception):
    """The client accepted no byte of the export for `send_timeout` seconds."""


class CsvExportService:
    """Streams runs as CSV, and keeps count of the exports running in this worker."""

    def __init__(self, engine: AsyncEngine, limits: ExportLimits) -> None:
        self._engine = engine
        self.limits = limits
        self._running: Counter[int] = Counter()

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one export slot for `user_id` for the block; ExportsBusyError when none is free."""
        if self._running[user_id] >= self.limits.max_per_user:
            detail = f"{self.limits.max_per_user} of your exports are already running: retry when one ends"
            raise ExportsBusyError(HTTP_429_TOO_MANY_REQUESTS, detail)
        if self._running.total() >= self.limits.max_concurrent:
            raise ExportsBusyError(HTTP_503_SERVICE_UNAVAILABLE, "server busy: too many exports running")
        self._running[user_id] += 1
        try:
            yield
        finally:
            self._running[user_id] -= 1
            if self._running[user_id] <= 0:
                del self._running[user_id]

    async def open(self, run_id: uuid.UUID, user_id: int) -> AsyncIterator[bytes]:
        """The CSV of the caller's run; NotFoundError (before any byte is sent) if it is not theirs."""
        async with self._engine.connect() as connection:
            found = select(TestRun.id).where(TestRun.id == run_id, TestRun.user_id == user_id)
            if (await connection.execute(found)).first() is None:
                raise NotFoundError(detail="no such test run")
        return self._chunks(run_id)

    async def _chunks(self, run_id: uuid.UUID) -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        yield buffer.getvalue().encode()
        after = None
        while True:
            async with self._engine.connect() as connection:  # returned to the pool before the yield
                rows = (await connection.execute(samples_after(run_id, after, CSV_ROWS_PER_CHUNK))).all()
            if not rows:
                return
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(
                (id_, _blank_if_none(seq), recorded_at.isoformat(), repr(cpu), *map(_blank_if_none, breakdown))
                for id_, seq, recorded_at, cpu, *breakdown in rows
            )
            yield buffer.getvalue().encode()
            if len(rows) < CSV_ROWS_PER_CHUNK:
                return
            after = (rows[-1][2], rows[-1][0])


def _blank_if_none(value: float | int | None) -> str | float | int:
    return "" if value is None else repr(value) if isinstance(value, float) else value


def provide_export_service(state: State) -> CsvExportService:
    service: CsvExportService = state.csv_export_service
    return service


class ExportGate:
    """Route middleware of the CSV export: takes a slot (or answers 429/503) and cuts clients that stop reading."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = provide_export_service(scope["litestar_app"].state)
        session = scope.get("session")
        user_id = session.get(SESSION_USER_ID) if isinstance(session, dict) else None
        if not isinstance(user_id, int):  # not logged in: the route's guard answers 401
            await self.app(scope, receive, send)
            return
        timed_send = _TimedSend(send, service.limits.send_timeout)
        try:
            with service.slot(user_id):
                await self.app(scope, receive, timed_send)
        except ExportsBusyError as busy:
            await _answer_busy(send, busy)
        except Exception:
            if not timed_send.cut_off:  # whatever wraps it on the way out, the cut-off is known here
                raise
            logger.warning("CSV export cut off: the client accepted nothing for %g s", service.limits.send_timeout)


class _TimedSend:
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


async def _answer_busy(send: Send, busy: ExportsBusyError) -> None:
    body = json.dumps({"status_code": busy.status_code, "detail": busy.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(BUSY_RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": busy.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
