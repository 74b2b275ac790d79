"""Runs and samples through the HTTP API, on every backend."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import event
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.engine import Engine

from tests.backend.conftest import at, samples, start_run
from tests.conftest import Backend

Client = TestClient[Litestar]


def test_start_run_returns_the_run_with_defaults(alice: Client) -> None:
    response = alice.post("/api/test-runs", json={})
    assert response.status_code == 201
    run = response.json()
    assert run["ended_at"] is None
    assert run["threshold_percent"] == 80.0
    assert run["name"].startswith("run ")
    assert run["started_at"].endswith("Z")


def test_start_run_keeps_given_fields(alice: Client) -> None:
    run = start_run(alice, name="load test", hostname="web-1", interval_s=0.5, threshold_percent=65.5)
    assert (run["name"], run["hostname"], run["interval_s"], run["threshold_percent"]) == (
        "load test",
        "web-1",
        0.5,
        65.5,
    )


def test_list_runs_newest_first_with_pagination(alice: Client) -> None:
    ids = [start_run(alice, name=f"r{i}", started_at=at(i))["id"] for i in range(5)]
    page = alice.get("/api/test-runs", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [r["id"] for r in page["items"]] == [ids[3], ids[2]]


def test_list_runs_shows_only_the_callers_runs(alice: Client, bob: Client) -> None:
    start_run(alice)
    start_run(bob)
    start_run(bob)
    assert alice.get("/api/test-runs").json()["total"] == 1
    assert bob.get("/api/test-runs").json()["total"] == 2


def test_list_runs_with_summaries_in_one_page(alice: Client) -> None:
    hot = start_run(alice, name="hot", threshold_percent=50, started_at=at(0))
    cold = start_run(alice, name="cold", threshold_percent=90, started_at=at(1))
    empty = start_run(alice, name="empty", started_at=at(2))
    body = [{"seq": i, "cpu_percent": p, "recorded_at": at(i)} for i, p in enumerate([10, 60, 70, 20])]
    alice.post(f"/api/test-runs/{hot['id']}/cpu-usage", json=body)
    alice.post(f"/api/test-runs/{cold['id']}/cpu-usage", json=body)
    plain = alice.get("/api/test-runs").json()["items"]
    assert [item["summary"] for item in plain] == [None, None, None]
    items = {item["name"]: item for item in alice.get("/api/test-runs", params={"summary": "true"}).json()["items"]}
    assert items["hot"]["summary"]["time_above_threshold_s"] == 2.0  # its own threshold, 50
    assert items["cold"]["summary"]["time_above_threshold_s"] == 0.0  # its own threshold, 90
    assert items["hot"]["summary"]["sample_count"] == items["cold"]["summary"]["sample_count"] == 4
    assert items["hot"]["summary"]["avg_percent"] == 40.0
    assert items["empty"]["summary"]["sample_count"] == 0
    # The same figures as the one-run summary.
    assert items["hot"]["summary"] == alice.get(f"/api/test-runs/{hot['id']}").json()["summary"]
    assert empty["id"] in {item["id"] for item in items.values()}


def test_ingest_one_sample_and_a_batch(alice: Client) -> None:
    run = start_run(alice)
    one = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 12.5, "seq": 0})
    assert one.status_code == 201
    assert one.json() == {"inserted": 1, "duplicates": 0}
    batch = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(99, start_seq=1))
    assert batch.json() == {"inserted": 99, "duplicates": 0}
    summary = alice.get(f"/api/test-runs/{run['id']}").json()["summary"]
    assert summary["sample_count"] == 100


def test_retried_batch_is_not_stored_twice(alice: Client) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}/cpu-usage"
    assert alice.post(url, json=samples(10)).json() == {"inserted": 10, "duplicates": 0}
    assert alice.post(url, json=samples(15)).json() == {"inserted": 5, "duplicates": 10}
    assert alice.get(f"/api/test-runs/{run['id']}").json()["summary"]["sample_count"] == 15


def test_duplicate_seq_inside_one_batch_is_stored_once(alice: Client) -> None:
    run = start_run(alice)
    body = [{"seq": 7, "cpu_percent": 1.0}, {"seq": 7, "cpu_percent": 2.0}]
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body).json() == {"inserted": 1, "duplicates": 1}


def test_samples_without_seq_are_all_stored(alice: Client) -> None:
    run = start_run(alice)
    body = [{"cpu_percent": 1.0}, {"cpu_percent": 2.0}]
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body).json()["inserted"] == 2


def test_largest_batch_is_accepted_whole(alice: Client) -> None:
    run = start_run(alice)
    response = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(10_000, step_s=0.01))
    assert response.status_code == 201
    assert response.json() == {"inserted": 10_000, "duplicates": 0}


def test_recorded_at_defaults_to_server_time(alice: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 3.0})
    item = alice.get(f"/api/test-runs/{run['id']}/cpu-usage").json()["items"][0]
    assert item["recorded_at"] >= run["started_at"]


def test_microseconds_survive_the_round_trip(alice: Client) -> None:
    run = start_run(alice)
    stamp = "2026-03-04T05:06:07.123456Z"
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 1.0, "recorded_at": stamp})
    item = alice.get(f"/api/test-runs/{run['id']}/cpu-usage").json()["items"][0]
    assert item["recorded_at"] == stamp


def test_offsets_are_stored_as_utc(alice: Client) -> None:
    run = start_run(alice)
    alice.post(
        f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 1, "recorded_at": "2026-03-04T07:06:07+02:00"}
    )
    item = alice.get(f"/api/test-runs/{run['id']}/cpu-usage").json()["items"][0]
    assert item["recorded_at"] == "2026-03-04T05:06:07Z"


def test_summary_is_computed_over_the_samples(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    body = [
        {"seq": 0, "cpu_percent": 10.0, "recorded_at": at(0)},
        {"seq": 1, "cpu_percent": 90.0, "recorded_at": at(1.5)},  # above: counts 1.5 s
        {"seq": 2, "cpu_percent": 60.0, "recorded_at": at(2.0)},  # above: counts 0.5 s
        {"seq": 3, "cpu_percent": 20.0, "recorded_at": at(3.25)},
        {"seq": 4, "cpu_percent": 50.0, "recorded_at": at(4.0)},  # equal is not above
    ]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    summary = alice.get(f"/api/test-runs/{run['id']}").json()["summary"]
    assert summary["sample_count"] == 5
    assert summary["avg_percent"] == 46.0
    assert (summary["min_percent"], summary["max_percent"]) == (10.0, 90.0)
    assert (summary["first_sample_at"], summary["last_sample_at"]) == (at(0), at(4))
    assert summary["threshold_percent"] == 50.0
    assert summary["time_above_threshold_s"] == 2.0


def test_summary_threshold_can_be_overridden(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    body = [{"seq": i, "cpu_percent": p, "recorded_at": at(i)} for i, p in enumerate([10, 30, 30, 70])]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    summary = alice.get(f"/api/test-runs/{run['id']}", params={"threshold": 20}).json()["summary"]
    assert summary["threshold_percent"] == 20
    assert summary["time_above_threshold_s"] == 3.0


def test_summary_of_an_empty_run(alice: Client) -> None:
    run = start_run(alice)
    summary = alice.get(f"/api/test-runs/{run['id']}").json()["summary"]
    assert summary == {
        "sample_count": 0,
        "avg_percent": None,
        "min_percent": None,
        "max_percent": None,
        "first_sample_at": None,
        "last_sample_at": None,
        "threshold_percent": 80.0,
        "time_above_threshold_s": 0.0,
        "avg_user_percent": None,
        "avg_system_percent": None,
        "avg_iowait_percent": None,
        "avg_steal_percent": None,
        "max_core_percent": None,
    }


def test_finish_is_idempotent_and_blocks_new_samples(alice: Client) -> None:
    run = start_run(alice, started_at="2026-05-05T09:00:00Z")  # the end below must not be before the start
    url = f"/api/test-runs/{run['id']}"
    first = alice.post(f"{url}/finish", json={"ended_at": "2026-05-05T10:00:00.5Z"})
    assert first.status_code == 200
    assert first.json()["ended_at"] == "2026-05-05T10:00:00.500000Z"
    again = alice.post(f"{url}/finish")
    assert again.json()["ended_at"] == first.json()["ended_at"]
    refused = alice.post(f"{url}/cpu-usage", json={"cpu_percent": 1.0, "seq": 0})
    assert refused.status_code == 409
    assert "finished" in refused.json()["detail"]
    assert alice.get(url).json()["summary"]["sample_count"] == 0


def test_finish_without_body_uses_server_time(alice: Client) -> None:
    run = start_run(alice)
    ended = alice.post(f"/api/test-runs/{run['id']}/finish").json()["ended_at"]
    assert ended >= run["started_at"]


def test_a_finish_before_the_start_is_400_and_never_stored(alice: Client) -> None:
    run = start_run(alice, started_at="2026-05-05T10:00:00+02:00")
    url = f"/api/test-runs/{run['id']}"
    early = alice.post(f"{url}/finish", json={"ended_at": "2026-05-05T07:59:59.999999Z"})
    assert early.status_code == 400, early.text
    assert early.json()["extra"] == [
        {
            "message": "before the run's started_at (2026-05-05T08:00:00Z)",
            "path": "$.ended_at",
            "source": "body",
            "field": "ended_at",
        }
    ]
    assert alice.get(url).json()["ended_at"] is None
    # The end may equal the start (a run with no time in it); offsets are compared as instants.
    same = alice.post(f"{url}/finish", json={"ended_at": "2026-05-05T09:00:00+01:00"})
    assert same.status_code == 200, same.text
    assert same.json()["ended_at"] == "2026-05-05T08:00:00Z"


def test_a_finish_before_the_start_is_400_after_the_run_ended_too(alice: Client) -> None:
    run = start_run(alice, started_at="2026-05-05T08:00:00Z")
    url = f"/api/test-runs/{run['id']}"
    assert alice.post(f"{url}/finish", json={"ended_at": "2026-05-05T09:00:00Z"}).status_code == 200
    early = alice.post(f"{url}/finish", json={"ended_at": "2026-05-05T07:00:00Z"})
    assert early.status_code == 400, early.text
    assert alice.get(url).json()["ended_at"] == "2026-05-05T09:00:00Z"


def test_a_finish_at_server_time_before_a_future_start_is_400(alice: Client) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # a client clock ahead, within the accepted margin
    run = start_run(alice, started_at=start.isoformat())
    url = f"/api/test-runs/{run['id']}"
    refused = alice.post(f"{url}/finish")
    assert refused.status_code == 400, refused.text
    assert "after the server's time now: send an ended_at" in refused.json()["detail"]
    assert alice.get(url).json()["ended_at"] is None
    ended = (start + dt.timedelta(seconds=1)).isoformat()
    assert alice.post(f"{url}/finish", json={"ended_at": ended}).status_code == 200


def test_delete_removes_the_run_and_its_samples(alice: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(3))
    assert alice.delete(f"/api/test-runs/{run['id']}").status_code == 204
    assert alice.get(f"/api/test-runs/{run['id']}").status_code == 404
    assert alice.get(f"/api/test-runs/{run['id']}/cpu-usage").status_code == 404
    assert alice.delete(f"/api/test-runs/{run['id']}").status_code == 404


def test_samples_are_keyset_paginated_in_time_order(alice: Client) -> None:
    run = start_run(alice)
    body = samples(25)
    body.reverse()  # stored out of order; read back in time order
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = alice.get(f"/api/test-runs/{run['id']}/cpu-usage", params=params).json()
        seen += [item["seq"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(25))
    assert pages == 3


def test_samples_with_equal_timestamps_are_not_skipped_between_pages(alice: Client) -> None:
    run = start_run(alice)
    body = [{"seq": i, "cpu_percent": float(i), "recorded_at": at(0)} for i in range(5)]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    first = alice.get(f"/api/test-runs/{run['id']}/cpu-usage", params={"limit": 2}).json()
    rest = alice.get(f"/api/test-runs/{run['id']}/cpu-usage", params={"limit": 10, "cursor": first["next_cursor"]})
    assert len(first["items"]) + len(rest.json()["items"]) == 5
    assert {i["seq"] for i in first["items"] + rest.json()["items"]} == set(range(5))


def test_default_page_is_one_thousand_samples(alice: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(1_001, step_s=0.1))
    page = alice.get(f"/api/test-runs/{run['id']}/cpu-usage").json()
    assert len(page["items"]) == 1_000
    assert page["next_cursor"] is not None


def test_series_downsamples_into_buckets(alice: Client) -> None:
    run = start_run(alice)
    body = [{"seq": i, "cpu_percent": float(i % 100), "recorded_at": at(i)} for i in range(1_000)]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    items = alice.get(f"/api/test-runs/{run['id']}/cpu-usage/series", params={"points": 10}).json()["items"]
    # Buckets of a minute or more are whole minutes on the minute grid (read from the roll-ups,
    # docs/rollups.md): 999 s in at most 10 makes 2-minute buckets, 9 of them.
    assert len(items) == 9
    assert [p["count"] for p in items[:2]] == [120, 120]
    assert sum(p["count"] for p in items) == 1_000
    assert items[0]["start"] == at(0)
    assert items[0]["min_percent"] == 0.0
    assert items[0]["max_percent"] == 99.0
    assert all(p["min_percent"] <= p["avg_percent"] <= p["max_percent"] for p in items)


def test_series_of_an_empty_run_and_of_a_single_sample(alice: Client) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}/cpu-usage/series"
    assert alice.get(url).json() == {"items": []}
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 5.0, "recorded_at": at(0)})
    assert alice.get(url).json()["items"] == [
        {
            "start": at(0),
            "count": 1,
            "min_percent": 5.0,
            "avg_percent": 5.0,
            "max_percent": 5.0,
            "max_core_percent": None,
        }
    ]


def test_csv_export_has_every_sample(alice: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(2_500, percent=42.25, step_s=0.5))
    response = alice.get(f"/api/test-runs/{run['id']}/cpu-usage.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2_500
    assert [int(r["seq"]) for r in rows] == list(range(2_500))
    assert {r["cpu_percent"] for r in rows} == {"42.2"}  # one decimal: the agent's precision (runs/export.py)
    assert rows[1]["recorded_at"] == "2026-01-01T00:00:00.500000+00:00"


def test_csv_export_of_an_empty_run_is_just_the_header(alice: Client) -> None:
    run = start_run(alice)
    assert alice.get(f"/api/test-runs/{run['id']}/cpu-usage.csv").text == (
        "id,seq,recorded_at,cpu_percent,user_percent,system_percent,iowait_percent,steal_percent,max_core_percent\n"
    )


def test_resent_samples_are_not_logged_as_driver_warnings(alice: Client, caplog: pytest.LogCaptureFixture) -> None:
    # asyncmy would otherwise ask the server for the INSERT IGNORE's duplicate-key warnings (one more round
    # trip per resent batch) and log each one: a retrying agent would flood the server's log.
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}/cpu-usage"
    assert alice.post(url, json=samples(20)).json() == {"inserted": 20, "duplicates": 0}
    with caplog.at_level(logging.DEBUG):
        assert alice.post(url, json=samples(20)).json() == {"inserted": 0, "duplicates": 20}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_single_sample_ingest_makes_one_round_trip_per_statement_it_needs(
    alice: Client, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lean ingest path: the session read (unless Redis holds sessions) and the ingest's statements.
    # No ORM session, and no ROLLBACK when a connection goes back to its pool (asyncmy would send one
    # over the wire even in autocommit mode).
    run = start_run(alice)
    statements: list[str] = []
    ends: list[str] = []

    def note_statement(*args: Any) -> None:
        statements.append(" ".join(str(args[2]).split()[:5]))

    def counting(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: object) -> Any:
            ends.append(kind)
            return method(self)

        return call

    for adapter in (AsyncAdapt_dbapi_connection, AsyncAdapt_aiosqlite_connection):
        monkeypatch.setattr(adapter, "rollback", counting("rollback", adapter.rollback))
        monkeypatch.setattr(adapter, "commit", counting("commit", adapter.commit))
    event.listen(Engine, "before_cursor_execute", note_statement)
    try:
        answer = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 12.5, "seq": 0})
    finally:
        event.remove(Engine, "before_cursor_execute", note_statement)
    assert answer.status_code == 201, answer.text
    session_reads = [] if backend.redis_url else ["SELECT sessions.data, sessions.expires_at FROM sessions"]
    # One transaction: the run row written (serialising ingests into the run), the samples, the
    # roll-ups of the minutes they touched (docs/rollups.md), each statement once.
    assert statements[: len(session_reads)] == session_reads
    assert [_verb_and_table(s) for s in statements[len(session_reads) :]] == [
        ("BEGIN", None),
        ("UPDATE", "test_runs"),
        ("INSERT", "cpu_usage"),
        ("INSERT", "cpu_usage_rollups"),
        ("COMMIT", None),
    ], statements
    assert ends == []


def _verb_and_table(statement: str) -> tuple[str, str | None]:
    words = statement.split()
    if "INTO" in words:
        return words[0], words[words.index("INTO") + 1]
    return words[0], words[1] if words[0] == "UPDATE" else None


def test_the_ingest_route_resolves_its_dependencies_one_at_a_time(app: Litestar) -> None:
    # Two dependencies in one batch make Litestar start an anyio task group (two tasks) on every
    # request; the hot route keeps one (its service) and reads the caller from the request.
    routes = [r for r in app.routes if isinstance(r, HTTPRoute) and r.path.endswith("/cpu-usage")]
    assert len(routes) == 1
    _, model = routes[0].route_handler_map["POST"]
    batches = model.dependency_batches
    assert batches
    assert all(len(batch) == 1 for batch in batches)
