"""Roll-ups are exact: every summary read from them equals today's raw computation (rollups_oracle.py).

Property-based: hypothesis generates runs (samples at gaps that cross minutes or leave minutes
empty, ties, values at the threshold, breakdowns present or not), sends them through the real
ingest in shuffled batches with resent duplicates, and compares whole-run, list, window and
other-threshold summaries with the oracle over windows at arbitrary edges, on SQLite and MariaDB.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine

from cpumon_backend.runs.models import CpuUsageRollup, TestRun
from cpumon_backend.runs.rollups import BUCKET, MinuteOf, minute_of, minute_start
from cpumon_backend.runs.series import minute_grid
from cpumon_backend.runs.sql import as_timestamp
from cpumon_backend.runs.summaries import empty_summary, summaries_from_rows, summary_statement
from cpumon_backend.runs.window import Window
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.backend.conftest import start_run
from tests.backend.rollups_oracle import bounds_statement, oracle_summary, series_statement, summaries_statement
from tests.backend.test_schema import run_sync
from tests.conftest import Backend, drop_mysql_database, emptied_backend, mysql_database_url

Client = TestClient[Litestar]

THRESHOLD = 80.0
BASE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
# Gaps between samples: ties, microseconds, within a minute, exactly a minute, minutes left empty.
GAPS_S = (0.0, 0.000001, 0.4, 1.0, 7.25, 59.999999, 60.0, 61.0, 185.5)
PERCENTS = (0.0, 12.5, 79.999999, 80.0, 80.000001, 95.0, 100.0)
FLOAT_FIELDS = (
    "avg_percent",
    "avg_user_percent",
    "avg_system_percent",
    "avg_iowait_percent",
    "avg_steal_percent",
)


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return emptied_backend(request, request.param)


@dataclass(frozen=True)
class Scenario:
    samples: list[dict[str, Any]]
    batches: list[list[int]]  # indexes into samples, in sending order (a repeat is a resend)
    windows: list[tuple[dt.datetime | None, dt.datetime | None]]
    thresholds: list[float]
    points: list[int]


def _iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 24))
    start = BASE + dt.timedelta(seconds=draw(st.integers(0, 119)), microseconds=draw(st.integers(0, 999_999)))
    times = [start]
    for gap in draw(st.lists(st.sampled_from(GAPS_S), min_size=count - 1, max_size=count - 1)):
        times.append(times[-1] + dt.timedelta(seconds=gap))
    samples = []
    for i, at in enumerate(times):
        sample: dict[str, Any] = {"cpu_percent": draw(st.sampled_from(PERCENTS)), "recorded_at": _iso(at)}
        if draw(st.booleans()) or i % 5:  # most carry a seq (resends of those are skipped)
            sample["seq"] = i
        if draw(st.booleans()):
            sample |= {
                "user_percent": 10.5,
                "system_percent": draw(st.sampled_from((1.0, 2.25))),
                "iowait_percent": 0.0,
            }
            sample |= {"steal_percent": 0.5, "max_core_percent": draw(st.sampled_from(PERCENTS))}
        samples.append(sample)
    order = draw(st.permutations(range(count)))
    cuts = sorted(draw(st.sets(st.integers(1, max(count - 1, 1)), max_size=5)))
    batches = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, count], strict=True) if order[a:b]]
    resent = [b for b in draw(st.lists(st.sampled_from(batches), max_size=2)) if all("seq" in samples[i] for i in b)]
    edges = [*times, *(t + US for t in times), *(t - US for t in times)]
    edges += [t.replace(second=0, microsecond=0) + dt.timedelta(minutes=k) for t in times for k in (0, 1)]
    edges += [t + dt.timedelta(seconds=k) for t in times for k in (-75, -15, 15, 75)]
    edge = st.one_of(st.none(), st.sampled_from(edges))
    windows = [
        tuple(sorted(pair, key=lambda at: at or BASE))
        for pair in draw(st.lists(st.tuples(edge, edge), min_size=3, max_size=6))
    ]
    return Scenario(
        samples=samples,
        batches=batches + resent,
        windows=[(None, None), *windows],  # type: ignore[list-item]
        thresholds=draw(st.lists(st.sampled_from((50.0, 90.0)), max_size=1)),
        points=draw(st.lists(st.sampled_from((1, 2, 3, 5)), min_size=1, max_size=2)),
    )


@functools.cache
def _sync_engine(url: str) -> Engine:
    """A blocking engine on the test's database, for the oracle's reads (loop-free: cheap per call)."""
    return create_engine(url.replace("+aiosqlite", "").replace("+asyncmy", "+pymysql"))


def _read(url: str, statement: Any) -> list[Any]:
    with _sync_engine(url).connect() as connection:
        return list(connection.execute(statement).all())


def oracle(backend: Backend, run_id: uuid.UUID, threshold: float | None, window: Window | None) -> dict[str, Any]:
    limit = THRESHOLD if threshold is None else threshold
    rows = _read(backend.database_url, summaries_statement([run_id], threshold, window))
    row = rows[0] if rows else None
    summary = empty_summary(limit) if row is None else oracle_summary(row, limit)
    answer: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(summary))
    return answer


def assert_same(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in FLOAT_FIELDS:  # sums of doubles in another order: equal to the last few bits
        if expected[name] is not None:
            assert answer[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-9), name
    # Time above: the oracle sums seconds as doubles, the roll-ups whole microseconds.
    assert answer["time_above_threshold_s"] == pytest.approx(expected["time_above_threshold_s"], abs=1.5e-6)
    exact = {k: v for k, v in expected.items() if k not in {*FLOAT_FIELDS, "time_above_threshold_s"}}
    assert {k: answer[k] for k in exact} == exact


def assert_same_series(
    alice: Client,
    backend: Backend,
    run_id: uuid.UUID,
    points: int,
    window: tuple[dt.datetime | None, dt.datetime | None],
) -> None:
    """The series of a run from the roll-ups equals the raw samples' on the same minute grid."""
    start, end = window
    first, last = _read(backend.database_url, bounds_statement(run_id, start, end))[0]
    grid = None if first is None else minute_grid(first, last, points)
    if grid is None:
        return  # buckets under a minute: read raw, as before the roll-ups
    expected = [
        {"start": _iso(at), "count": n, "min_percent": lo, "avg_percent": float(total) / n, "max_percent": hi,
         "max_core_percent": core}
        for _, at, n, lo, total, hi, core in _read(backend.database_url, series_statement(run_id, grid, start, end))
    ]  # fmt: skip
    params = {"points": points} | {k: _iso(at) for k, at in zip(("from", "to"), window, strict=True) if at is not None}
    response = alice.get(f"/api/test-runs/{run_id}/cpu-usage/series", params=params)
    assert response.status_code == 200, response.text
    answer = response.json()["items"]
    assert len(answer) == len(expected) <= points
    for got, want in zip(answer, expected, strict=True):
        assert got["avg_percent"] == pytest.approx(want.pop("avg_percent"), rel=1e-12)
        assert dt.datetime.fromisoformat(got.pop("start")) == dt.datetime.fromisoformat(want.pop("start"))
        assert {k: got[k] for k in want} == want


