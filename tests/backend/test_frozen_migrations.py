"""Frozen migrations: the revisions import nothing from the backend, so they never change meaning."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cpumon_backend.auth.usernames import username_key
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from cpumon_database import MIGRATIONS_DIR
from tests.backend.test_schema import run_sync
from tests.support.modules import module_from_file

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Alice", "ALICE", "\uff21lice", "Ali\u200bce", "Jos\u00e9", "Jose\u0301", "stra\u00dfe", "\ufb01le", "\u2160"]


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_the_migrations_package_imports_nothing_from_the_backend() -> None:
    files = sorted(MIGRATIONS_DIR.rglob("*.py"))
    assert len(files) >= 7  # __init__, env, target and the revisions
    for path in files:
        imports = imported_modules(path.read_text())
        assert not {m for m in imports if m.split(".")[0] == "cpumon_backend"}, path
    template = (MIGRATIONS_DIR / "script.py.mako").read_text()
    assert not re.search(r"^\s*(import|from)\s+cpumon_backend", template, re.MULTILINE)


def test_the_demo_lives_outside_the_migrations_package() -> None:
    assert not (MIGRATIONS_DIR / "demo.py").exists()
    noxfile = (ROOT / "noxfile.py").read_text()
    module = re.search(r'"-m", "([\w.]+demo)"', noxfile)
    assert module is not None
    assert importlib.util.find_spec(module.group(1)) is not None


def _revision(prefix: str) -> ModuleType:
    return module_from_file(f"revision_{prefix}", next((MIGRATIONS_DIR / "versions").glob(f"{prefix}_*.py")))


def test_0003s_frozen_username_key_is_todays() -> None:
    """If this fails, the canonical form changed: the keys stored by 0003 are stale, so add a
    revision that recomputes them (with a frozen copy of the new rule), never edit 0003."""
    frozen = _revision("0003").username_key
    assert [frozen(name) for name in NAMES] == [username_key(name) for name in NAMES]


def test_upgrading_from_0002_stores_the_canonical_keys(tmp_path: Path) -> None:
    settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    upgrade(settings, "0002")

    def add_users(connection: Connection) -> None:
        for number, name in enumerate(["ALICE", "Jos\u00e9", "Bo\u200bb"]):
            connection.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, created_at, updated_at)"
                    " VALUES (:id, :name, 'x', '2026-01-01', '2026-01-01')"
                ),
                {"id": number + 1, "name": name},
            )

    run_sync(settings, add_users)
    upgrade(settings)
    keys = run_sync(
        settings, lambda c: [row[0] for row in c.execute(text("SELECT username_key FROM users ORDER BY id"))]
    )
    assert keys == ["alice", "jos\u00e9", "bob"]


def test_alembic_without_the_runner_says_how_to_migrate() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with pytest.raises(SystemExit, match="cpumon-server migrate"):
        command.upgrade(config, "head")
