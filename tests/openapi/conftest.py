"""A real `cpumon-server` on a free port, and the OpenAPI document it serves, for the generated clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import Server, prepare


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("openapi-server")
    # In a thread of its own: Playwright's sync API may already run an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        database = thread.submit(prepare, "sqlite", f"sqlite+aiosqlite:///{tmp / 'cpumon.db'}").result()
    server = Server(settings=database.server_settings(CPUMON_LOG_LEVEL="warning"), log_path=tmp / "server.log")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served_document(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/schema/openapi.json exactly as the server serves it, in a file for the generators."""
    response = httpx.get(f"{api_server.url}/schema/openapi.json", timeout=30)
    assert response.status_code == 200
    path = tmp_path_factory.mktemp("openapi-document") / "openapi.json"
    path.write_text(json.dumps(response.json(), indent=1))
    return path
