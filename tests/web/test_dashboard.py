"""The dashboard in real Chromium: log in, list, run page, zoom, export, delete, compare, log out.

Every page is opened through tests.browser, which fails the test if any request leaves the server's origin.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser import BrowserPage
from tests.e2e.conftest import ServerProcess
from tests.web.conftest import OTHER_PASSWORD, OTHER_USER, T0, Api, api_for, log_in, screenshot

# The first test also waits for the module's server (and maybe the front end's build) on busy cores.
pytestmark = pytest.mark.timeout(600)

# 100 samples a second apart: 50 at 50 %, then 50 at 90 % (threshold 80): avg 70, max 90, 50 s above.
BEFORE = [50.0] * 50 + [90.0] * 50
AFTER = [30.0 + (i % 10) for i in range(80)]  # avg 34.5, max 39, never above


@pytest.fixture(scope="module")
def runs(api: Api) -> dict[str, str]:
    return {
        "before": api.recorded("checkout before fix", "web-1", T0, BEFORE),
        "after": api.recorded("checkout after fix", "web-2", T0 + dt.timedelta(hours=1), AFTER),
        # long enough that the whole-run chart has coarse buckets and a zoom gets finer ones
        "long": api.recorded("soak test", "db-1", T0 - dt.timedelta(days=1), [float(i % 100) for i in range(3000)]),
    }


@pytest.fixture(scope="module")
def others_run(web_server: ServerProcess) -> Iterator[str]:
    for other in api_for(web_server, OTHER_USER, OTHER_PASSWORD):
        yield other.recorded("someone else's run", "secret-host", T0, [10.0, 20.0])


def row_of(page: Page, run_id: str) -> dict[str, str]:
    row = page.locator(f'#runs tbody tr[data-run-id="{run_id}"]')
    expect(row).to_be_visible()
    headers = ["select", "name", "host", "start", "duration", "samples", "avg", "max", "above", "cpu"]
    return dict(zip(headers, row.locator("td").all_inner_texts(), strict=True))


def test_login_refuses_a_wrong_password_with_the_apis_message(
    web_server: ServerProcess, browser_page: BrowserPage
) -> None:
    page = browser_page(web_server.url)
    response = page.goto("/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Username").fill("e2e")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid username or password")
    screenshot(page, "login")


def test_the_list_shows_the_runs_with_their_figures(logged_in: Page, runs: dict[str, str], others_run: str) -> None:
    page = logged_in
    page.reload()
    before = row_of(page, runs["before"])
    assert before["name"] == "checkout before fix"
    assert before["host"] == "web-1"
    assert re.fullmatch(r"Nov 2, 2026, 09:00:00 (AM )?UTC", before["start"]), before["start"]
    assert (before["duration"], before["samples"]) == ("1 min 40 s", "100")
    assert (before["avg"], before["max"], before["above"]) == ("70.0 %", "90.0 %", "50 s above 80.0 %")
    after = row_of(page, runs["after"])
    assert (after["samples"], after["avg"], after["max"], after["above"]) == (
        "80",
        "34.5 %",
        "39.0 %",
        "0.0 s above 80.0 %",
    )
    expect(page.locator(f'tr[data-run-id="{runs["before"]}"] svg.sparkline polyline')).to_have_count(1)
    expect(page.locator(f'tr[data-run-id="{others_run}"]')).to_have_count(0)
    # newest first
    ids = page.locator("#runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    assert ids.index(runs["after"]) < ids.index(runs["before"]) < ids.index(runs["long"])
    screenshot(page, "runs")


UNFILTERED_LIST_READ = """() => performance.getEntriesByType("resource").some((entry) =>
    new URL(entry.name).pathname === "/api/test-runs" && !entry.name.includes("name=") && entry.responseEnd > 0
)"""


def test_the_list_filters_by_name(logged_in: Page, runs: dict[str, str]) -> None:
    """The filtered list stays, even when the unfiltered list asked before it answers after it: the
    page's first request is held until the filtered one has been answered (the race made deterministic)."""
    page = logged_in
    held: list[Route] = []

    def hold_the_unfiltered_list(route: Route) -> None:
        if "name=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    def the_list(url: str) -> bool:
        return urlsplit(url).path == "/api/test-runs"

    expect(page.locator("#runs-status")).to_have_text(re.compile(r"^Runs \d"))  # the login's own list is in
    page.route(the_list, hold_the_unfiltered_list)
    page.reload()
    page.get_by_label("Name contains").fill("CHECKOUT")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert "name=CHECKOUT" in page.url
    assert len(held) == 1, "the page's first (unfiltered) request was not held"
    held.pop().continue_()
    # The page has read the late answer (its resource entry is written once the body is in), and the
    # task that handles it has run: then the list must still be the filtered one.
    page.wait_for_function(UNFILTERED_LIST_READ)
    page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    expect(page.locator("#runs-status")).to_have_text("Runs 1\u20132 of 2")  # an en dash
    page.unroute(the_list)
    page.go_back()
    expect(page.locator(f'tr[data-run-id="{runs["long"]}"]')).to_have_count(1)


