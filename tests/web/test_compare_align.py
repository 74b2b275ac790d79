"""Compare in real Chromium: the runs aligned at their start, or at an event with the same text."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import T0, Api

pytestmark = pytest.mark.timeout(600)


def run_with_event(api: Api, name: str, start: dt.datetime, event_after_s: int) -> str:
    run_id = api.recorded(name, "sut", start, [10.0] * event_after_s + [90.0] * 20)
    for offset, text in ((event_after_s, "test start"), (1, f"only in {name}")):
        at = (start + dt.timedelta(seconds=offset)).isoformat()
        api.http.post(f"/api/test-runs/{run_id}/events", json={"text": text, "at": at}).raise_for_status()
    return run_id


def test_compare_aligns_at_the_start_or_at_a_shared_event(logged_in: Page, api: Api) -> None:
    early = run_with_event(api, "early", T0 + dt.timedelta(days=3), 10)
    late = run_with_event(api, "late", T0 + dt.timedelta(days=4), 30)
    page = logged_in
    page.goto(f"/compare?run={early}&run={late}")
    chart = page.locator("#compare-chart")
    expect(chart).to_have_attribute("data-aligned-at", "start")
    expect(chart).to_have_attribute("data-first-offsets", "[0,0]")
    select = page.get_by_label("Align the runs at")
    # only the event both runs have is offered
    expect(select.locator("option")).to_have_text(["their first sample", "the event “test start”"])
    select.select_option("test start")
    expect(chart).to_have_attribute("data-aligned-at", "test start")
    assert json.loads(chart.get_attribute("data-first-offsets") or "") == [-10, -30]
    expect(chart.locator(".u-legend")).to_contain_text("since “test start”")
    expect(chart.locator(".uplot")).to_have_count(1)  # drawn anew, not stacked
    select.select_option("")
    expect(chart).to_have_attribute("data-first-offsets", "[0,0]")
