"""The runs list in real Chromium: running runs move on without a reload; which threshold; the API docs link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Api

pytestmark = pytest.mark.timeout(600)


def test_a_running_run_updates_in_the_list_without_a_reload(logged_in: Page, api: Api) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    run_id = api.start_run("list live run", "live-list", started, interval_s=1.0, threshold_percent=75.0)
    api.post(run_id, started, [20.0, 90.0])
    page = logged_in
    page.reload()
    row = page.locator(f'#runs tbody tr[data-run-id="{run_id}"] td')
    expect(row.nth(5)).to_have_text("2")
    expect(row.nth(4)).to_have_text(re.compile(r"recording for \d+ s"))
    expect(row.nth(8)).to_have_text("1.0 s above 75.0 %")
    expect(row.nth(9).locator("polyline")).to_have_attribute("points", re.compile(r"^\S+ \S+$"))
    first_duration = row.nth(4).inner_text()
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    api.post(run_id, started + dt.timedelta(seconds=2), [30.0, 40.0, 50.0], first_seq=2)
    # the list asks again within its bounded period: samples, duration and sparkline move on
    expect(row.nth(5)).to_have_text("5", timeout=20_000)
    expect(row.nth(4)).not_to_have_text(first_duration)
    expect(row.nth(9).locator("polyline")).to_have_attribute("points", re.compile(r"^(\S+ ){4}\S+$"))
    assert navigations == [], navigations  # no reload


def test_the_header_links_to_the_api_docs(logged_in: Page) -> None:
    link = logged_in.get_by_role("link", name="API docs")
    expect(link).to_have_attribute("href", "/schema")
    response = logged_in.request.get("/schema")
    assert response.ok, response.status
