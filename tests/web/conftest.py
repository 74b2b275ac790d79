"""Browser tests of the dashboard: real Chromium against a real `cpumon-server` on a free port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser, browser_page  # noqa: F401 - fixtures
from tests.e2e.conftest import ServerProcess, server_database  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory, server_database: Path) -> Iterator[ServerProcess]:  # noqa: F811
    """One server per test module, over a copy of the migrated database with the e2e user."""
    folder = tmp_path_factory.mktemp("web-server")
    database = folder / "cpumon.db"
    shutil.copyfile(server_database, database)
    server = ServerProcess(database=database, log_path=folder / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.close()
