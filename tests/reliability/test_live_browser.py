"""The run page in real Chromium says "Reconnecting…" while the database is away, then follows again.

A real server on MariaDB behind the TCP proxy the test cuts for 3 s; the page watches a recording run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from frontend.build import ensure_built
from tests.browser import BrowserPage, browser, browser_page  # noqa: F401 - fixtures
from tests.conftest import MYSQL_URL, _require, drop_mysql_database, mysql_database_url
from tests.e2e.conftest import wait_for
from tests.web.conftest import log_in

from .conftest import PASSWORD, USERNAME, Database, Keep, Server, TcpProxy, prepare
from .live_support import ingest_until_stored, post_samples
from .test_db_outage import OUTAGE_S, serve_through

pytestmark = [pytest.mark.e2e, pytest.mark.mysql, pytest.mark.timeout(600)]

WITHIN_MS = 15_000  # the page reacts within about a second; slack for two busy cores


@pytest.fixture(scope="module", autouse=True)
def database() -> Iterator[Database]:
    """Built before the module's browser: Playwright's loop would refuse the asyncio.run of the set-up."""
    _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
    ensure_built()
    url = mysql_database_url("rel_live_browser")
    try:
        yield prepare("mysql", url)
    finally:
        drop_mysql_database(url)


def test_the_run_page_says_reconnecting_during_an_outage(
    database: Database,
    mysql_proxy: TcpProxy,
    start_server: Callable[..., Server],
    clients: Keep,
    browser_page: BrowserPage,  # noqa: F811
) -> None:
    server = serve_through(mysql_proxy, database, start_server)
    api = clients(server.client(timeout=30))
    run_id = str(api.post("/api/test-runs", json={"name": "outage in the browser"}).json()["id"])
    post_samples(api, run_id, 5)
    page: Page = browser_page(server.url, timezone_id="UTC")
    log_in(page, USERNAME, PASSWORD)
    page.goto(f"/runs/{run_id}")
    badge = page.locator("#live-badge")
    samples = page.locator('#summary [data-field="samples"] dd')
    expect(badge).to_have_attribute("data-live", "true")
    expect(samples).to_have_text("5")

    mysql_proxy.cut()
    cut_at = time.monotonic()
    expect(badge).to_have_attribute("data-live", "reconnecting", timeout=WITHIN_MS)
    expect(badge).to_have_text("Reconnecting…")
    wait_for(lambda: time.monotonic() - cut_at >= OUTAGE_S, within=OUTAGE_S + 1, what="the outage to last")
    mysql_proxy.restore()

    expect(badge).to_have_attribute("data-live", "true", timeout=WITHIN_MS)
    ingest_until_stored(api, run_id, seq=100)
    expect(samples).to_have_text("6", timeout=WITHIN_MS)  # pushed again after the outage
