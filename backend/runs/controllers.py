"""/api/test-runs: start, list, read, finish and delete runs; write and read their CPU usage."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from advanced_alchemy.exceptions import NotFoundError
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.guards import provide_current_user, requires_login
from backend.auth.schemas import CurrentUser
from backend.body import body_operation, read_body
from backend.errors import (
    BodyTooLargeException,
    ConflictException,
    DatabaseUnavailableException,
    json_error_response,
)
from backend.providers import provide_runs_service, provide_samples_service
from backend.runs.cursor import PATTERN as CURSOR_PATTERN
from backend.runs.cursor import InvalidCursorError, decode_cursor
from backend.runs.models import TestRun
from backend.runs.schemas import (
    MAX_BATCH,
    IngestResult,
    RunCreate,
    RunDetail,
    RunFinish,
    RunListItem,
    RunPage,
    RunRead,
    SampleBatch,
    SampleIn,
    SamplePage,
    Series,
)
from backend.runs.services import RunFinishedError, SampleService, TestRunService, stream_csv
from backend.runs.window import Hosts, hosts_from_query, instant, window_from_query

RUN = "/{run_id:str}"
# 400 is documented once, as ValidationException: Litestar adds it to every handler with parameters, and
# listing ClientException beside it (same status, same body) would make a `oneOf` that no body can satisfy.
ERRORS = [ValidationException, NotAuthorizedException, NotFoundException, DatabaseUnavailableException]

RunId = Annotated[str, Parameter(description="the run's UUID", max_length=64, schema_extra={"format": "uuid"})]
Limit = Annotated[int, Parameter(ge=1, le=MAX_BATCH, description="items per page (max 10,000)")]


def _fields(run: TestRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in RunRead.__struct_fields__}


def to_read(run: TestRun) -> RunRead:
    return RunRead(**_fields(run))


class TestRunController(Controller):
    __test__ = False
    path = "/api/test-runs"
    tags = ["test runs"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_login]  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "runs_service": Provide(provide_runs_service),
        "samples_service": Provide(provide_samples_service, sync_to_thread=False),
        "current_user": Provide(provide_current_user),
    }

    @post(
        "",
        summary="Start a test run owned by the caller",
        raises=ERRORS,
        operation_class=body_operation(RunCreate, "the new run; every field is optional"),
    )
    async def start_run(
        self,
        request: Request[Any, Any, Any],
        runs_service: NamedDependency[TestRunService],
        current_user: NamedDependency[CurrentUser],
    ) -> RunRead:
        data: RunCreate = await read_body(request, RunCreate)
        return to_read(await runs_service.start(current_user.id, data))

    @get(
        "",
        summary="The caller's runs, newest first (with ?summary=true, each with its summary)",
        description="With host and/or active_from/active_to: only the runs on those hosts whose time "
        "(until now while running) overlaps the window.",
        raises=ERRORS,
    )
    async def list_runs(
        self,
        runs_service: NamedDependency[TestRunService],
        current_user: NamedDependency[CurrentUser],
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=2**31)] = 0,
        summary: Annotated[
            bool, Parameter(description="add each run's summary, against its own threshold (one query per page)")
        ] = False,
        host: Hosts = None,
        active_from: Annotated[dt.datetime | None, instant()] = None,
        active_to: Annotated[dt.datetime | None, instant()] = None,
    ) -> RunPage:
        window = window_from_query(active_from, active_to, ("active_from", "active_to"))
        hosts = hosts_from_query(host)
        runs, total = await runs_service.list_owned(current_user.id, limit, offset, hosts, window)
        summaries = await runs_service.summaries(runs) if summary else {}
        items = [RunListItem(**_fields(run), summary=summaries.get(run.id)) for run in runs]
        return RunPage(items=items, total=total, limit=limit, offset=offset)

    @get(
        RUN,
        summary="One run with its summary (computed in SQL)",
        description="With from and/or to, the summary covers the samples recorded in that window, and time "
        "above the threshold is counted only inside it.",
        raises=ERRORS,
    )
    async def get_run(
        self,
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        current_user: NamedDependency[CurrentUser],
        threshold: Annotated[
            float | None,
            # Litestar drops `minimum: 0` from an optional number's schema; schema_extra puts it back.
            Parameter(ge=0, le=100, description="default: the run's own threshold", schema_extra={"minimum": 0}),
        ] = None,
        window_from: Annotated[dt.datetime | None, instant("from")] = None,
        window_to: Annotated[dt.datetime | None, instant("to")] = None,
    ) -> RunDetail:
        window = window_from_query(window_from, window_to, ("from", "to"))
        run = await _owned(runs_service, run_id, current_user)
        limit = run.threshold_percent if threshold is None else threshold
        summary = await runs_service.summary(run, limit, window)
        return RunDetail(**_fields(run), summary=summary)

    @post(
        RUN + "/finish",
        status_code=HTTP_200_OK,
        summary="End a run (idempotent: a finished run keeps its first end time)",
        raises=ERRORS,
        operation_class=body_operation(RunFinish, "optional: when the run ended (default: now)"),
    )
    async def finish_run(
        self,
        request: Request[Any, Any, Any],
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        current_user: NamedDependency[CurrentUser],
    ) -> RunRead:
        data: RunFinish | None = await read_body(request, RunFinish, optional=True)
        ended_at = data.ended_at if data else None
        return to_read(await runs_service.finish(parse_run_id(run_id), current_user.id, ended_at))

    @delete(RUN, status_code=HTTP_204_NO_CONTENT, summary="Delete a run and its samples", raises=ERRORS)
    async def delete_run(
        self, run_id: RunId, runs_service: NamedDependency[TestRunService], current_user: NamedDependency[CurrentUser]
    ) -> None:
        await runs_service.remove(await _owned(runs_service, run_id, current_user))

    @post(
        RUN + "/cpu-usage",
        summary="Store one sample or a list of up to 10,000; (run, seq) pairs already stored are skipped",
        raises=[*ERRORS, ConflictException, BodyTooLargeException],
        operation_class=body_operation(SampleIn | SampleBatch, "one sample or a list of 1 to 10,000"),
    )
    async def ingest(
        self,
        request: Request[Any, Any, Any],
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        samples_service: NamedDependency[SampleService],
        current_user: NamedDependency[CurrentUser],
    ) -> IngestResult:
        data: SampleIn | list[SampleIn] = await read_body(request, SampleIn | SampleBatch)
        samples = data if isinstance(data, list) else [data]
        try:
            return await samples_service.ingest(parse_run_id(run_id), current_user.id, samples)
        except RunFinishedError:
            raise ConflictException(detail="the run is finished: start a new run") from None

    @get(RUN + "/cpu-usage", summary="Samples in time order, keyset-paginated", raises=ERRORS)
    async def list_samples(
        self,
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        samples_service: NamedDependency[SampleService],
        current_user: NamedDependency[CurrentUser],
        limit: Limit = 1_000,
        cursor: Annotated[
            str | None,
            Parameter(max_length=40, pattern=CURSOR_PATTERN, description="next_cursor of the last page, unchanged"),
        ] = None,
    ) -> SamplePage:
        try:
            after = decode_cursor(cursor) if cursor is not None else None
        except InvalidCursorError as exc:
            raise ClientException(detail=str(exc)) from None
        run = await _owned(runs_service, run_id, current_user)
        return await samples_service.page(run, limit, after)

    @get(
        RUN + "/cpu-usage/series",
        summary="The run downsampled in SQL to at most N time buckets",
        raises=ERRORS,
    )
    async def series(
        self,
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        samples_service: NamedDependency[SampleService],
        current_user: NamedDependency[CurrentUser],
        points: Annotated[int, Parameter(ge=1, le=10_000)] = 500,
    ) -> Series:
        run = await _owned(runs_service, run_id, current_user)
        return Series(items=await samples_service.series(run, points))

    @get(
        RUN + "/cpu-usage.csv",
        summary="Every sample of the run as CSV, streamed",
        media_type="text/csv",
        raises=ERRORS,
        # Litestar labels a route's error bodies with the route's media type: keep them JSON, as documented.
        exception_handlers={HTTPException: json_error_response},
    )
    async def export_csv(
        self,
        run_id: RunId,
        runs_service: NamedDependency[TestRunService],
        current_user: NamedDependency[CurrentUser],
        db_engine: NamedDependency[AsyncEngine],
    ) -> Stream:
        run = await _owned(runs_service, run_id, current_user)
        return Stream(
            stream_csv(db_engine, run.id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cpumon-{run.id}.csv"'},
        )


def parse_run_id(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise ClientException(detail=f"malformed run id {run_id[:40]!r}: expected a UUID") from None


async def _owned(runs_service: TestRunService, run_id: str, user: CurrentUser) -> TestRun:
    parsed = parse_run_id(run_id)
    try:
        return await runs_service.get_owned(parsed, user.id)
    except NotFoundError:
        raise NotFoundException(detail="no such test run") from None
