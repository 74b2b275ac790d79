"""A database outage does not kill live delivery: feeds retry, say `reconnecting`, and resume.

The feed itself over real SQLite (reads fail while a fault is switched on: SQLite has no server to
take away) and over MariaDB behind the TCP proxy the test cuts; then a real server on MariaDB, whose
streams opened before and after a 3 s outage both receive new samples within 2 s of the database
answering again, with the outage logged once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from cpumon_backend.live.feed import LiveEvent, LiveHub, Subscription
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.e2e.conftest import wait_for

from .conftest import Database, Keep, Server, TcpProxy, prepare, via_proxy
from .live_support import LiveReader, ingest_until_stored, new_run, post_samples, store_samples
from .test_db_outage import OUTAGE_S, serve_through

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

#: The promise: new samples reach every stream within this many seconds of the database answering again.
RESUME_WITHIN_S = 2.0
SLACK_S = 20.0
PAUSED = "live updates paused"
RESUMED = "live updates resumed"


@dataclass
class Outage:
    """The database as the feed sees it, which the test takes away and gives back; `writer` is not affected."""

    feed_engine: AsyncEngine
    writer: AsyncEngine
    cut: Callable[[], None]
    restore: Callable[[], None]


@pytest.fixture(params=["sqlite", "mysql"])
def outage_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, TcpProxy | None]:
    """(the writer's URL, the feed's URL, the proxy between the feed and MariaDB or None on SQLite)."""
    if request.param == "sqlite":
        url = prepare("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'cpumon.db'}").url
        return url, url, None
    database: Database = request.getfixturevalue("mysql_db")
    proxy: TcpProxy = request.getfixturevalue("mysql_proxy")
    return database.url, via_proxy(database.url, proxy), proxy


@pytest.fixture
async def outage(outage_target: tuple[str, str, TcpProxy | None]) -> AsyncIterator[Outage]:
    """On SQLite the feed's reads fail while the fault is on; on MariaDB the proxy cuts its connections."""
    url, feed_url, proxy = outage_target
    feed_engine = create_engine(ServerSettings(database_url=feed_url, database_connect_timeout=2))
    writer = create_engine(ServerSettings(database_url=url))
    down = False

    def fail_while_down(*_: Any) -> None:
        if down:
            raise sqlite3.OperationalError("disk I/O error")  # what SQLite says when its storage goes

    def switch(value: bool) -> Callable[[], None]:
        def set_down() -> None:
            nonlocal down
            down = value

        return set_down

    if proxy is None:
        event.listen(feed_engine.sync_engine, "before_cursor_execute", fail_while_down)
    cut, restore = (switch(True), switch(False)) if proxy is None else (proxy.cut, proxy.restore)
    try:
        yield Outage(feed_engine, writer, cut, restore)
    finally:
        await feed_engine.dispose()
        await writer.dispose()


async def next_event(subscription: Subscription, kind: str, within: float = SLACK_S) -> LiveEvent:
    async with asyncio.timeout(within):
        while True:
            got = await subscription.queue.get()
            if got.kind == kind:
                return got


def log_lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def test_a_feed_rides_out_an_outage(outage: Outage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cpumon.server")
    run_id = await new_run(outage.writer)
    hub = LiveHub(outage.feed_engine)
    try:
        async with hub.subscribe(run_id) as opened_before:
            await asyncio.wait_for(opened_before.feed.listening.wait(), SLACK_S)
            await store_samples(outage.writer, run_id, 3)
            await next_event(opened_before, "samples")
            outage.cut()
            await next_event(opened_before, "reconnecting")
            await asyncio.sleep(OUTAGE_S)  # the outage lasts, the feed keeps retrying
            async with hub.subscribe(run_id) as opened_during:
                assert opened_during.feed.failing  # the stream says `reconnecting` at once
                outage.restore()
                restored_at = time.monotonic()
                await store_samples(outage.writer, run_id, 2)
                for subscription in (opened_before, opened_during):
                    pushed = await next_event(subscription, "samples", within=RESUME_WITHIN_S + 1)
                    assert len(pushed.data.split("],[")) == 2
                took = time.monotonic() - restored_at
                assert took < RESUME_WITHIN_S, f"samples pushed {took:.2f} s after the database came back"
                assert not opened_before.feed.failing
    finally:
        await hub.close()
    assert log_lines(caplog, PAUSED) == 1, caplog.text
    assert log_lines(caplog, RESUMED) == 1, caplog.text


@pytest.mark.mysql
def test_streams_resume_after_an_outage(
    mysql_db: Database, mysql_proxy: TcpProxy, start_server: Callable[..., Server], clients: Keep
) -> None:
    server = serve_through(mysql_proxy, mysql_db, start_server)
    api = clients(server.client(timeout=30))
    run_id = str(api.post("/api/test-runs", json={"name": "outage"}).json()["id"])
    opened_before = LiveReader(clients(server.client()), run_id).start()
    opened_before.wait_event("ready", within=SLACK_S)
    post_samples(api, run_id, 3)
    opened_before.wait_event("samples", within=SLACK_S)

    mysql_proxy.cut()
    cut_at = time.monotonic()
    opened_before.wait_event("reconnecting", within=SLACK_S)
    wait_for(lambda: time.monotonic() - cut_at >= OUTAGE_S, within=OUTAGE_S + 1, what="the outage to last")
    mysql_proxy.restore()
    opened_after = LiveReader(clients(server.client()), run_id)
    wait_for(lambda: api.get("/ready").status_code == 200, within=SLACK_S, what="/ready after the outage")
    opened_after.start().wait_event("ready", within=SLACK_S)

    stored_at = ingest_until_stored(api, run_id, seq=100)
    for reader in (opened_before, opened_after):
        pushed = reader.wait_event("samples", within=SLACK_S, after=stored_at)
        assert pushed.at - stored_at < RESUME_WITHIN_S, f"pushed {pushed.at - stored_at:.2f} s after it was stored"
    assert "resumed" in opened_before.kinds()
    log = server.log()
    assert log.count(PAUSED) == 1, log
    assert log.count(RESUMED) == 1, log