def summary_of(alice: Client, run_id: str, window: tuple[dt.datetime | None, dt.datetime | None], **extra: Any) -> Any:
    params = {name: _iso(at) for name, at in zip(("from", "to"), window, strict=True) if at is not None}
    response = alice.get(f"/api/test-runs/{run_id}", params=params | extra)
    assert response.status_code == 200, response.text
    return response.json()["summary"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(scenario=scenarios())
def test_every_summary_equals_the_raw_computation(alice: Client, backend: Backend, scenario: Scenario) -> None:
    run = start_run(alice, threshold_percent=THRESHOLD, started_at=_iso(BASE - dt.timedelta(hours=1)))
    run_id = uuid.UUID(run["id"])
    for batch in scenario.batches:
        body = [scenario.samples[i] for i in batch]
        assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body).status_code == 201
    listed = alice.get("/api/test-runs", params={"summary": "true", "limit": 100}).json()["items"]
    assert_same(
        next(item["summary"] for item in listed if item["id"] == run["id"]), oracle(backend, run_id, None, None)
    )
    for start, end in scenario.windows:
        window = None if start is None and end is None else Window(start, end)
        assert_same(summary_of(alice, run["id"], (start, end)), oracle(backend, run_id, None, window))
        for threshold in scenario.thresholds:
            answer = summary_of(alice, run["id"], (start, end), threshold=threshold)
            assert_same(answer, oracle(backend, run_id, threshold, window))
        for points in scenario.points:
            assert_same_series(alice, backend, run_id, points, (start, end))


