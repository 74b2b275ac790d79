"""The run page in real Chromium: the CPU breakdown, the hottest core, events as markers and a list, a live clock."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import T0, Api, screenshot

pytestmark = pytest.mark.timeout(600)

# 60 samples a second apart: user 40, system 10, iowait 5, steal 1; the hottest core peaks at 97.
BREAKDOWN = {"user_percent": 40.0, "system_percent": 10.0, "iowait_percent": 5.0, "steal_percent": 1.0}
EVENTS = [(5, "test start"), (20, "users 10 -> 50"), (50, "test stop")]


def samples(start: dt.datetime, count: int) -> list[dict[str, object]]:
    return [
        {
            "cpu_percent": 56.0,
            "recorded_at": (start + dt.timedelta(seconds=i)).isoformat(),
            "seq": i,
            **BREAKDOWN,
            "max_core_percent": 97.0 if i == 30 else 70.0,
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def marked_run(api: Api) -> str:
    run_id = api.start_run("load test with events", "sut-1", T0, interval_s=1.0)
    api.http.post(f"/api/test-runs/{run_id}/cpu-usage", json=samples(T0, 60)).raise_for_status()
    for offset, text in EVENTS:
        at = (T0 + dt.timedelta(seconds=offset)).isoformat()
        api.http.post(f"/api/test-runs/{run_id}/events", json={"text": text, "at": at}).raise_for_status()
    api.finish(run_id, T0 + dt.timedelta(seconds=60))
    return run_id


def test_the_run_page_draws_the_breakdown_stacked_and_the_hottest_core(logged_in: Page, marked_run: str) -> None:
    page = logged_in
    page.goto(f"/runs/{marked_run}")
    legend = page.locator(".breakdown-legend li")
    expect(legend).to_have_text(["user 40.0 %", "system 10.0 %", "iowait 5.0 %", "steal 1.0 %"])
    widths = page.locator(".breakdown-bar rect[data-part]").evaluate_all(
        "rects => rects.map(r => [r.dataset.part, +r.getAttribute('x'), +r.getAttribute('width')])"
    )
    # stacked: each part starts where the one before ends, its width its share of 400
    assert widths == [["user", 0, 160], ["system", 160, 40], ["iowait", 200, 20], ["steal", 220, 4]]
    expect(page.locator('[data-field="hottest-core"]')).to_have_text("Hottest core (max): 97.0 %")
    expect(page.locator("#chart .u-legend")).to_contain_text("hottest core")


def test_events_are_markers_on_the_chart_and_listed_beside_it(logged_in: Page, marked_run: str) -> None:
    page = logged_in
    page.goto(f"/runs/{marked_run}")
    expect(page.locator("#events li span")).to_have_text([text for _, text in EVENTS])
    expect(page.locator("#events li time").first).to_have_text(re.compile(r"Nov 2, 2026, 09:00:05 (AM )?UTC"))
    root = page.locator("#chart .uplot")
    expect(root).to_have_attribute("data-markers", json.dumps([text for _, text in EVENTS], separators=(",", ":")))
    screenshot(page, "run-breakdown-events")


def test_a_run_without_events_or_breakdown_says_so(logged_in: Page, api: Api) -> None:
    run_id = api.recorded("plain run", "old-agent", T0, [10.0, 20.0, 30.0])
    page = logged_in
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#events li")).to_have_text(["No events."])
    expect(page.locator(".breakdown-bar")).to_have_count(0)
    expect(page.locator('[data-field="hottest-core"]')).to_have_text("Hottest core (max): \u2013")  # en dash: no figure


def test_a_live_run_shows_how_long_it_has_been_recording(logged_in: Page, api: Api) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    run_id = api.start_run("still recording", "live-1", started, interval_s=1.0)
    api.post(run_id, started, [20.0, 30.0])
    page = logged_in
    page.goto(f"/runs/{run_id}")
    duration = page.locator('#summary [data-field="duration"] dd')
    expect(duration).to_have_text(re.compile(r"recording for 1 min \d\d s"))
    first = duration.inner_text()
    expect(duration).not_to_have_text(first, timeout=15_000)  # the clock moves on without a reload
