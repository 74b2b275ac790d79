"""Browser tests of the dashboard: real Chromium against a real `cpumon-server` on a free port.

The server runs over a copy of the migrated database with the e2e user, plus a second user whose
runs the first must never see. Runs are seeded through the public API with known figures.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from frontend.build import ensure_built
from tests.browser import BrowserPage, browser, browser_page  # noqa: F401 - fixtures
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    USERNAME,
    ServerProcess,
    server_database,
    server_over_copy,
    wait_for,
)

OTHER_USER, OTHER_PASSWORD = "other", "other-password-1"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
SCREENSHOTS = os.environ.get("CPUMON_SCREENSHOT_DIR")


@pytest.fixture(scope="session", autouse=True)
def dashboard_assets() -> None:
    """The built front end, as `nox -s package` ships it (npm + Vite run once if sources changed)."""
    ensure_built()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory, server_database: Path) -> Iterator[ServerProcess]:  # noqa: F811
    """One server per test module, over a copy of the migrated database with the e2e user and the other one."""
    folder = tmp_path_factory.mktemp("web-server")
    with server_over_copy(server_database, folder, (OTHER_USER, OTHER_PASSWORD)) as server:
        yield server


@dataclass
class Api:
    """The public API, logged in, for seeding and for checking what the pages did."""

    http: httpx.Client

    def start_run(self, name: str, hostname: str, started_at: dt.datetime | None = None, **extra: Any) -> str:
        body: dict[str, Any] = {"name": name, "hostname": hostname, **extra}
        if started_at is not None:
            body["started_at"] = started_at.isoformat()
        response = self.http.post("/api/test-runs", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def post(self, run_id: str, start: dt.datetime, values: list[float], first_seq: int = 0) -> None:
        samples = [
            {"cpu_percent": v, "recorded_at": (start + dt.timedelta(seconds=i)).isoformat(), "seq": first_seq + i}
            for i, v in enumerate(values)
        ]
        self.http.post(f"/api/test-runs/{run_id}/cpu-usage", json=samples).raise_for_status()

    def finish(self, run_id: str, ended_at: dt.datetime) -> None:
        self.http.post(f"/api/test-runs/{run_id}/finish", json={"ended_at": ended_at.isoformat()}).raise_for_status()

    def recorded(self, name: str, hostname: str, start: dt.datetime, values: list[float]) -> str:
        run_id = self.start_run(name, hostname, start, interval_s=1.0)
        self.post(run_id, start, values)
        self.finish(run_id, start + dt.timedelta(seconds=len(values)))
        return run_id


def api_for(server: ServerProcess, username: str = USERNAME, password: str = PASSWORD) -> Iterator[Api]:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        http.post("/api/auth/login", json={"username": username, "password": password}).raise_for_status()
        yield Api(http)


@pytest.fixture(scope="module")
def api(web_server: ServerProcess) -> Iterator[Api]:
    yield from api_for(web_server)


def log_in(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()


@pytest.fixture
def logged_in(web_server: ServerProcess, browser_page: BrowserPage) -> Page:  # noqa: F811
    page = browser_page(web_server.url, timezone_id="UTC")
    log_in(page)
    return page


def screenshot(page: Page, name: str) -> None:
    """Full-page screenshots for the README when CPUMON_SCREENSHOT_DIR is set."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
