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

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from litestar.datastructures import State
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Scope
from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cpumon.wire import SAMPLE_FIELDS
from cpumon_backend.http.gate import GateLimits, Refusals, SlotGate, Slots
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
#: Beyond the user's limit 429, beyond the worker's 503 (everyone's exports wait), both retried after 10 s.
EXPORT_REFUSALS = Refusals(
    per_user="{limit} of your exports are already running: retry when one ends",
    busy="server busy: too many exports running",
    busy_status=HTTP_503_SERVICE_UNAVAILABLE,
    retry_after_s=10,
)


class ExportAbortedError(Exception):
    """The export cannot finish: its stream is to end without its final chunk."""


class CsvExportService:
    """Streams runs as CSV, and keeps count of the exports running in this worker."""

    def __init__(self, engine: AsyncEngine, limits: GateLimits) -> None:
        self._engine = engine
        self.slots = Slots(limits, EXPORT_REFUSALS)

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


class ExportGate(SlotGate):
    """Route middleware of the CSV export: takes a slot (or answers 429/503) and cuts clients that stop reading."""

    what = "CSV export"

    def slots(self, scope: Scope) -> Slots:
        return provide_export_service(scope["litestar_app"].state).slots

    def ended(self, exc: Exception) -> bool:
        # Litestar wraps what a stream raises once the answer has started: found in the chain, not by type.
        aborted = _found_in(exc, ExportAbortedError)
        if aborted is not None:
            # Returning without the final body message: the server closes the connection, the stream incomplete.
            logger.warning("CSV export aborted, its stream left incomplete: %s", aborted)
        return aborted is not None


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
