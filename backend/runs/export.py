"""CSV export: every sample of a run, read in keyset chunks, each on a connection held only for its query."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator

from advanced_alchemy.exceptions import NotFoundError
from litestar.datastructures import State
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.runs.models import TestRun
from backend.runs.queries import SAMPLE_FIELDS, samples_after

CSV_HEADER = SAMPLE_FIELDS
CSV_ROWS_PER_CHUNK = 5_000


class CsvExportService:
    """Streams runs as CSV. A slow reader holds no database connection while it reads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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
