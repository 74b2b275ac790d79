"""The migrated schema: equal to the models, cascading in the database itself, precise timestamps."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from cpumon_backend.storage.migrations import LOCK_TABLE, compare_type, downgrade, include_object, upgrade
from cpumon_backend.storage.models import metadata
from tests.backend.conftest import samples, start_run
from tests.conftest import Backend, drop_mysql_database, mysql_database_url

Client = TestClient[Litestar]


def run_sync(settings: ServerSettings, fn: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(settings)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": compare_type, "include_object": include_object, "target_metadata": metadata}
    )
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_migrated_schema_equals_the_models(kind: str, request: pytest.FixtureRequest) -> None:
    backend: Backend = request.getfixturevalue(f"{kind}_backend")
    assert run_sync(backend.settings(), drift) == []


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_downgrade_and_upgrade_again(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    backend: Backend = request.getfixturevalue(f"{kind}_backend")
    if kind == "sqlite":
        settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    else:
        settings = ServerSettings(database_url=mysql_database_url("roundtrip"))
    try:
        upgrade(settings)
        downgrade(settings, "base")
        tables = run_sync(settings, lambda c: set(c.dialect.get_table_names(c)))
        assert tables <= {"alembic_version", LOCK_TABLE}  # the migration lock outlives the schema
        upgrade(settings)
        assert run_sync(settings, drift) == []
        assert backend.name == kind
    finally:
        if kind == "mysql":
            drop_mysql_database(settings.database_url.get_secret_value())


def test_deleting_a_run_with_plain_sql_deletes_its_samples(alice: Client, settings: ServerSettings) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(20))
    other = start_run(alice)
    alice.post(f"/api/test-runs/{other['id']}/cpu-usage", json=samples(3))
    run_id = uuid.UUID(run["id"])

    def delete_run(connection: Connection) -> tuple[int, int]:
        bind = run_id.bytes
        connection.execute(text("DELETE FROM test_runs WHERE id = :id"), {"id": bind})
        gone = connection.execute(text("SELECT count(*) FROM cpu_usage WHERE test_run_id = :id"), {"id": bind})
        left = connection.execute(text("SELECT count(*) FROM cpu_usage"))
        return gone.scalar_one(), left.scalar_one()

    assert run_sync(settings, delete_run) == (0, 3)


def test_mysql_timestamps_keep_microseconds(mysql_backend: Backend) -> None:
    def precisions(connection: Connection) -> set[tuple[str, str, int]]:
        rows = connection.execute(
            text(
                "SELECT table_name, column_name, datetime_precision FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND data_type = 'datetime' AND table_name <> 'sessions'"
            )
        )
        return {(r[0], r[1], r[2]) for r in rows}

    found = run_sync(mysql_backend.settings(), precisions)
    assert len(found) == 14  # login_attempts.window_ends_at, run_events' at and created_at, roll-ups' first_at,
    # last_at, users.disabled_at
    assert {p for _, _, p in found} == {6}


def test_mysql_foreign_key_cascades_in_the_database(mysql_backend: Backend) -> None:
    def rule(connection: Connection) -> str:
        return str(
            connection.execute(
                text(
                    "SELECT delete_rule FROM information_schema.referential_constraints "
                    "WHERE constraint_schema = DATABASE() AND table_name = 'cpu_usage'"
                )
            ).scalar_one()
        )

    assert run_sync(mysql_backend.settings(), rule) == "CASCADE"


def test_sqlite_foreign_key_cascades_in_the_database(sqlite_backend: Backend) -> None:
    def ddl(connection: Connection) -> str:
        return str(connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'cpu_usage'")).scalar_one())

    assert "ON DELETE CASCADE" in run_sync(sqlite_backend.settings(), ddl)
