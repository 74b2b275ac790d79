"""CSV export: every sample of a run in keyset chunks, behind a gate that keeps exports from taking the API down.

A slow reader must not be able to starve everyone else, so:
- each chunk is one short query on the export engine's own small pool, and no connection is held
  while the client reads (the export pool is apart from the main pool: exports never take its
  connections);
- at most `export_max_concurrent` exports run at once in a worker, `export_max_per_user` of them for
  one user; beyond that the export answers 429 (that user) or 503 (everyone's), with Retry-After;
- a client that accepts nothing for `export_send_timeout` seconds is cut off, which frees its slot.

An export that cannot finish (its run deleted meanwhile, a database error) must not look complete: the
stream ends without its final chunk (the connection is closed), which every HTTP client reports as an
incomplete answer, and the log says why in one line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from litestar.datastructures import State
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cpumon.wire import SAMPLE_FIELDS
from cpumon_backend.auth.guards import SESSION_USER_ID
from cpumon_backend.runs.models import TestRun
from cpumon_backend.runs.queries import SAMPLE_COLUMNS, samples_after

logger = logging.getLogger("cpumon.server")

CSV_HEADER = SAMPLE_FIELDS
#: The sample columns with `recorded_at` read as stored (naive UTC): skips the aware-datetime conversion of
#: every row (about a tenth of an export's CPU); `csv_lines` writes the UTC offset itself.
CSV_COLUMNS = tuple(
    type_coerce(column, DateTime()) if column.key == "recorded_at" else column for column in SAMPLE_COLUMNS
)
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


class ExportAbortedError(Exception):
    """The export cannot finish: its stream is to end without its final chunk."""


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
        yield (",".join(CSV_HEADER) + "\n").encode()
        after = None
        sent = 0
        while True:
            try:
                rows = await self._next_rows(run_id, after)
            except SQLAlchemyError as exc:
                reason = f"run {run_id}: database error ({type(exc).__name__}) after {sent:,} rows"
                raise ExportAbortedError(reason) from exc
            if rows is None:
                raise ExportAbortedError(f"run {run_id} was deleted during its export, after {sent:,} rows")
            if rows:
                yield csv_lines(rows).encode()
                sent += len(rows)
            if len(rows) < CSV_ROWS_PER_CHUNK:
                return
            last_at: dt.datetime = rows[-1][2]
            after = (last_at.replace(tzinfo=dt.UTC), rows[-1][0])

    async def _next_rows(self, run_id: uuid.UUID, after: tuple[dt.datetime, int] | None) -> Sequence[Any] | None:
        """The next chunk's rows; None if the run is gone (a deleted run's samples go with it: a short chunk
        alone would look like the end). One connection, returned to the pool before the chunk is sent."""
        async with self._engine.connect() as connection:
            rows: Sequence[Any] = (
                await connection.execute(samples_after(run_id, after, CSV_ROWS_PER_CHUNK, CSV_COLUMNS))
            ).all()
            if len(rows) < CSV_ROWS_PER_CHUNK and not await _run_exists(connection, run_id):
                return None  # the last chunk: checked in the same transaction, so it saw the same run
        return rows


async def _run_exists(connection: AsyncConnection, run_id: uuid.UUID) -> bool:
    return (await connection.execute(select(TestRun.id).where(TestRun.id == run_id))).first() is not None


def csv_lines(rows: Sequence[Sequence[Any]]) -> str:
    """The CSV lines of samples (id, seq, naive UTC recorded_at, cpu, breakdown...), one string.

    Every field is a number, empty, or an ISO timestamp, so nothing ever needs quoting: plain joins
    are the same bytes as the csv module writes, at a fraction of its cost on 100k rows.
    """
    return "".join(
        f"{id_},{'' if seq is None else seq},{at.isoformat()}+00:00,{_percent(cpu)},"
        f"{_percent(user)},{_percent(system)},{_percent(iowait)},{_percent(steal)},{_percent(core)}\n"
        for id_, seq, at, cpu, user, system, iowait, steal, core in rows
    )


def _percent(value: float | None) -> str:
    """A percentage with one decimal, the precision the agent measures (psutil's counters give 0.1 %):
    stored as computed, `29.99999999999825` prints as `30.0`. Empty when the sample does not carry it."""
    return "" if value is None else f"{value:.1f}"


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
        except Exception as exc:
            # Litestar wraps what a stream raises once the answer has started: found in the chain, not by type.
            aborted = _found_in(exc, ExportAbortedError)
            if aborted is not None:
                # Returning without the final body message: the server closes the connection, the stream incomplete.
                logger.warning("CSV export aborted, its stream left incomplete: %s", aborted)
                return
            if not timed_send.cut_off:  # whatever wraps it on the way out, the cut-off is known here
                raise
            logger.warning("CSV export cut off: the client accepted nothing for %g s", service.limits.send_timeout)


def _found_in(exc: BaseException, kind: type[ExportAbortedError]) -> ExportAbortedError | None:
    """`exc` or the first `kind` among its causes, contexts and grouped exceptions."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
    return None


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
