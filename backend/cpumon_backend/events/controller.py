"""/api/test-runs/{run_id}/events: add an event to one of the caller's runs, and list a run's events."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide

from cpumon.wire import EVENT_TEXT_MAX, EVENTS_PER_RUN_MAX, EVENTS_SUFFIX, RUNS_PATH
from cpumon_backend.auth.guards import provide_current_user, requires_login
from cpumon_backend.auth.schemas import CurrentUser
from cpumon_backend.events.schemas import EventCreate, EventList, EventRead
from cpumon_backend.events.service import EventService, provide_event_service
from cpumon_backend.http.body import body_operation, read_body
from cpumon_backend.http.errors import ConflictException
from cpumon_backend.runs.controllers import ERRORS, RUN, RunId, parse_run_id


class RunEventController(Controller):
    path = RUNS_PATH + RUN + EVENTS_SUFFIX
    tags = ["events"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_login]  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "events": Provide(provide_event_service),
        "current_user": Provide(provide_current_user),
    }

    @post(
        "",
        operation_id="addEvent",
        summary="Add an event to one of the caller's runs (finished runs too)",
        description=f"The text is 1 to {EVENT_TEXT_MAX} characters; `at` defaults to the server's time now, "
        f"`kind` to `note`. A run keeps at most {EVENTS_PER_RUN_MAX:,} events: the next is refused with 409.",
        raises=[*ERRORS, ConflictException],
        operation_class=body_operation(EventCreate, "the event: text, and optionally when and what kind"),
    )
    async def add_event(
        self,
        request: Request[Any, Any, Any],
        run_id: RunId,
        events: NamedDependency[EventService],
        current_user: NamedDependency[CurrentUser],
    ) -> EventRead:
        data: EventCreate = await read_body(request, EventCreate)
        return await events.add(parse_run_id(run_id), current_user.id, data)

    @get(
        "",
        operation_id="listEvents",
        summary="Every event of one of the caller's runs, in time order",
        description=f"All of them in one answer: a run keeps at most {EVENTS_PER_RUN_MAX:,}.",
        raises=ERRORS,
    )
    async def list_events(
        self, run_id: RunId, events: NamedDependency[EventService], current_user: NamedDependency[CurrentUser]
    ) -> EventList:
        return await events.list(parse_run_id(run_id), current_user.id)
