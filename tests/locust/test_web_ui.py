"""The "System under test" tab in Locust's own web UI, rendered by real Chromium while a test runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser import BrowserPage
from tests.locust.conftest import Recording, free_port, locust_command, locust_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

#: Set to a folder (e.g. docs) to keep the tab's screenshot there; the README shows docs/locust-tab.png.
SCREENSHOT_DIR = os.environ.get("CPUMON_SCREENSHOT_DIR")


@pytest.fixture
def locust_web(recording: Recording, target: str, tmp_path: Path) -> Iterator[str]:
    """Locust with its web UI, started at once (--autostart) for long enough to be watched; stopped after."""
    port = free_port()
    args = ["--autostart", "--run-time", "60s", "--web-host", "127.0.0.1", "--web-port", str(port)]
    args += ["--cpumon-interval", "1"]
    log = (tmp_path / "locust.log").open("wb")
    process = subprocess.Popen(
        locust_command(target, recording.server.url, *args),
        env=locust_env(tmp_path),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(f"locust exited early:\n{(tmp_path / 'locust.log').read_text()}")
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answering, within=60.0, what="Locust's web UI", every=0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


def open_tab(browser_page: BrowserPage, url: str, *, height: int) -> Page:
    page = browser_page(url, width=1280, height=height)
    page.goto("/?tab=cpumon")
    page.get_by_role("tab", name="System under test").wait_for()
    return page


def test_the_tab_shows_each_host_and_updates_during_the_test(
    recording: Recording, locust_web: str, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page = open_tab(browser_page, locust_web, height=560)
    row = page.locator("tr", has=page.get_by_role("cell", name=recording.hostname, exact=True))
    row.wait_for()
    assert page.get_by_role("columnheader", name="Above threshold (s)").is_visible()
    samples = row.locator("td").nth(2)
    first = int(samples.inner_text())

    def grew() -> int | None:
        value = int(samples.inner_text())
        return value if value > first else None

    wait_for(grew, within=30.0, what="the tab's sample count to grow with the next stats refresh", every=0.2)
    current = row.locator("td").nth(3).inner_text()
    assert current == "-" or 0.0 <= float(current) <= 100.0

    shot = tmp_path / "locust-tab.png"
    page.screenshot(path=str(shot))
    if SCREENSHOT_DIR:
        shutil.copyfile(shot, Path(SCREENSHOT_DIR) / "locust-tab.png")


def test_the_tab_charts_each_hosts_cpu_beside_the_load_and_its_capacity(
    recording: Recording, locust_web: str, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page = open_tab(browser_page, locust_web, height=1100)
    assert page.get_by_role("columnheader", name="CPU % per 1,000 req/s").is_visible()
    assert page.get_by_role("columnheader", name="Req/s at threshold").is_visible()
    chart = page.locator(f'#cpumon-charts svg[data-host="{recording.hostname}"]')
    chart.wait_for(timeout=30_000)
    # The chart grows with the test: wait for its CPU line to hold a few intervals' points.
    cpu_points = chart.locator("polyline").first

    def several_points() -> int | None:
        count = len((cpu_points.get_attribute("points") or "").split())
        return count if count >= 3 else None

    wait_for(several_points, within=60.0, what="three intervals on the tab's CPU line", every=0.5)
    assert chart.locator("g.event").count() >= 2  # "test start" and "users 0 -> 2"
    assert chart.locator("line.threshold").count() == 1
    page.locator("#cpumon-charts").scroll_into_view_if_needed()
    shot = tmp_path / "locust-chart.png"
    page.screenshot(path=str(shot), full_page=True)
    if SCREENSHOT_DIR:
        shutil.copyfile(shot, Path(SCREENSHOT_DIR) / "locust-chart.png")
