"""Migration 0009 ends every session, keeps users and their ids; new SQLite files are private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.backend.test_schema import run_sync
from tests.conftest import drop_mysql_database, mysql_database_url

BEFORE = "0008"  # the revision 0009 follows


def _at_before_with_a_session(connection: Connection) -> None:
    connection.execute(
        text(
            "INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at) "
            "VALUES (7, 'alice', 'alice', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    )
    connection.execute(
        text(
            "INSERT INTO sessions (id, session_id, data, expires_at) "
            "VALUES (:id, :session_id, :data, '2099-01-01 00:00:00')"
        ),
        {"id": b"0123456789abcdef", "session_id": "a" * 64, "data": b"{}"},
    )


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_the_upgrade_ends_every_session_and_keeps_the_users(kind: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}" if kind == "sqlite" else mysql_database_url("upgrade5")
    settings = ServerSettings(database_url=url)
    try:
        upgrade(settings, BEFORE)
        run_sync(settings, _at_before_with_a_session)
        upgrade(settings)
        assert run_sync(settings, lambda c: c.execute(text("SELECT count(*) FROM sessions")).scalar_one()) == 0
        users = run_sync(settings, lambda c: c.execute(text("SELECT id, disabled_at FROM users")).all())
        assert [tuple(row) for row in users] == [(7, None)]
    finally:
        if kind == "mysql":
            drop_mysql_database(url)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_default_sqlite_database_is_created_0600_in_a_0700_folder(
    tmp_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tmp_env.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    previous = os.umask(0o022)  # the usual umask, which would leave the file 0644
    try:
        settings = ServerSettings()
        upgrade(settings)
    finally:
        os.umask(previous)
    path = settings.sqlite_path()
    assert path is not None
    assert path.parent == tmp_path / "data" / "cpumon"
    assert _mode(path.parent) == 0o700
    created = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert path in created
    for file in created:  # the database, and SQLite's -wal and -shm beside it
        assert _mode(file) == 0o600, file


def test_an_existing_folder_and_file_keep_their_modes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    upgrade(ServerSettings(database_url=f"sqlite+aiosqlite:///{folder / 'cpumon.db'}"))
    assert _mode(folder) == 0o755
    assert _mode(folder / "cpumon.db") == 0o600  # created by cpumon: private
