"""The documentation site builds with `mkdocs build --strict`, and viewing it fetches nothing from the network.

Material for MkDocs loads Roboto from Google Fonts unless `theme.font` is false; every other file a page
loads must come from the site itself too. A link (`<a href>`) is followed only when clicked, so it is
not counted; everything a browser loads while showing the page is.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser import BrowserPage, browser, browser_page  # noqa: F401 - fixtures

#: One worker builds the site once for every test of the module (the lanes run with --dist loadgroup).
pytestmark = pytest.mark.xdist_group("docs-site")

ROOT = Path(__file__).resolve().parent.parent
#: Attributes whose URL a browser loads while it shows the page.
LOADED = {"src", "srcset", "href", "poster", "data", "action", "formaction"}
#: Tags whose href is a link to follow, not a file to load.
FOLLOWED = {"a", "area"}
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*|@import\s+)["']?((?:https?:)?//[^"')\s]+)""", re.IGNORECASE)


class _LoadedUrls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None or (tag in FOLLOWED and name == "href"):
                continue
            if name in LOADED:
                self.remote += [f"<{tag} {name}={part}>" for part in value.split(",") if REMOTE.match(part)]
            if name == "style":
                self.remote += remote_css_urls(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.remote += remote_css_urls(data)


def remote_css_urls(css: str) -> list[str]:
    return CSS_URL.findall(css)


def remote_loads(html: str) -> list[str]:
    """Every URL on another origin that the page makes a browser load (scripts, styles, fonts, images...)."""
    parser = _LoadedUrls()
    parser.feed(html)
    return parser.remote


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    built = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=False
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}\n{built.stderr}"
    return out


def test_the_scanner_finds_what_a_page_would_fetch() -> None:
    page = """<html><head>
      <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
      <link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">
      <style>:root { --f: url("https://cdn.example/font.woff2") }</style>
      <script src="assets/javascripts/bundle.js"></script></head>
      <body><img srcset="a.png 1x, https://img.example/b.png 2x"><a href="https://example.com/">a link</a>
      <div style="background: url(https://img.example/c.png)"></div></body></html>"""
    assert remote_loads(page) == [
        "<link href=https://fonts.gstatic.com>",
        "<link href=//fonts.googleapis.com/css?family=Roboto>",
        "https://cdn.example/font.woff2",
        "<img srcset= https://img.example/b.png 2x>",
        "https://img.example/c.png",
    ]


def test_every_page_of_the_built_site_loads_only_its_own_files(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert {"index.html", "configuration.html", "testing.html"} <= {page.name for page in pages}
    found = {str(page.relative_to(site)): remote_loads(page.read_text()) for page in pages}
    assert {page: urls for page, urls in found.items() if urls} == {}


def test_the_site_stylesheets_import_nothing_remote(site: Path) -> None:
    found = {str(css.relative_to(site)): remote_css_urls(css.read_text()) for css in site.rglob("*.css")}
    assert {css: urls for css, urls in found.items() if urls} == {}


def test_the_screenshots_are_on_the_site(site: Path) -> None:
    for image in ("screenshots/runs.png", "screenshots/live.png", "locust-tab.png"):
        assert (site / image).is_file()


@pytest.fixture
def served_site(site: Path) -> Iterator[str]:
    """The built site over HTTP on a free loopback port, as a browser would be shown it."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on the test's stderr."""


def test_chromium_shows_every_page_without_leaving_the_site(
    site: Path,
    served_site: str,
    browser_page: BrowserPage,  # noqa: F811 - the fixture
) -> None:
    """browser_page aborts and records any request to another origin; the test fails at teardown if one was made."""
    page = browser_page(served_site)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for html in sorted(site.glob("*.html")):
        answer = page.goto(f"/{html.name}", wait_until="networkidle")
        assert answer is not None
        assert answer.status == 200
        assert page.locator("h1").count() >= 1, f"{html.name} shows no heading"
    # Material's search loads its worker and index as the page opens: from the site, as every other file.
    assert f"{served_site}/search/search_index.json" in requested
