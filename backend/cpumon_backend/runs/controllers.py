"""/api/test-runs: start, list, read, finish and delete runs; write and read their CPU usage."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from cpumon.wire import (
    CSV_ROUTE,
    FINISH_ROUTE,
    MAX_BATCH,
    NAME_MAX,
    RUN_ROUTE,
    RUNS_PAGE_MAX,
    RUNS_PATH,
    SAMPLES_ROUTE,
    SERIES_POINTS_MAX,
    SERIES_ROUTE,
)
from cpumon_backend.auth.guards import logged_in_user, provide_current_user, requires_login
from cpumon_backend.auth.schemas import CurrentUser
from cpumon_backend.http.body import body_operation, read_body, refuse_ahead
from cpumon_backend.http.errors import (
    BodyTooLargeException,
    ConflictException,
    DatabaseUnavailableException,
    json_error_response,
)
from cpumon_backend.runs.cursor import PATTERN as CURSOR_PATTERN
from cpumon_backend.runs.cursor import InvalidCursorError, decode_cursor
from cpumon_backend.runs.export import CsvExportService, ExportGate
from cpumon_backend.runs.ingest import IngestService
from cpumon_backend.runs.lifecycle import RunLifecycleService
from cpumon_backend.runs.providers import DEPENDENCIES
from cpumon_backend.runs.queries import RunQueryService
from cpumon_backend.runs.schemas import (
    IngestResult,
    RunCreate,
    RunDetail,
    RunFinish,
    RunPage,
    RunRead,
    SampleBatch,
    SampleIn,
    SamplePage,
    Series,
)
from cpumon_backend.runs.window import Hosts, Instant, Window, hosts_from_query, instant, window_from_query


def route(template: str) -> str:
    """A route of the contract (cpumon.wire) as Litestar declares it: the run id is a str parameter."""
    return template.replace("{run_id}", "{run_id:str}")


RUN = route(RUN_ROUTE)
# 400 is documented once, as ValidationException: Litestar adds it to every handler with parameters, and
# listing ClientException beside it (same status, same body) would make a `oneOf` that no body can satisfy.
ERRORS = [ValidationException, NotAuthorizedException, NotFoundException, DatabaseUnavailableException]

RunId = Annotated[str, PathParameter(description="the run's UUID", max_length=64, schema_extra={"format": "uuid"})]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_BATCH, description="items per page (max 10,000)")]


class TestRunController(Controller):
    """Each handler decodes, makes one service call and answers; the services hold the rules."""

    __test__ = False
    path = RUNS_PATH
    tags = ["test runs"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_login]  # noqa: RUF012
    dependencies = {**DEPENDENCIES, "current_user": Provide(provide_current_user)}  # noqa: RUF012

    @post(
        "",
        summary="Start a test run owned by the caller",
        raises=ERRORS,
        operation_class=body_operation(RunCreate, "the new run; every field is optional"),
    )
    async def start_run(
        self,
        request: Request[Any, Any, Any],
        lifecycle: NamedDependency[RunLifecycleService],
        current_user: NamedDependency[CurrentUser],
    ) -> RunRead:
        data: RunCreate = await read_body(request, RunCreate)
        refuse_ahead(request, data, "started_at")
        return await lifecycle.start(current_user.id, data)

    @get(
        "",
        summary="The caller's runs, newest first (with ?summary=true, each with its summary)",
        description="With host and/or active_from/active_to: only the runs on those hosts whose time "
        "(until now while running) overlaps the window.",
        raises=ERRORS,
    )
    async def list_runs(
        self,
        queries: NamedDependency[RunQueryService],
        current_user: NamedDependency[CurrentUser],
        limit: Annotated[int, QueryParameter(ge=1, le=RUNS_PAGE_MAX)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=2**31)] = 0,
        summary: Annotated[
            bool, QueryParameter(description="add each run's summary, against its own threshold (one query per page)")
        ] = False,
        host: Hosts = None,
        active_from: Instant = None,
        active_to: Instant = None,
        name: Annotated[
            str | None, QueryParameter(max_length=NAME_MAX, description="only runs whose name contains this (any case)")
        ] = None,
    ) -> RunPage:
        window = window_from_query(active_from, active_to, ("active_from", "active_to"))
        hosts = hosts_from_query(host)
        return await queries.list_page(
            current_user.id, (limit, offset), with_summaries=summary, hosts=hosts, window=window, name_contains=name
        )

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
        queries: NamedDependency[RunQueryService],
        current_user: NamedDependency[CurrentUser],
        threshold: Annotated[
            float | None,
            # Litestar drops `minimum: 0` from an optional number's schema; schema_extra puts it back.
            QueryParameter(ge=0, le=100, description="default: the run's own threshold", schema_extra={"minimum": 0}),
        ] = None,
        window_from: Annotated[str | None, instant("from")] = None,
        window_to: Annotated[str | None, instant("to")] = None,
    ) -> RunDetail:
        window = window_from_query(window_from, window_to, ("from", "to"))
        return await queries.detail(parse_run_id(run_id), current_user.id, threshold, window)

    @post(
        route(FINISH_ROUTE),
        status_code=HTTP_200_OK,
        summary="End a run (the first finish wins: later ones get the stored end time)",
        raises=ERRORS,
        operation_class=body_operation(RunFinish, "optional: when the run ended (default: now)", required=False),
    )
    async def finish_run(
        self,
        request: Request[Any, Any, Any],
        run_id: RunId,
        lifecycle: NamedDependency[RunLifecycleService],
        current_user: NamedDependency[CurrentUser],
    ) -> RunRead:
        data: RunFinish | None = await read_body(request, RunFinish, optional=True)
        return await lifecycle.finish(parse_run_id(run_id), current_user.id, data.ended_at if data else None)

    @delete(RUN, status_code=HTTP_204_NO_CONTENT, summary="Delete a run and its samples", raises=ERRORS)
    async def delete_run(
        self, run_id: RunId, lifecycle: NamedDependency[RunLifecycleService], current_user: NamedDependency[CurrentUser]
    ) -> None:
        await lifecycle.remove(parse_run_id(run_id), current_user.id)

    @post(
        route(SAMPLES_ROUTE),
        operation_id="ingestSamples",
        summary="Store one sample or a list of up to 10,000; (run, seq) pairs already stored are skipped",
        raises=[*ERRORS, ConflictException, BodyTooLargeException],
        operation_class=body_operation(SampleIn | SampleBatch, "one sample or a list of 1 to 10,000"),
    )
    async def ingest(
        self, request: Request[Any, Any, Any], run_id: RunId, ingest_service: NamedDependency[IngestService]
    ) -> IngestResult:
        # The caller is read from the request, not injected: with two dependencies Litestar resolves
        # them concurrently in an anyio task group (two tasks per request, ~50-65 us of CPU here),
        # on the route that single-sample clients call hundreds of times a second.
        user = logged_in_user(request)
        data: SampleIn | list[SampleIn] = await read_body(request, SampleIn | SampleBatch)
        refuse_ahead(request, data, "recorded_at")
        return await ingest_service.ingest(parse_run_id(run_id), user.id, data if isinstance(data, list) else [data])

    @get(route(SAMPLES_ROUTE), summary="Samples in time order, keyset-paginated", raises=ERRORS)
    async def list_samples(
        self,
        run_id: RunId,
        queries: NamedDependency[RunQueryService],
        current_user: NamedDependency[CurrentUser],
        limit: Limit = 1_000,
        cursor: Annotated[
            str | None,
            QueryParameter(
                max_length=40, pattern=CURSOR_PATTERN, description="next_cursor of the last page, unchanged"
            ),
        ] = None,
    ) -> SamplePage:
        try:
            after = decode_cursor(cursor) if cursor is not None else None
        except InvalidCursorError as exc:
            raise ClientException(detail=str(exc)) from None
        return await queries.samples(parse_run_id(run_id), current_user.id, limit, after)

    @get(
        route(SERIES_ROUTE),
        operation_id="getSeries",
        summary="The run downsampled in SQL to at most N time buckets",
        raises=ERRORS,
    )
    async def series(
        self,
        run_id: RunId,
        queries: NamedDependency[RunQueryService],
        current_user: NamedDependency[CurrentUser],
        points: Annotated[int, QueryParameter(ge=1, le=SERIES_POINTS_MAX)] = 500,
        window_from: Annotated[str | None, instant("from")] = None,
        window_to: Annotated[str | None, instant("to")] = None,
    ) -> Series:
        window = window_from_query(window_from, window_to, ("from", "to")) or Window()
        return Series(
            items=await queries.series(parse_run_id(run_id), current_user.id, points, window.start, window.end)
        )

    @get(
        route(CSV_ROUTE),
        summary="Every sample of the run as CSV, streamed",
        media_type="text/csv",
        raises=ERRORS,
        # Litestar labels a route's error bodies with the route's media type: keep them JSON, as documented.
        exception_handlers={HTTPException: json_error_response},
        middleware=[ExportGate],  # bounded exports, slow readers cut off (backend/cpumon_backend/runs/export.py)
    )
    async def export_csv(
        self,
        run_id: RunId,
        export_service: NamedDependency[CsvExportService],
        current_user: NamedDependency[CurrentUser],
    ) -> Stream:
        parsed = parse_run_id(run_id)
        chunks = await export_service.open(parsed, current_user.id)
        return Stream(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cpumon-{parsed}.csv"'},
        )


def parse_run_id(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise ClientException(detail=f"malformed run id {run_id[:40]!r}: expected a UUID") from None
