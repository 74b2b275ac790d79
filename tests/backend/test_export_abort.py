"""An export that cannot finish raises ExportAbortedError, which the gate finds however Litestar wraps it.

The end-to-end proof (a real server, a run deleted mid-stream, the stream left without its final chunk,
`cpumon export` failing) is tests/e2e/test_export_integrity.py; here the database error, which a real
server only gives at random moments.
"""

from __future__ import annotations

import uuid
from typing import Any, Self, cast

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon_backend.http.gate import GateFullException, GateLimits, Slots
from cpumon_backend.runs.export import CSV_HEADER, EXPORT_REFUSALS, CsvExportService, ExportAbortedError, _found_in


class DatabaseGone:
    """An engine whose every statement fails, as when the database goes away in the middle of an export."""

    def connect(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, statement: Any) -> Any:
        raise OperationalError(str(statement), {}, ConnectionError("Lost connection to server during query"))


async def test_a_database_error_during_an_export_aborts_it_naming_the_rows_sent() -> None:
    service = CsvExportService(cast("AsyncEngine", DatabaseGone()), GateLimits(1, 1, 1.0))
    chunks = service._chunks(uuid.uuid4())
    assert await anext(chunks) == (",".join(CSV_HEADER) + "\n").encode()
    with pytest.raises(ExportAbortedError, match=r"database error \(OperationalError\) after 0 rows"):
        await anext(chunks)


def test_the_abort_is_found_inside_what_wraps_it() -> None:
    aborted = ExportAbortedError("run x was deleted during its export")
    wrapped = RuntimeError("Exception caught after response started")  # as Litestar re-raises it
    wrapped.__cause__ = ExceptionGroup("stream", [aborted])  # as anyio's task group raises it
    assert _found_in(wrapped, ExportAbortedError) is aborted
    assert _found_in(RuntimeError("something else"), ExportAbortedError) is None


def test_a_full_export_gate_answers_429_for_the_user_and_503_for_the_worker() -> None:
    slots = Slots(GateLimits(max_per_user=1, max_total=2, send_timeout=1.0), EXPORT_REFUSALS)
    with slots.slot(1), slots.slot(2):
        with pytest.raises(GateFullException, match="1 of your exports are already running") as mine, slots.slot(1):
            pass
        assert (mine.value.status_code, mine.value.headers) == (429, {"Retry-After": "10"})
        with pytest.raises(GateFullException, match="too many exports running") as busy, slots.slot(3):
            pass
        assert (busy.value.status_code, busy.value.headers) == (503, {"Retry-After": "10"})
    assert slots.open_count == 0
