"""A recording run's page receives new samples pushed by the server while a client posts them."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, Request, expect

from tests.web.conftest import Api, screenshot

pytestmark = pytest.mark.timeout(600)  # the first test also waits for the module's server on busy cores

PUSH_WITHIN_MS = 10_000  # the server pushes within about a second; slack for two busy cores


def test_a_running_run_receives_new_points_without_polling(logged_in: Page, api: Api) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    run_id = api.start_run("live checkout", "web-live", start, interval_s=1.0)
    api.post(run_id, start, [40.0] * 10)
    page = logged_in
    api_reads: list[str] = []

    def note(request: Request) -> None:
        if "/api/" in request.url and not request.url.endswith("/live"):
            api_reads.append(request.url)

    page.on("request", note)
    page.goto(f"/runs/{run_id}")
    samples = page.locator('#summary [data-field="samples"] dd')
    expect(page.locator("#live-badge")).to_have_attribute("data-live", "true")
    expect(samples).to_have_text("10")
    expect(page.locator("#chart")).to_have_attribute("data-points", "10")
    requests_after_load = len(api_reads)

    now = dt.datetime.now(dt.UTC)
    for batch in range(3):  # a client posting as an agent would, the page following each batch
        api.post(run_id, now + dt.timedelta(seconds=batch * 5), [95.0] * 5, first_seq=10 + batch * 5)
        expect(samples).to_have_text(str(15 + batch * 5), timeout=PUSH_WITHIN_MS)
    expect(page.locator("#chart")).to_have_attribute("data-points", "25")
    expect(page.locator('#summary [data-field="max"] dd')).to_have_text("95.0 %")
    assert len(api_reads) == requests_after_load, api_reads[requests_after_load:]
    screenshot(page, "live")

    api.finish(run_id, now + dt.timedelta(seconds=20))
    expect(page.locator("#live-badge")).to_have_text("Finished", timeout=PUSH_WITHIN_MS)
    expect(page.locator('#summary [data-field="ended"] dd')).not_to_have_text("running")


def test_the_stream_stops_when_the_run_is_deleted(logged_in: Page, api: Api) -> None:
    run_id = api.start_run("deleted while watched", "web-live")
    page = logged_in
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#live-badge")).to_have_attribute("data-live", "true")
    assert api.http.delete(f"/api/test-runs/{run_id}").status_code == 204
    expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=PUSH_WITHIN_MS)
