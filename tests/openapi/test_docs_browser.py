"""/schema in real Chromium: Swagger UI renders every operation from same-origin files only, CSP intact.

`browser_page` (tests/browser.py) aborts and reports any request that leaves the server's origin, so
this is the "works on a machine without internet access" check.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage

from tests.browser import BrowserPage, browser, browser_page  # noqa: F401 - fixtures
from tests.reliability.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.xdist_group("openapi-docs-browser")]


@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
def test_swagger_ui_shows_every_operation_offline(
    browser_page: BrowserPage,  # noqa: F811
    api_server: Server,
    page_path: str,
) -> None:
    document: dict[str, Any] = httpx.get(f"{api_server.url}/schema/openapi.json", timeout=30).json()
    operations = sum(len(item) for item in document["paths"].values())
    page = browser_page(api_server.url)
    complaints: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            complaints.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: complaints.append(str(error)))
    page.goto(page_path)
    page.locator(".opblock").nth(operations - 1).wait_for()
    assert page.locator(".opblock").count() == operations
    assert page.locator(".info .title").inner_text().startswith("cpumon API")
    assert page.locator("button.authorize").count() == 1  # the cookie scheme is known to the UI
    assert complaints == []
