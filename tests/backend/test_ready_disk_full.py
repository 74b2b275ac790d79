"""/ready is 503 when the disk under an SQLite database is full, and 200 again once there is room.

A real full disk: a 4 MiB tmpfs mounted for this test (root only; skipped with the reason elsewhere),
the database migrated onto it, a real server, then a file that takes every free byte.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.migrations import upgrade
from tests.support.server import ServerProcess, clean_environ


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    """A file that takes every byte the file system has left (unbuffered writes, smaller as room ends)."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = 1 << 16
        while size:
            try:
                os.write(descriptor, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(descriptor)
    return filler


def ready(server: ServerProcess) -> httpx.Response:
    return httpx.get(f"{server.url}/ready", timeout=30)


def test_ready_is_503_while_the_sqlite_disk_is_full(tiny_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tiny_disk / 'cpumon.db'}"
    upgrade(ServerSettings(database_url=url))
    server = ServerProcess(log_path=tmp_path / "server.log", env=clean_environ(CPUMON_DATABASE_URL=url))
    with server:
        assert ready(server).status_code == 200
        filler = fill(tiny_disk)
        full = ready(server)
        assert full.status_code == 503, full.text
        assert "disk full" in full.json()["detail"]
        assert "Retry-After" in full.headers
        filler.unlink()
        assert ready(server).status_code == 200
