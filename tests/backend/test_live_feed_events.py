"""The live feed pushes a run's new events: each once, none stored before the stream, bounded per
poll, and all of them before `ended`.

The feed itself (no HTTP) over real SQLite and MariaDB, events and the run's end written by plain
SQL as the API's writes would land; what one page's subscription receives, read until `ended`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon_backend.events.schemas import EventRead
from cpumon_backend.live.feed import FINAL_KINDS, MAX_EVENTS_PER_POLL, LiveEvent, LiveHub, Subscription
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.backend.conftest import add_user
from tests.conftest import emptied_backend
from tests.reliability.live_support import end_run, new_run, store_events

Scenario = Callable[[AsyncEngine, uuid.UUID], Awaitable[None]]


@pytest.fixture(params=["sqlite", "mysql"])
def settings(request: pytest.FixtureRequest) -> ServerSettings:
    settings = emptied_backend(request, request.param).settings()
    add_user(settings, "watcher")  # the runs' owner
    return settings


def watch(settings: ServerSettings, before: list[str], scenario: Scenario) -> list[LiveEvent]:
    """A run with the events `before`, watched by one page while `scenario` writes: what the page got."""

    async def main() -> list[LiveEvent]:
        engine = create_engine(settings)
        hub = LiveHub(engine)
        try:
            run_id = await new_run(engine)
            if before:
                await store_events(engine, run_id, before)
            async with hub.subscribe(run_id) as page:
                await asyncio.wait_for(page.feed.listening.wait(), 20)
                await scenario(engine, run_id)
                return await until_final(page)
        finally:
            await hub.close()
            await engine.dispose()

    return asyncio.run(main())


async def until_final(page: Subscription) -> list[LiveEvent]:
    got: list[LiveEvent] = []
    async with asyncio.timeout(30):
        while not got or got[-1].kind not in FINAL_KINDS:
            got.append(await page.queue.get())
    return got


def pushed(got: list[LiveEvent]) -> list[list[EventRead]]:
    """The `events` messages, each decoded strictly as the API's list of events."""
    return [msgspec.json.decode(e.data, type=list[EventRead], strict=True) for e in got if e.kind == "events"]


def test_events_added_while_watched_are_pushed_once_and_before_ended(settings: ServerSettings) -> None:
    async def scenario(engine: AsyncEngine, run_id: uuid.UUID) -> None:
        await store_events(engine, run_id, ["deployed v2"])
        await store_events(engine, run_id, ["users 10 -> 50", "test stop"])
        await end_run(engine, run_id)  # just after the last event: it must still come first

    got = watch(settings, ["test start"], scenario)
    events = [event for message in pushed(got) for event in message]
    assert [e.text for e in events] == ["deployed v2", "users 10 -> 50", "test stop"]  # not "test start"
    assert len({e.id for e in events}) == 3
    assert [e.kind for e in got if e.kind != "samples"][-1] == "ended"
    assert got[-1].kind == "ended"


def test_a_burst_of_events_comes_over_several_bounded_polls(settings: ServerSettings) -> None:
    burst = [f"step {i}" for i in range(2 * MAX_EVENTS_PER_POLL + 50)]

    async def scenario(engine: AsyncEngine, run_id: uuid.UUID) -> None:
        await store_events(engine, run_id, burst)
        await end_run(engine, run_id)

    got = watch(settings, [], scenario)
    messages = pushed(got)
    assert len(messages) >= 3
    assert max(len(message) for message in messages) == MAX_EVENTS_PER_POLL
    assert [e.text for message in messages for e in message] == burst  # each once, none lost, in order
    assert got[-1].kind == "ended"
    assert all(e.kind != "ended" for e in got[:-1])
