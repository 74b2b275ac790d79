"""GET /api/test-runs/{id}/live: a run's new samples and events as Server-Sent Events while it records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from cpumon.wire import LIVE_ROUTE, RUNS_PATH
from cpumon_backend.auth.guards import Connection, provide_current_user, requires_login
from cpumon_backend.auth.schemas import CurrentUser
from cpumon_backend.http.errors import json_error_response
from cpumon_backend.http.gate import GateFullException
from cpumon_backend.live.feed import CLOSE, FINAL_KINDS, RECONNECTING, LiveEvent, LiveHub, Subscription
from cpumon_backend.live.limits import LiveGate
from cpumon_backend.live.sessions import SessionWatch
from cpumon_backend.runs.controllers import ERRORS, RunId, parse_run_id, route
from cpumon_backend.runs.providers import provide_query_service
from cpumon_backend.runs.queries import RunQueryService

KEEPALIVE_S = 15.0  # a comment line now and then keeps proxies from closing a quiet stream
RECONNECT_MS = 1_000
LISTEN_WAIT_S = 2.0


def provide_live_hub(state: State) -> LiveHub:
    hub: LiveHub = state.live_hub
    return hub


def provide_session_watch(state: State) -> SessionWatch:
    watch: SessionWatch = state.live_sessions
    return watch


@dataclass(frozen=True)
class StreamContext:
    """What one stream needs: the shared feeds, the session watch, and who asked."""

    hub: LiveHub
    watch: SessionWatch
    connection: Connection
    user_id: int


def message(event: LiveEvent) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event.kind, data=event.data)


async def run_events(context: StreamContext, run_id: Any, finished: bool) -> AsyncIterator[ServerSentEventMessage]:
    if finished:
        yield ServerSentEventMessage(event="ended", data="{}", retry=RECONNECT_MS)
        return
    async with context.hub.subscribe(run_id) as subscription:
        with context.watch.watching(context.connection, context.user_id, subscription.end):
            # Sent once listening: what the page loads after it is either in its load or pushed here.
            # Not listening yet (the database is away, or its first read is slow): `ready`, then
            # `reconnecting`, and the feed says `resumed` once it listens, so the page reloads then.
            feed = subscription.feed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.listening.wait(), LISTEN_WAIT_S)
            feed.late = feed.late or not feed.listening.is_set()
            yield ServerSentEventMessage(event="ready", data="{}", retry=RECONNECT_MS)
            if feed.failing or not feed.listening.is_set():
                yield message(RECONNECTING)
            async for event in _events_of(subscription):
                yield event


async def _events_of(subscription: Subscription) -> AsyncIterator[ServerSentEventMessage]:
    while True:
        try:
            event: LiveEvent = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_S)
        except TimeoutError:
            yield ServerSentEventMessage(comment="keepalive")
            continue
        if event is CLOSE:
            return
        yield message(event)
        if event.kind in FINAL_KINDS:
            return


class LiveController(Controller):
    path = RUNS_PATH
    tags = ["test runs"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_login]  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "queries": Provide(provide_query_service),
        "current_user": Provide(provide_current_user),
        "live_hub": Provide(provide_live_hub, sync_to_thread=False),
        "live_sessions": Provide(provide_session_watch, sync_to_thread=False),
    }

    @get(
        route(LIVE_ROUTE),
        summary="New samples and events of a run as Server-Sent Events "
        "(ready, samples, events, ended, gone, reconnecting, resumed)",
        description="`samples` carries [[epoch seconds, cpu %], ...] stored since the last event, about "
        "twice a second while the run records; `events` the run's events added since the stream began, "
        "as the events route lists them (a list of EventRead, in time order; one added just before the run "
        "ends comes before `ended`); `ended` when it finishes; `gone` when it is deleted; "
        "`reconnecting` while the server cannot read the database, `resumed` once it can again. The "
        "stream closes when the caller's session ends. 429 with Retry-After beyond the per-user or "
        "per-worker number of open streams.",
        raises=[*ERRORS, GateFullException],
        media_type="text/event-stream",
        # Litestar labels a route's error bodies with the route's media type: keep them JSON, as documented.
        exception_handlers={HTTPException: json_error_response},
        middleware=[LiveGate],
    )
    async def live(
        self,
        request: Request[Any, Any, Any],
        run_id: RunId,
        queries: NamedDependency[RunQueryService],
        current_user: NamedDependency[CurrentUser],
        live_hub: NamedDependency[LiveHub],
        live_sessions: NamedDependency[SessionWatch],
    ) -> ServerSentEvent:
        run = await queries.owned(parse_run_id(run_id), current_user.id)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        context = StreamContext(live_hub, live_sessions, request, current_user.id)
        return ServerSentEvent(run_events(context, run.id, run.ended_at is not None), headers=headers)
