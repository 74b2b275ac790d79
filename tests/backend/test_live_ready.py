"""The stream's `ready` handshake when the feed is slow to listen: the page is told of the gap.

A page loads the run after `ready`; what is stored between that load and the feed's first read is in
neither (the feed starts after it). When `ready` had to be sent before the feed listened, the stream
says `reconnecting` and then `resumed` once the feed listens, so the page reloads, as after any gap.
The stream (cpumon_backend.live.controllers.run_events) over a real SQLite feed whose first read is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest

from cpumon_backend.live import controllers, feed
from cpumon_backend.live.controllers import StreamContext, run_events
from cpumon_backend.live.feed import Cursor, LiveHub
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.backend.conftest import add_user
from tests.conftest import emptied_backend
from tests.reliability.live_support import new_run, store_events


class NoSessionWatch:
    """The session watch is not what this tests: the stream's session never ends here."""

    @contextlib.contextmanager
    def watching(self, connection: Any, user_id: int, end: Callable[[], None]) -> Iterator[None]:
        yield


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> ServerSettings:
    settings = emptied_backend(request, "sqlite").settings()
    add_user(settings, "watcher")
    return settings


async def kinds(stream: AsyncIterator[Any], count: int) -> list[str]:
    """The next `count` named messages of the stream (keepalive comments skipped)."""
    got: list[str] = []
    async with asyncio.timeout(15):
        while len(got) < count:
            message = await anext(stream)
            if message.event:
                got.append(message.event)
    return got


@pytest.mark.parametrize("slow_first_read", [True, False], ids=["slow-first-read", "prompt"])
def test_ready_before_the_feed_listens_is_followed_by_reconnecting_then_resumed(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch, slow_first_read: bool
) -> None:
    monkeypatch.setattr(controllers, "LISTEN_WAIT_S", 0.05)
    # Slower than `ready` waits, quicker than a read counts as failed (which says `reconnecting` by itself).
    monkeypatch.setattr(feed, "READ_TIMEOUT_S", 60.0)

    async def main() -> list[str]:
        engine = create_engine(settings)
        hub = LiveHub(engine)
        release = asyncio.Event()
        start_cursor = hub._start_cursor

        async def held_start_cursor(run_id: uuid.UUID) -> Cursor:
            if slow_first_read:
                await release.wait()
            return await start_cursor(run_id)

        monkeypatch.setattr(hub, "_start_cursor", held_start_cursor)
        try:
            run_id = await new_run(engine)
            context = StreamContext(hub, NoSessionWatch(), None, 1)  # type: ignore[arg-type]
            stream = cast("AsyncGenerator[Any, None]", run_events(context, run_id, finished=False))
            got = await kinds(stream, 2 if slow_first_read else 1)
            await store_events(engine, run_id, ["stored in the gap"])  # after the page's load, before the feed
            release.set()
            got += await kinds(stream, 1)
            await stream.aclose()
            return got
        finally:
            await hub.close()
            await engine.dispose()

    got = asyncio.run(main())
    if slow_first_read:
        # The gap's event is in neither the page's load nor the feed: `resumed` makes the page reload it.
        assert got == ["ready", "reconnecting", "resumed"]
    else:
        assert got == ["ready", "events"]  # listening before `ready`: the event is pushed, no reload needed
