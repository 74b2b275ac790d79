"""The browser fixture itself: Chromium loads a page from the real server, and only from it."""

from __future__ import annotations

import json

import pytest

from tests.browser import BrowserPage
from tests.e2e.conftest import ServerProcess

# The first test also waits for the module's server (and maybe the front end's build) on busy cores.
pytestmark = pytest.mark.timeout(600)


def test_chromium_reads_the_servers_health(web_server: ServerProcess, browser_page: BrowserPage) -> None:
    page = browser_page(web_server.url)
    response = page.goto("/health")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.locator("body").inner_text()) == {"status": "ok"}