def test_a_run_page_draws_its_chart_and_zoom_loads_a_finer_series(logged_in: Page, runs: dict[str, str]) -> None:
    page = logged_in
    page.goto(f"/runs/{runs['long']}")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-points", "500")
    expect(chart.locator("canvas")).to_have_count(1)
    summary = page.locator("#summary")
    expect(summary.locator('[data-field="samples"] dd')).to_have_text("3000")
    expect(page.locator("#live-badge")).to_have_text("Finished")
    whole_bucket = float(chart.get_attribute("data-bucket-seconds") or "0")
    assert 5.9 < whole_bucket < 6.1  # 3,000 s in 500 buckets
    with page.expect_response(lambda r: "/cpu-usage/series" in r.url and "from=" in r.url) as zoomed:
        page.get_by_role("button", name="Zoom in").click()
    assert zoomed.value.status == 200
    expect(chart).to_have_attribute("data-zoomed", "true")
    zoomed_bucket = float(chart.get_attribute("data-bucket-seconds") or "0")
    assert zoomed_bucket < whole_bucket / 1.9
    # keyboard: the chart takes focus; arrows pan, Escape shows the whole run again
    chart.focus()
    with page.expect_response(lambda r: "/cpu-usage/series" in r.url and "from=" in r.url):
        page.keyboard.press("ArrowRight")
    with page.expect_response(lambda r: "/cpu-usage/series" in r.url and "from=" not in r.url):
        page.keyboard.press("Escape")
    expect(chart).to_have_attribute("data-zoomed", "false")


def test_export_downloads_every_sample_as_csv(logged_in: Page, runs: dict[str, str]) -> None:
    page = logged_in
    page.goto(f"/runs/{runs['before']}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(download.value.path().read_text().splitlines()))
    assert [float(row["cpu_percent"]) for row in rows] == BEFORE
    screenshot(page, "run")


def test_compare_two_runs(logged_in: Page, runs: dict[str, str]) -> None:
    page = logged_in
    compare = page.get_by_role("button", name="Compare selected")
    page.get_by_label("Select checkout before fix to compare").check()
    expect(compare).to_be_disabled()
    page.get_by_label("Select checkout after fix to compare").check()
    compare.click()
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    expect(page.locator("#compare-chart")).to_have_attribute("data-runs", "2")
    rows = page.locator("#compare-table tbody tr")
    expect(rows).to_have_count(2)
    texts = rows.all_inner_texts()
    assert any("checkout before fix" in t and "70.0 %" in t and "50 s" in t for t in texts), texts
    assert any("checkout after fix" in t and "34.5 %" in t for t in texts), texts
    expect(page.locator("#compare-chart .u-series")).to_have_count(3)  # the x axis and two runs
    screenshot(page, "compare")


def test_delete_asks_first_then_deletes(logged_in: Page, api: Api) -> None:
    run_id = api.recorded("to be deleted", "web-3", T0 + dt.timedelta(hours=3), [1.0, 2.0, 3.0])
    page = logged_in
    page.goto(f"/runs/{run_id}")
    page.get_by_role("button", name="Delete run…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api.http.get(f"/api/test-runs/{run_id}").status_code == 200
    page.get_by_role("button", name="Delete run…").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)
    assert api.http.get(f"/api/test-runs/{run_id}").status_code == 404


def test_another_users_run_is_not_found(logged_in: Page, others_run: str) -> None:
    page = logged_in
    response = page.goto(f"/runs/{others_run}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "secret-host" not in page.content()
    status = page.evaluate(f"fetch('/api/test-runs/{others_run}/live').then(r => r.status)")
    assert status == 404


def test_log_out_then_the_list_is_refused(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to cpumon")).to_be_visible()
    assert page.evaluate("fetch('/api/test-runs').then(r => r.status)") == 401
    assert page.evaluate("document.cookie") == ""  # nothing of the session is visible to scripts


def test_the_pages_fit_a_phone(web_server: ServerProcess, browser_page: BrowserPage, runs: dict[str, str]) -> None:
    page = browser_page(web_server.url, width=390, height=844)
    log_in(page)
    for path in ("/", f"/runs/{runs['before']}"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
