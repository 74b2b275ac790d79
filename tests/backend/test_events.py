"""Events on runs through the HTTP API, on every backend: add, list, limits, ownership, cascade."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, insert, select

from cpumon.wire import EVENT_KIND_MAX, EVENT_TEXT_MAX, EVENTS_PER_RUN_MAX
from cpumon_backend.app import create_app
from cpumon_backend.events.models import RunEvent
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.backend.conftest import PASSWORD, at, start_run

Client = TestClient[Litestar]


def events_of(client: Client, run_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/test-runs/{run_id}/events")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def add(client: Client, run_id: str, **body: Any) -> Any:
    return client.post(f"/api/test-runs/{run_id}/events", json=body)


def stored_events(settings: ServerSettings, run_id: str | None = None) -> int:
    async def count() -> int:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                query = select(func.count()).select_from(RunEvent)
                if run_id is not None:
                    query = query.where(RunEvent.test_run_id == uuid.UUID(run_id))
                return int((await connection.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_an_event_is_answered_201_and_listed(alice: Client) -> None:
    run = start_run(alice)
    before = dt.datetime.now(dt.UTC)
    response = add(alice, run["id"], text="deployed v2")
    assert response.status_code == 201, response.text
    event = response.json()
    assert (event["text"], event["kind"]) == ("deployed v2", "note")
    assert event["at"].endswith("Z")
    assert dt.datetime.fromisoformat(event["at"]) >= before.replace(microsecond=0)  # default: now
    assert events_of(alice, run["id"]) == [event]


def test_events_are_listed_in_time_order_whatever_order_they_came_in(alice: Client) -> None:
    run_id = start_run(alice)["id"]
    for seconds, text in [(30, "stop"), (0, "start"), (10, "users 10 -> 50"), (10, "second at 10")]:
        assert add(alice, run_id, text=text, at=at(seconds), kind="load").status_code == 201
    listed = events_of(alice, run_id)
    assert [e["text"] for e in listed] == ["start", "users 10 -> 50", "second at 10", "stop"]
    assert listed[0]["at"] == at(0)
    assert {e["kind"] for e in listed} == {"load"}


def test_an_offset_time_is_stored_as_utc_with_microseconds(alice: Client) -> None:
    run_id = start_run(alice)["id"]
    event = add(alice, run_id, text="x", at="2026-01-01T14:00:00.123456+02:00").json()
    assert event["at"] == "2026-01-01T12:00:00.123456Z"


def test_a_finished_run_takes_events(alice: Client) -> None:
    run_id = start_run(alice)["id"]
    assert alice.post(f"/api/test-runs/{run_id}/finish").status_code == 200
    assert add(alice, run_id, text="reviewed: CPU bound at 400 rps").status_code == 201


def test_the_longest_text_of_four_byte_characters_round_trips(alice: Client) -> None:
    """EVENT_TEXT_MAX characters of 4 bytes each in utf8mb4: stored whole on every backend."""
    run_id = start_run(alice)["id"]
    text = "\U0001f680" * (EVENT_TEXT_MAX - 2) + "é\x00"
    response = add(alice, run_id, text=text)
    assert response.status_code == 201, response.text
    assert events_of(alice, run_id)[0]["text"] == text


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"text": "x" * (EVENT_TEXT_MAX + 1)}, "$.text"),
        ({"text": "\U0001f680" * (EVENT_TEXT_MAX + 1)}, "$.text"),
        ({"text": ""}, "$.text"),
        ({"text": "  \t"}, "$.text"),
        ({}, "$"),
        ({"text": 5}, "$.text"),
        ({"text": "x", "kind": "two words"}, "$.kind"),
        ({"text": "x", "kind": "k" * (EVENT_KIND_MAX + 1)}, "$.kind"),
        ({"text": "x", "kind": ""}, "$.kind"),
        ({"text": "x", "at": "2026-01-01T12:00:00"}, "$.at"),
        ({"text": "x", "at": "yesterday"}, "$.at"),
        ({"text": "x", "colour": "red"}, "$"),
    ],
)
def test_a_bad_event_is_400_naming_the_field_and_nothing_is_stored(
    alice: Client, settings: ServerSettings, body: dict[str, Any], path: str
) -> None:
    run_id = start_run(alice)["id"]
    response = add(alice, run_id, **body)
    assert response.status_code == 400, response.text
    assert path in response.json()["detail"]
    assert stored_events(settings) == 0


def test_a_body_that_is_not_json_is_415(alice: Client) -> None:
    run_id = start_run(alice)["id"]
    response = alice.post(f"/api/test-runs/{run_id}/events", content=b"text=x", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_unknown_and_malformed_runs_are_404_and_400(alice: Client) -> None:
    missing = str(uuid.uuid4())
    assert add(alice, missing, text="x").status_code == 404
    assert alice.get(f"/api/test-runs/{missing}/events").status_code == 404
    assert add(alice, "not-a-uuid", text="x").status_code == 400


def test_another_users_run_is_404_and_keeps_its_events(alice: Client, bob: Client) -> None:
    run_id = start_run(alice)["id"]
    add(alice, run_id, text="mine")
    assert add(bob, run_id, text="theirs").status_code == 404
    assert bob.get(f"/api/test-runs/{run_id}/events").status_code == 404
    assert [e["text"] for e in events_of(alice, run_id)] == ["mine"]


def test_events_go_with_their_run(alice: Client, settings: ServerSettings) -> None:
    run_id = start_run(alice)["id"]
    other = start_run(alice)["id"]
    add(alice, run_id, text="a")
    add(alice, other, text="b")
    assert alice.delete(f"/api/test-runs/{run_id}").status_code == 204
    assert stored_events(settings) == 1
    assert alice.get(f"/api/test-runs/{run_id}/events").status_code == 404


def fill(settings: ServerSettings, run_id: str, count: int) -> None:
    """`count` events straight into the table: the limit is reached without thousands of requests."""

    async def insert_rows() -> None:
        engine = create_engine(settings)
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"test_run_id": uuid.UUID(run_id), "at": now, "kind": "note", "text": f"e{i}", "created_at": now}
            for i in range(count)
        ]
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(RunEvent), rows)
        finally:
            await engine.dispose()

    asyncio.run(insert_rows())


def test_a_run_keeps_at_most_the_limit_and_the_next_is_409(alice: Client, settings: ServerSettings) -> None:
    run_id = start_run(alice)["id"]
    fill(settings, run_id, EVENTS_PER_RUN_MAX - 1)
    assert add(alice, run_id, text="the last one").status_code == 201
    refused = add(alice, run_id, text="one too many")
    assert refused.status_code == 409
    assert f"already has {EVENTS_PER_RUN_MAX:,} events" in refused.json()["detail"]
    assert stored_events(settings, run_id) == EVENTS_PER_RUN_MAX
    assert len(events_of(alice, run_id)) == EVENTS_PER_RUN_MAX
    assert add(alice, start_run(alice)["id"], text="another run has room").status_code == 201


def test_concurrent_adds_never_pass_the_limit(alice: Client, settings: ServerSettings) -> None:
    """Adds from separate app instances (as separate workers) at the limit: exactly the room left is used."""
    run_id = start_run(alice)["id"]
    room = 3
    fill(settings, run_id, EVENTS_PER_RUN_MAX - room)
    clients = [TestClient(create_app(settings), raise_server_exceptions=False) for _ in range(4)]
    for client in clients:
        client.__enter__()
        assert client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    try:
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            jobs = [pool.submit(add, clients[i % len(clients)], run_id, text=f"c{i}") for i in range(12)]
            statuses = sorted(job.result().status_code for job in jobs)
    finally:
        for client in clients:
            client.__exit__(None, None, None)
    assert statuses == [201] * room + [409] * (12 - room)
    assert stored_events(settings, run_id) == EVENTS_PER_RUN_MAX
