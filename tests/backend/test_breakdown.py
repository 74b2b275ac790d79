"""The CPU breakdown and the hottest core: optional per sample, validated, stored, summarised, exported."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cpumon.wire import BREAKDOWN_FIELDS
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.backend.conftest import at, start_run
from tests.backend.test_schema import run_sync
from tests.conftest import drop_mysql_database, mysql_database_url

Client = TestClient[Litestar]


def broken_down(seq: int, total: float, *breakdown: float) -> Any:
    return {
        "seq": seq,
        "recorded_at": at(seq),
        "cpu_percent": total,
        **dict(zip(BREAKDOWN_FIELDS, breakdown, strict=True)),
    }


def test_breakdown_is_stored_summarised_and_exported(alice: Client) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}"
    body = [
        broken_down(0, 20.0, 10.0, 5.0, 4.0, 1.0, 60.0),
        broken_down(1, 40.0, 30.0, 7.0, 2.0, 1.0, 100.0),
        {"seq": 2, "recorded_at": at(2), "cpu_percent": 30.0},  # an older client: the total only
    ]
    assert alice.post(f"{url}/cpu-usage", json=body).json() == {"inserted": 3, "duplicates": 0}
    summary = alice.get(url).json()["summary"]
    assert summary["avg_percent"] == 30.0  # every sample
    assert (summary["avg_user_percent"], summary["avg_system_percent"]) == (20.0, 6.0)  # only those that carry it
    assert (summary["avg_iowait_percent"], summary["avg_steal_percent"]) == (3.0, 1.0)
    assert summary["max_core_percent"] == 100.0
    listed = alice.get("/api/test-runs", params={"summary": "true"}).json()["items"][0]["summary"]
    assert listed == summary

    items = alice.get(f"{url}/cpu-usage").json()["items"]
    assert [i["max_core_percent"] for i in items] == [60.0, 100.0, None]
    assert [i["user_percent"] for i in items] == [10.0, 30.0, None]

    rows = list(csv.DictReader(io.StringIO(alice.get(f"{url}/cpu-usage.csv").text)))
    assert list(rows[0]) == ["id", "seq", "recorded_at", "cpu_percent", *BREAKDOWN_FIELDS]
    assert [rows[0][f] for f in BREAKDOWN_FIELDS] == ["10.0", "5.0", "4.0", "1.0", "60.0"]
    assert [rows[2][f] for f in BREAKDOWN_FIELDS] == [""] * 5

    series = alice.get(f"{url}/cpu-usage/series", params={"points": 1}).json()["items"]
    assert series[0]["max_core_percent"] == 100.0


def test_a_run_without_breakdown_summarises_it_as_null(alice: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json={"cpu_percent": 5.0, "seq": 0})
    summary = alice.get(f"/api/test-runs/{run['id']}").json()["summary"]
    assert [summary[k] for k in ("avg_user_percent", "avg_steal_percent", "max_core_percent")] == [None] * 3


BAD_VALUES = [("above 100", "100.5"), ("below 0", "-1"), ("string", '"5"'), ("boolean", "true"), ("huge", "1e999")]


@pytest.mark.parametrize("field", BREAKDOWN_FIELDS)
@pytest.mark.parametrize("value", [v for _, v in BAD_VALUES], ids=[n for n, _ in BAD_VALUES])
def test_bad_breakdown_values_are_400_naming_the_field(alice: Client, field: str, value: str) -> None:
    run = start_run(alice)
    raw = f'[{{"cpu_percent": 1, "seq": 0}}, {{"cpu_percent": 1, "seq": 1, "{field}": {value}}}]'.encode()
    url = f"/api/test-runs/{run['id']}/cpu-usage"
    response = alice.post(url, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert f"$[1].{field}" in response.json()["detail"]
    assert alice.get(f"/api/test-runs/{run['id']}").json()["summary"]["sample_count"] == 0


@pytest.mark.parametrize("field", BREAKDOWN_FIELDS)
def test_null_and_nan_breakdown(alice: Client, field: str) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}/cpu-usage"
    assert alice.post(url, json={"cpu_percent": 1, "seq": 0, field: None}).status_code == 201
    raw = json.dumps({"cpu_percent": 1, "seq": 1, field: float("nan")}).encode()  # json.dumps writes NaN
    assert alice.post(url, content=raw, headers={"content-type": "application/json"}).status_code == 400


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_migration_keeps_older_samples_with_null_breakdown(kind: str, tmp_path: Any) -> None:
    if kind == "sqlite":
        settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    else:
        settings = ServerSettings(database_url=mysql_database_url("breakdown"))

    def insert_old_sample(connection: Connection) -> None:
        now = "2026-01-01 00:00:00"
        run_id = b"\x01" * 16
        connection.execute(
            text("INSERT INTO users (username, password_hash, updated_at, created_at) VALUES ('u', 'x', :t, :t)"),
            {"t": now},
        )
        connection.execute(
            text(
                "INSERT INTO test_runs (id, user_id, name, hostname, threshold_percent, started_at, updated_at,"
                " created_at) VALUES (:id, 1, 'old', '', 80, :t, :t, :t)"
            ),
            {"id": run_id, "t": now},
        )
        connection.execute(
            text(
                "INSERT INTO cpu_usage (test_run_id, seq, recorded_at, cpu_percent, created_at)"
                " VALUES (:id, 0, :t, 12.5, :t)"
            ),
            {"id": run_id, "t": now},
        )

    def read_sample(connection: Connection) -> tuple[Any, ...]:
        statement = text(
            "SELECT cpu_percent, user_percent, system_percent, iowait_percent, steal_percent,"
            " max_core_percent FROM cpu_usage"
        )
        return tuple(connection.execute(statement).one())

    try:
        upgrade(settings, "0001")
        run_sync(settings, insert_old_sample)
        upgrade(settings)
        assert run_sync(settings, read_sample) == (12.5, None, None, None, None, None)
    finally:
        if kind == "mysql":
            drop_mysql_database(settings.database_url.get_secret_value())
