"""Real Chromium for tests, driven by Playwright from PyPI: Debian's `chromium`, never a downloaded browser.

Import the fixtures into a conftest (`from tests.browser import browser, browser_page  # noqa: F401`).
`browser` is one headless Chromium per test module (not per process: Playwright's sync API keeps an
event loop running while it is open, and later tests of the process call asyncio.run).
`browser_page(base_url)` opens a page in a fresh context (its own cookies) whose requests may go to
`base_url`'s origin only: any other request is aborted and recorded, and the test fails at teardown,
so "works offline" is checked on every page load.
CI installs chromium with apt-get (.ci/run); elsewhere CPUMON_TEST_CHROMIUM may point at another binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = Path(os.environ.get("CPUMON_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps calling Google's hosts, which this closed
# network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000  # generous: two busy cores


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
        pytest.skip(f"{CHROMIUM} not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


BrowserPage = Callable[..., Page]


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[BrowserPage]:
    """Factory: `browser_page(base_url, width=1280, height=800, **context_options)` -> a page confined to
    base_url's origin (context_options go to Playwright's new_context, e.g. timezone_id="UTC")."""
    foreign: list[str] = []
    contexts = []

    def open_page(base_url: str, width: int = 1280, height: int = 800, **options: Any) -> Page:
        allowed = origin_of(base_url)
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)

        def confine(route: Route) -> None:
            url = route.request.url
            if origin_of(url) == allowed or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                foreign.append(url)
                route.abort()

        context.route("**/*", confine)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert not foreign, f"requests left the server's origin: {foreign}"
