"""A watched run's new events reach its stream as the events API writes them, and before `ended`.

A real server over SQLite and over MariaDB; events added through the API while a stream reads the
run (as its page would), then the run finished right after one more event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import Database, Keep, Server
from .live_support import LiveReader

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SLACK_S = 20.0  # pushed within about a second; a generous bound for two busy cores


@pytest.fixture(params=["sqlite", "mysql"])
def database(request: pytest.FixtureRequest) -> Database:
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


def add_event(api: httpx.Client, run_id: str, text: str) -> dict[str, Any]:
    response = api.post(f"/api/test-runs/{run_id}/events", json={"text": text})
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def pushed_events(reader: LiveReader) -> list[dict[str, Any]]:
    return [event for got in reader.events if got.kind == "events" for event in json.loads(got.data)]


def test_a_watched_run_receives_its_new_events_once_and_before_ended(
    database: Database, start_server: Callable[..., Server], clients: Keep
) -> None:
    server = start_server(database.server_settings())
    api = clients(server.client())
    run_id = str(api.post("/api/test-runs", json={"name": "marked while watched"}).json()["id"])
    stored = add_event(api, run_id, "test start")
    reader = LiveReader(clients(server.client()), run_id).start()
    assert reader.status_code == 200
    reader.wait_event("ready", within=SLACK_S)

    added = add_event(api, run_id, "users 10 -> 50")
    got = reader.wait_event("events", within=SLACK_S)
    assert json.loads(got.data) == [added]  # the same JSON as the API's answer
    listed = api.get(f"/api/test-runs/{run_id}/events").json()["items"]
    assert listed == [stored, added]  # and as its list

    last = add_event(api, run_id, "test stop")
    assert api.post(f"/api/test-runs/{run_id}/finish", json={}).status_code == 200
    reader.wait_closed(within=SLACK_S)
    assert reader.error is None, reader.error
    assert pushed_events(reader) == [added, last]  # "test start" was stored before: the page loads it
    assert reader.kinds() == ["ready", "events", "events", "ended"]
