"""The per-dialect SQL constructs of cpumon_backend/runs/sql.py, compiled for SQLite and MariaDB without a database
(only the compiled-cache test executes, on an in-memory SQLite)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import column, create_engine, literal
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import CacheStats

from cpumon_backend.runs.ingest import INSERT_SAMPLES, JSON_COLUMNS, encode_rows
from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.schemas import SampleIn
from cpumon_backend.runs.sql import BucketIndex, InsertFromJson, SecondsBetween

SQLITE, MARIADB = sqlite.dialect(), mysql.dialect(is_mariadb=True)


def sql(element: object, dialect: Dialect) -> str:
    return " ".join(str(element.compile(dialect=dialect)).split())  # type: ignore[attr-defined]


def test_seconds_between_keeps_microseconds_on_sqlite() -> None:
    compiled = sql(SecondsBetween(column("b"), column("a")), SQLITE)
    assert compiled == (
        "(((CAST(strftime('%s', substr(b, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(a, 1, 19)) AS INTEGER))"
        " * 1000000 + (CAST(substr(b, 21, 6) AS INTEGER) - CAST(substr(a, 21, 6) AS INTEGER))) / 1000000.0)"
    )


def test_seconds_between_is_timestampdiff_in_microseconds_on_mariadb() -> None:
    assert sql(SecondsBetween(column("b"), column("a")), MARIADB) == (
        "(CAST(TIMESTAMPDIFF(MICROSECOND, a, b) AS DOUBLE) / 1000000.0)"
    )


def test_bucket_index_per_dialect() -> None:
    index = BucketIndex(column("p"), literal(9))
    assert sql(index, SQLITE) == "min(CAST(p AS INTEGER), ?)"
    assert sql(index, MARIADB) == "LEAST(FLOOR(p), %s)"


@pytest.mark.parametrize("dialect", [SQLITE, MARIADB], ids=["sqlite", "mariadb"])
def test_ingest_is_one_insert_guarded_by_the_open_owned_run(dialect: Dialect) -> None:
    compiled = sql(INSERT_SAMPLES, dialect)
    assert compiled.startswith("INSERT ")
    assert compiled.count("INSERT") == 1
    bind = "?" if dialect is SQLITE else "%s"
    guard = f"WHERE test_runs.id = {bind} AND test_runs.user_id = {bind} AND test_runs.ended_at IS NULL"
    assert guard in compiled
    names = ", ".join(name for name, _ in JSON_COLUMNS)
    assert f"INTO cpu_usage (test_run_id, {names}, created_at) SELECT test_runs.id" in compiled


def test_ingest_skips_duplicates_with_each_dialects_own_form() -> None:
    lite, maria = sql(INSERT_SAMPLES, SQLITE), sql(INSERT_SAMPLES, MARIADB)
    # SQLite: only unique-key conflicts are skipped (not NOT NULL or foreign-key failures).
    assert lite.endswith("ON CONFLICT DO NOTHING")
    assert "OR IGNORE" not in lite
    assert "json_each(?) AS j" in lite
    assert "ORDER BY j.key" in lite
    assert maria.startswith("INSERT IGNORE INTO cpu_usage")
    assert "JSON_TABLE(%s, '$[*]' COLUMNS (n FOR ORDINALITY, seq BIGINT PATH '$[0]'" in maria
    assert maria.endswith("ORDER BY j.n")


def test_ingest_binds_four_named_parameters() -> None:
    for dialect in (SQLITE, MARIADB):
        compiled = INSERT_SAMPLES.compile(dialect=dialect)
        assert sorted(compiled.params) == ["now", "rows", "run_id", "user_id"]


def test_ingest_statement_is_compiled_once_and_then_taken_from_the_cache() -> None:
    # A construct without a cache key is compiled again on every execution (it was, on every ingest).
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE test_runs (id, user_id, ended_at)")
        connection.exec_driver_sql(
            "CREATE TABLE cpu_usage (test_run_id, seq UNIQUE, "
            + ", ".join([name for name, _ in JSON_COLUMNS[1:]] + ["created_at"])
            + ")"
        )
        params = {"run_id": uuid.uuid4(), "user_id": 1, "now": dt.datetime.now(dt.UTC), "rows": "[]"}
        cached = []
        for _ in range(2):
            result = connection.execute(INSERT_SAMPLES, params)
            cached.append(result.context.cache_hit)
    engine.dispose()
    assert cached == [CacheStats.CACHE_MISS, CacheStats.CACHE_HIT]
    differs = InsertFromJson(
        CpuUsage.__table__,  # type: ignore[arg-type]
        TestRun.__table__,  # type: ignore[arg-type]
        run_column="test_run_id",
        stamp_column="created_at",
        json_columns=JSON_COLUMNS[:-1],
    )
    assert differs._generate_cache_key() != INSERT_SAMPLES._generate_cache_key()


def test_rows_travel_as_utc_text_in_column_order() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    samples = [
        SampleIn(cpu_percent=12.5, recorded_at=dt.datetime(2026, 5, 1, 14, 0, 0, 7, tzinfo=plus_two), seq=3),
        SampleIn(cpu_percent=0.1),
    ]
    assert encode_rows(samples, now) == (
        '[[3,"2026-05-01 12:00:00.000007",12.5,null,null,null,null,null],'
        '[null,"2026-05-01 12:00:00.000000",0.1,null,null,null,null,null]]'
    )