def test_a_late_sample_changes_its_own_minute_and_the_next_samples_interval(alice: Client, backend: Backend) -> None:
    # 12:00:10 and 12:05:10 (above): 300 s above. A late 12:03:00 (below) splits it: 130 s above.
    run = start_run(alice, threshold_percent=THRESHOLD, started_at=_iso(BASE))
    url = f"/api/test-runs/{run['id']}/cpu-usage"
    at = [BASE + dt.timedelta(seconds=s) for s in (10, 310, 180)]
    alice.post(url, json=[{"seq": 0, "cpu_percent": 90, "recorded_at": _iso(at[0])}])
    alice.post(url, json=[{"seq": 2, "cpu_percent": 90, "recorded_at": _iso(at[1])}])
    assert summary_of(alice, run["id"], (None, None))["time_above_threshold_s"] == 300.0
    alice.post(url, json=[{"seq": 1, "cpu_percent": 10, "recorded_at": _iso(at[2])}])
    assert summary_of(alice, run["id"], (None, None))["time_above_threshold_s"] == 130.0
    assert summary_of(alice, run["id"], (BASE + dt.timedelta(seconds=240), None))["time_above_threshold_s"] == 70.0


def _rollup_rows(backend: Backend, run_id: str) -> int:
    query = select(func.count()).where(CpuUsageRollup.test_run_id == uuid.UUID(run_id))
    return int(_read(backend.database_url, query)[0][0])


def test_deleting_a_run_deletes_its_rollups(alice: Client, backend: Backend) -> None:
    run = start_run(alice)
    samples = [
        {"seq": i, "cpu_percent": 50, "recorded_at": _iso(BASE + dt.timedelta(seconds=30 * i))} for i in range(5)
    ]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples)
    assert _rollup_rows(backend, run["id"]) == 3  # 12:00:00-30, 12:01:00-30, 12:02:00
    assert alice.delete(f"/api/test-runs/{run['id']}").status_code == 204
    assert _rollup_rows(backend, run["id"]) == 0


def test_a_window_with_edges_inside_minutes(alice: Client, backend: Backend) -> None:
    run = start_run(alice, threshold_percent=THRESHOLD, started_at=_iso(BASE))
    seconds = (10, 20, 50, 70, 130, 185, 200, 260)
    body = [
        {"seq": i, "cpu_percent": 90 if i % 3 else 10, "recorded_at": _iso(BASE + dt.timedelta(seconds=s))}
        for i, s in enumerate(seconds)
    ]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    for start_s, end_s in ((15, 250), (15, None), (None, 190), (60, 180), (61, 119.5), (20, 20)):
        start = None if start_s is None else BASE + dt.timedelta(seconds=start_s)
        end = None if end_s is None else BASE + dt.timedelta(seconds=end_s)
        window = Window(start, end)
        assert_same(summary_of(alice, run["id"], (start, end)), oracle(backend, uuid.UUID(run["id"]), None, window))


def _old_samples() -> list[dict[str, Any]]:
    """Samples as a run stored before 0007 may hold them: ties, gaps, breakdowns only on some."""
    rows, at = [], BASE
    for i in range(150):
        at += dt.timedelta(seconds=GAPS_S[(i * 7) % len(GAPS_S)])
        breakdown = (10.5, 2.25, 0.0, 0.5, 91.0) if i % 3 else (None,) * 5
        values = dict(zip(("user", "system", "iowait", "steal", "core"), breakdown, strict=True))
        rows.append({"seq": i, "at": at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                     "cpu": PERCENTS[(i * 5) % len(PERCENTS)], **values})  # fmt: skip
    return rows


