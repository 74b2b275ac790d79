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

from cpumon_backend.http.gate import GateLimits
from cpumon_backend.runs.export import CSV_HEADER, CsvExportService, ExportAbortedError, _found_in


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
