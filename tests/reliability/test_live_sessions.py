"""A live stream belongs to its session: logout, expiry or the user's deletion close it within 2 s.

Real servers over SQLite, MariaDB and MariaDB with Redis sessions; the page's session watches a run
while another session (an agent's) keeps posting samples, so the stream always has something to send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backend.conftest import add_user
from tests.conftest import Backend
from tests.e2e.conftest import wait_for

from .conftest import Database, Keep, Server
from .live_support import LiveReader, logged_in, post_samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

#: The promise: a stream closes within this many seconds of its session ending.
CLOSE_WITHIN_S = 2.0
#: Generous bounds for what is not under test (a busy machine).
SLACK_S = 20.0


@pytest.fixture(params=["sqlite", "mysql", "mysql-redis"])
def database(request: pytest.FixtureRequest) -> Database:
    name = {"sqlite": "sqlite_db", "mysql": "mysql_db", "mysql-redis": "mysql_redis_db"}[request.param]
    database: Database = request.getfixturevalue(name)
    return database


def watch_a_recording_run(server: Server, page: httpx.Client, agent: httpx.Client) -> tuple[str, LiveReader]:
    run_id = str(agent.post("/api/test-runs", json={"name": "watched"}).json()["id"])
    reader = LiveReader(page, run_id).start()
    assert reader.status_code == 200
    reader.wait_event("ready", within=SLACK_S)
    post_samples(agent, run_id, 3)
    reader.wait_event("samples", within=SLACK_S)
    return run_id, reader


def close_delay(reader: LiveReader, agent: httpx.Client, run_id: str, since: float) -> float:
    """Seconds from `since` until the stream closed, while the agent keeps posting samples."""
    seq = iter(range(100, 10_000))

    def closed() -> float | None:
        # Best effort: with short session lifetimes the agent's own session may end first.
        agent.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": next(seq), "cpu_percent": 50})
        return reader.closed_at

    closed_at = wait_for(closed, within=SLACK_S, what="the stream to close", every=0.1)
    return closed_at - since


def assert_closed_quietly(reader: LiveReader) -> None:
    """Closed by the server, without an error and without a final event (the run goes on)."""
    assert reader.error is None, reader.error
    assert reader.kinds()[-1] not in {"ended", "gone"}, reader.kinds()


def test_logout_closes_the_stream(database: Database, start_server: Callable[..., Server], clients: Keep) -> None:
    server = start_server(database.server_settings())
    page, agent = clients(server.client()), clients(server.client())
    run_id, reader = watch_a_recording_run(server, page, agent)
    assert page.post("/api/auth/logout").status_code == 204
    delay = close_delay(reader, agent, run_id, time.monotonic())
    assert delay < CLOSE_WITHIN_S, f"closed {delay:.2f} s after logout"
    assert_closed_quietly(reader)
    print(f"\n{database.kind}{' + redis' if database.redis_url else ''}: closed {delay:.2f} s after logout")


def test_expiry_closes_the_stream(database: Database, start_server: Callable[..., Server], clients: Keep) -> None:
    lifetime = 4
    server = start_server(database.server_settings(CPUMON_SESSION_LIFETIME=str(lifetime)))
    agent = clients(server.client())
    logged_in_at = time.monotonic()
    page = clients(server.client())  # its session ends `lifetime` s after this login
    run_id, reader = watch_a_recording_run(server, page, agent)
    assert reader.closed_at is None, "the session expired before the test could watch it"
    agent = clients(server.client())  # a fresh session: the agent keeps posting (about) past the page's expiry
    delay = close_delay(reader, agent, run_id, logged_in_at + lifetime)
    assert delay < CLOSE_WITHIN_S, f"closed {delay:.2f} s after the session expired"
    assert_closed_quietly(reader)


def delete_user(database: Database, username: str) -> None:
    async def run() -> None:
        engine = create_async_engine(database.url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM users WHERE username = :name"), {"name": username})
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_deleting_the_user_closes_their_stream(
    database: Database, start_server: Callable[..., Server], clients: Keep
) -> None:
    add_user(Backend(database.kind, database.url).settings(bcrypt_rounds=4), "leaving", "leaving-password-1")
    server = start_server(database.server_settings())
    page = clients(logged_in(server.url, "leaving", "leaving-password-1"))
    run_id = str(page.post("/api/test-runs", json={"name": "theirs"}).json()["id"])
    reader = LiveReader(page, run_id).start()
    reader.wait_event("ready", within=SLACK_S)
    other = clients(server.client())
    other_run = str(other.post("/api/test-runs", json={"name": "stays"}).json()["id"])
    bystander = LiveReader(clients(server.client()), other_run).start()
    bystander.wait_event("ready", within=SLACK_S)

    delete_user(database, "leaving")
    deleted_at = time.monotonic()
    closed_at = reader.wait_closed(within=SLACK_S)
    assert closed_at - deleted_at < CLOSE_WITHIN_S
    assert reader.error is None
    # Another user's stream is untouched.
    post_samples(other, other_run, 2)
    bystander.wait_event("samples", within=SLACK_S)
    assert bystander.closed_at is None