def _store_at_0004(connection: Connection, run_id: uuid.UUID) -> None:
    now = "2026-01-01 00:00:00.000000"
    connection.execute(
        text(
            "INSERT INTO users (username, username_key, password_hash, updated_at, created_at)"
            " VALUES ('u', 'u', 'x', :t, :t)"
        ),
        {"t": now},
    )
    connection.execute(
        text(
            "INSERT INTO test_runs (id, user_id, name, hostname, threshold_percent, started_at, updated_at,"
            " created_at) VALUES (:id, (SELECT id FROM users), 'old', '', 80, :t, :t, :t)"
        ),
        {"id": run_id.bytes, "t": now},
    )
    connection.execute(
        text(
            "INSERT INTO cpu_usage (test_run_id, seq, recorded_at, cpu_percent, user_percent, system_percent,"
            " iowait_percent, steal_percent, max_core_percent, created_at)"
            " VALUES (:id, :seq, :at, :cpu, :user, :system, :iowait, :steal, :core, :at)"
        ),
        [{"id": run_id.bytes, **row} for row in _old_samples()],
    )


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_the_migration_builds_rollups_for_runs_stored_before_it(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    else:
        settings = ServerSettings(database_url=mysql_database_url("rollups_migration"))
    url = settings.database_url.get_secret_value()
    run = TestRun(id=uuid.uuid4(), threshold_percent=THRESHOLD)
    try:
        upgrade(settings, "0004")
        run_sync(settings, lambda connection: _store_at_0004(connection, run.id))
        upgrade(settings)
        times = [dt.datetime.fromisoformat(row["at"]).replace(tzinfo=dt.UTC) for row in _old_samples()]
        windows = [None, Window(times[10] + dt.timedelta(seconds=15), times[120]), Window(None, times[60] - US)]
        for window in windows:
            rows = _read(url, summary_statement([run], None, window))
            answer = msgspec.json.decode(msgspec.json.encode(summaries_from_rows(rows, {run.id: THRESHOLD})[run.id]))
            assert_same(answer, oracle(Backend(kind, url), run.id, None, window))
    finally:
        if kind == "mysql":
            drop_mysql_database(url)


EDGE_TIMES = (
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    BASE + dt.timedelta(seconds=59, microseconds=999_999),
    BASE + dt.timedelta(seconds=60),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
)


def test_the_minute_of_a_time_is_the_same_in_sql_and_python(backend: Backend) -> None:
    statement = select(*(MinuteOf(as_timestamp(at)) for at in EDGE_TIMES))
    (row,) = _read(backend.database_url, statement)
    assert list(row) == [minute_of(at) for at in EDGE_TIMES]
    assert all(dt.timedelta(0) <= at - minute_start(minute_of(at)) < BUCKET for at in EDGE_TIMES)


def test_samples_and_windows_at_the_ends_of_representable_time(alice: Client, backend: Backend) -> None:
    # Samples from the year 1 on (times ahead of the server's clock are refused); windows to 9999.
    stored = EDGE_TIMES[:-1]
    run = start_run(alice, threshold_percent=THRESHOLD, started_at=_iso(stored[0]))
    body = [{"seq": i, "cpu_percent": 90.0, "recorded_at": _iso(at)} for i, at in enumerate(stored)]
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body).status_code == 201
    end = EDGE_TIMES[-1]
    windows = ((None, None), (end - dt.timedelta(seconds=30), None), (stored[0], end), (None, BASE), (stored[1], end))
    for start, stop in windows:
        window = None if start is None and stop is None else Window(start, stop)
        assert_same(summary_of(alice, run["id"], (start, stop)), oracle(backend, uuid.UUID(run["id"]), None, window))
