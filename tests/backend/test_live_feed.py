"""Live feeds: timestamps from the future, and the small rules that bound a stream.

On every backend (SQLite, MariaDB, Redis sessions): a `recorded_at` or `started_at` beyond the margin
ahead of the server's clock is a 400 naming the rule; a sample within the margin but ahead does not
hide later samples from live pages. Then the pure pieces: queues, caps, the outage log, the backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.http.gate import GateFullException, GateLimits, Slots
from cpumon_backend.live.feed import (
    CLOSE,
    QUEUE_SIZE,
    RETRY,
    Cursor,
    LiveEvent,
    LiveHub,
    OutageLog,
    RunFeed,
    Subscription,
)
from cpumon_backend.live.limits import LIVE_REFUSALS
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.backend.conftest import start_run
from tests.reliability.live_support import new_run, store_samples

Client = TestClient[Litestar]
DAY_S = 86_400


def stamp(ahead_s: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ahead_s)).isoformat()


def test_a_sample_stamped_beyond_the_margin_is_refused_naming_the_rule(alice: Client) -> None:
    run = start_run(alice)
    batch: list[dict[str, Any]] = [
        {"seq": 0, "cpu_percent": 5, "recorded_at": stamp(0)},
        {"seq": 1, "cpu_percent": 5, "recorded_at": stamp(DAY_S + 3600)},
    ]
    response = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=batch)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"] == (
        "invalid body at $[1].recorded_at: more than 86400 s ahead of the server's clock (CPUMON_TIMESTAMP_MAX_AHEAD)"
    )
    assert body["extra"][0]["index"] == 1
    assert alice.get(f"/api/test-runs/{run['id']}").json()["summary"]["sample_count"] == 0  # the batch is refused whole
    one = {"cpu_percent": 5, "recorded_at": stamp(DAY_S + 3600)}
    assert "$.recorded_at: more than" in alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=one).text
    within = {"cpu_percent": 5, "recorded_at": stamp(3600)}  # a clock an hour ahead is still accepted
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=within).status_code == 201


def test_a_run_started_beyond_the_margin_is_refused(alice: Client) -> None:
    response = alice.post("/api/test-runs", json={"name": "ahead", "started_at": stamp(DAY_S + 3600)})
    assert response.status_code == 400, response.text
    assert "$.started_at: more than 86400 s ahead of the server's clock" in response.json()["detail"]
    assert alice.post("/api/test-runs", json={"name": "ok", "started_at": stamp(60)}).status_code == 201


async def next_samples(subscription: Subscription) -> LiveEvent:
    async with asyncio.timeout(20):
        while True:
            got = await subscription.queue.get()
            if got.kind == "samples":
                return got


def test_a_sample_from_the_future_does_not_hide_later_ones(settings: ServerSettings, alice: Client) -> None:
    """(`alice` is the user whose run it is.)"""

    async def scenario() -> None:
        engine = create_engine(settings)
        hub = LiveHub(engine)
        try:
            run_id = await new_run(engine)
            async with hub.subscribe(run_id) as page:
                await asyncio.wait_for(page.feed.listening.wait(), 20)
                await store_samples(engine, run_id, 1, ahead_s=3600)  # a clock an hour ahead: accepted
                assert len((await next_samples(page)).data.split("],[")) == 1
                await store_samples(engine, run_id, 2)  # then samples stamped now
                assert len((await next_samples(page)).data.split("],[")) == 2
        finally:
            await hub.close()
            await engine.dispose()

    asyncio.run(scenario())


# -- the pure pieces ---------------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def test_the_cursor_never_passes_the_clock() -> None:
    cursor = Cursor()
    cursor.advance([(7, NOW + dt.timedelta(days=300), 1.0), (5, NOW - dt.timedelta(seconds=1), 2.0)], NOW)
    assert (cursor.last_id, cursor.newest) == (7, NOW)


def test_a_page_whose_session_ended_gets_nothing_it_had_not_sent() -> None:
    page = Subscription(RunFeed(uuid.uuid4()))
    for _ in range(3):
        assert page.offer(LiveEvent("samples", "[]"))
    page.end()
    assert page.queue.qsize() == 1
    assert page.queue.get_nowait() is CLOSE


def test_a_page_too_far_behind_is_closed_and_holds_a_bounded_queue() -> None:
    feed = RunFeed(uuid.uuid4())
    slow, fast = Subscription(feed), Subscription(feed)
    feed.listeners |= {slow, fast}
    for _ in range(QUEUE_SIZE):
        feed.publish(LiveEvent("samples", "[]"))
        fast.queue.get_nowait()
    feed.publish(LiveEvent("samples", "[]"))  # one more than `slow` can hold
    assert feed.listeners == {fast}
    assert slow.queue.qsize() == 1
    assert slow.queue.get_nowait() is CLOSE


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cpumon.server")
    log = OutageLog()
    for _ in range(3):  # three feeds fail
        log.failed(OSError("Can't connect to MySQL server"))
    log.dropped()  # one stops (its last page left)
    log.recovered()
    assert [r.getMessage() for r in caplog.records] == [
        "live updates paused, retrying: cannot read the database (Can't connect to MySQL server)"
    ]
    log.recovered()
    assert caplog.records[-1].getMessage() == "live updates resumed: the database answers again"
    assert log.failing_feeds == 0


def test_retries_are_at_most_a_second_apart() -> None:
    assert max(RETRY.delay(attempt, lambda: 1.0) for attempt in range(1, 50)) == 1.0


def test_stream_caps_per_user_then_per_worker() -> None:
    slots = Slots(GateLimits(max_per_user=2, max_total=3, send_timeout=1.0), LIVE_REFUSALS)
    with slots.slot(1), slots.slot(1):
        with pytest.raises(GateFullException) as per_user, slots.slot(1):
            pass
        assert per_user.value.status_code == 429
        assert per_user.value.headers == {"Retry-After": "5"}
        with slots.slot(2), pytest.raises(GateFullException, match="server busy"), slots.slot(3):
            pass
    assert slots.open_count == 0
