"""Events added while a run's page is open appear on it without a reload: pushed while the run
records, read again when a finished run's page is shown again. Real Chromium, a real server."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.web.conftest import Api

pytestmark = pytest.mark.timeout(600)  # the first test also waits for the module's server on busy cores

PUSH_WITHIN_MS = 10_000  # the server pushes within about a second; slack for two busy cores


def add_event(api: Api, run_id: str, text: str, at: dt.datetime) -> None:
    response = api.http.post(f"/api/test-runs/{run_id}/events", json={"text": text, "at": at.isoformat()})
    assert response.status_code == 201, response.text


def recording_run(api: Api, name: str) -> tuple[str, dt.datetime]:
    """A run recording for 30 s, a sample a second: the chart spans the events the tests add."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    run_id = api.start_run(name, "web-live-events", start, interval_s=1.0)
    api.post(run_id, start, [30.0] * 30)
    return run_id, start


def open_live(page: Page, run_id: str) -> None:
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#live-badge")).to_have_attribute("data-live", "true")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads or navigates


def expect_events(page: Page, texts: list[str], *, timeout: float = PUSH_WITHIN_MS) -> None:
    """Listed and drawn as markers, in this order, each once."""
    expect(page.locator("#events li span")).to_have_text(texts, timeout=timeout)
    markers = json.dumps(texts, separators=(",", ":"))
    expect(page.locator("#chart .uplot")).to_have_attribute("data-markers", markers, timeout=timeout)


def test_events_added_to_a_live_run_appear_in_time_order_without_reload(logged_in: Page, api: Api) -> None:
    run_id, start = recording_run(api, "marked while open")
    add_event(api, run_id, "test start", start + dt.timedelta(seconds=5))
    page = logged_in
    api_reads: list[str] = []
    page.on("request", lambda r: api_reads.append(r.url) if "/api/" in r.url and "/live" not in r.url else None)
    open_live(page, run_id)
    expect_events(page, ["test start"])
    reads_after_load = len(api_reads)

    add_event(api, run_id, "users 10 -> 50", start + dt.timedelta(seconds=20))
    expect_events(page, ["test start", "users 10 -> 50"])
    add_event(api, run_id, "warm-up", start + dt.timedelta(seconds=2))  # earlier than both: goes first
    expect_events(page, ["warm-up", "test start", "users 10 -> 50"])
    assert page.evaluate("window.sameDocument") is True
    assert api_reads[reads_after_load:] == []  # pushed, not polled


def test_an_event_added_between_the_stream_and_the_load_is_shown_once(logged_in: Page, api: Api) -> None:
    """The stream has begun (the page loads its events after `ready`), so the event comes both ways."""
    run_id, start = recording_run(api, "marked during the load")
    page = logged_in

    def add_then_load(route: Route) -> None:
        if route.request.method == "GET":
            add_event(api, run_id, "in between", start + dt.timedelta(seconds=10))
        route.continue_()

    page.route(f"**/api/test-runs/{run_id}/events", add_then_load)
    open_live(page, run_id)
    expect_events(page, ["in between"])
    page.unroute(f"**/api/test-runs/{run_id}/events")
    # Pushed in id order: once this later one shows, the first one's push has been shown too.
    add_event(api, run_id, "after", start + dt.timedelta(seconds=20))
    expect_events(page, ["in between", "after"])


def test_a_finished_runs_page_shows_new_events_when_shown_again(logged_in: Page, api: Api) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    run_id = api.recorded("finished, reviewed later", "web-live-events", start, [20.0] * 30)
    page = logged_in
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#live-badge")).to_have_text("Finished")
    expect(page.locator("#events li")).to_have_text(["No events."])
    page.evaluate("window.sameDocument = true")

    add_event(api, run_id, "reviewed: GC pause", start + dt.timedelta(seconds=12))  # `cpumon mark --run` would
    back_to_the_tab: Any = "document.dispatchEvent(new Event('visibilitychange'))"  # the page is visible
    assert page.evaluate("document.visibilityState") == "visible"
    page.evaluate(back_to_the_tab)
    expect_events(page, ["reviewed: GC pause"])
    assert page.evaluate("window.sameDocument") is True
