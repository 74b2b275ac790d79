"""The server's edges over real HTTP (uvicorn, as `cpumon-server` serves): odd static names, HEAD, the icon."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontend.build import ensure_built
from tests.e2e.conftest import PASSWORD, USERNAME, ServerProcess, server_over_copy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_database: Path) -> Iterator[ServerProcess]:
    ensure_built()
    with server_over_copy(server_database, tmp_path_factory.mktemp("edges")) as running:
        yield running


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def logged_in(http: httpx.Client) -> httpx.Client:
    response = http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return http


@pytest.mark.parametrize(
    "path",
    [
        "/static/a%00b.js",  # a NUL byte: Python cannot even look the name up
        "/static/%00",
        "/static/" + "a" * 300,  # longer than a file name may be
        "/static/" + "a/" * 3000,  # longer than a path may be
        "/static/.vite/manifest.json/x",  # a file used as a folder
    ],
    ids=["nul", "only-nul", "long-name", "long-path", "not-a-folder"],
)
def test_an_odd_static_name_is_not_found(server: ServerProcess, http: httpx.Client, path: str) -> None:
    for method in ("GET", "HEAD"):
        response = http.request(method, path)
        assert response.status_code == 404, (method, response.text[:200])
    assert "Traceback" not in server.log()


def get_routes(document: dict[str, Any], run_id: str) -> list[str]:
    """Every GET path of the API document with its run id filled in, plus the pages."""
    paths = [path for path, operations in document["paths"].items() if "get" in operations]
    filled = [re.sub(r"\{run_id\}", run_id, path) for path in paths if not path.endswith("/live")]
    return [*filled, "/", f"/runs/{run_id}", "/compare", "/favicon.svg", "/favicon.ico", "/schema/openapi.json"]


def test_head_answers_wherever_get_does(logged_in: httpx.Client) -> None:
    run = logged_in.post("/api/test-runs", json={"name": "head"}).json()
    document = logged_in.get("/schema/openapi.json").json()
    checked = 0
    for path in get_routes(document, run["id"]):
        got, head = logged_in.get(path), logged_in.head(path)
        assert head.status_code == got.status_code, path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        if "content-length" in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"], path
        assert head.content == b"", path
        checked += 1
    assert checked >= 10
    assert logged_in.head("/static/x.js").status_code == 404
    assert "HEAD" in logged_in.options("/api/test-runs").headers["allow"]
    assert logged_in.head("/api/auth/login").status_code == 405  # no GET, so no HEAD


def test_head_of_a_live_stream_answers_with_its_headers_at_once(logged_in: httpx.Client) -> None:
    """The stream of an open run lasts as long as the run: a HEAD gets its headers and ends."""
    run = logged_in.post("/api/test-runs", json={"name": "live"}).json()
    head = logged_in.head(f"/api/test-runs/{run['id']}/live", timeout=5.0)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert logged_in.get("/health").status_code == 200  # and the server carries on


def test_the_pages_have_an_icon_of_their_own(http: httpx.Client) -> None:
    page = http.get("/")
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page.text
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = http.get(path)
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg ")
        assert b"http" not in icon.content.replace(b"http://www.w3.org/2000/svg", b"")  # nothing fetched
        assert "set-cookie" not in icon.headers
