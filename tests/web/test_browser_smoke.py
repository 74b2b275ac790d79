"""The browser fixture itself: Chromium loads a page from the real server, and only from it."""

from __future__ import annotations

import json

from tests.browser import BrowserPage
from tests.e2e.conftest import ServerProcess


def test_chromium_reads_the_servers_health(web_server: ServerProcess, browser_page: BrowserPage) -> None:
    page = browser_page(web_server.url)
    response = page.goto("/health")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.locator("body").inner_text()) == {"status": "ok"}
