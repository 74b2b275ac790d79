"""One time format on every page (date, hh:mm:ss on a 24-hour clock, zone), and readable ticks for short runs."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import T0, Api

pytestmark = pytest.mark.timeout(600)

# The one format, in Chromium's en-US locale with the page's zone set to UTC.
ONE_FORMAT = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d\d:\d\d:\d\d UTC")
AFTERNOON = T0 + dt.timedelta(hours=6)  # 15:00 UTC: a 12-hour clock would say 03:00 PM


@pytest.fixture(scope="module")
def short_runs(api: Api) -> list[str]:
    return [
        api.recorded("twenty seconds", "web-1", AFTERNOON, [float(10 + i) for i in range(20)]),
        api.recorded("twenty seconds again", "web-1", AFTERNOON + dt.timedelta(minutes=5), [50.0] * 20),
    ]


def test_every_page_shows_times_in_one_format(logged_in: Page, short_runs: list[str]) -> None:
    page = logged_in
    page.reload()
    start = page.locator(f'tr[data-run-id="{short_runs[0]}"] td').nth(3)
    expect(start).to_have_text("Nov 2, 2026, 15:00:00 UTC")
    page.goto(f"/runs/{short_runs[0]}")
    for field in ("started", "ended", "last-sample"):
        expect(page.locator(f'#summary [data-field="{field}"] dd')).to_have_text(ONE_FORMAT)
    expect(page.locator("#chart-status")).to_contain_text("Nov 2, 2026, 15:00:00 UTC to Nov 2, 2026, 15:00:19 UTC")
    page.goto(f"/compare?run={short_runs[0]}&run={short_runs[1]}")
    expect(page.locator("#compare-table tbody td").nth(1)).to_have_text(ONE_FORMAT)


def test_a_short_runs_time_axis_reads_hours_minutes_seconds(logged_in: Page, short_runs: list[str]) -> None:
    page = logged_in
    page.goto(f"/runs/{short_runs[0]}")
    root = page.locator("#chart .uplot")
    expect(root).to_have_attribute("data-x-ticks", re.compile(r"15:00:\d\d"))
    ticks = json.loads(root.get_attribute("data-x-ticks") or "[]")
    assert len(ticks) >= 2, ticks
    assert ticks[0] == "15:00:00\nNov 2" or re.fullmatch(r"15:00:\d\d\nNov 2", ticks[0]), ticks
    assert all(re.fullmatch(r"15:00:\d\d", t) for t in ticks[1:]), ticks


def test_threshold_shading_stays_inside_the_plot(logged_in: Page, api: Api) -> None:
    """Every bucket above the threshold, the last one too: its shading ends at the plot's right edge."""
    run_id = api.recorded("always above", "hot-1", AFTERNOON, [95.0] * 20)
    page = logged_in
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#chart .uplot")).to_have_attribute("data-x-ticks", re.compile("15:00"))
    inside, outside = page.locator("#chart canvas").evaluate(
        """canvas => {
            const over = canvas.parentElement.querySelector('.u-over').getBoundingClientRect();
            const box = canvas.getBoundingClientRect();
            const scale = canvas.width / box.width;
            const y = Math.round((over.top + over.height * 0.5 - box.top) * scale);
            const context = canvas.getContext('2d');
            const at = (x) => Array.from(context.getImageData(Math.round((x - box.left) * scale), y, 1, 1).data);
            return [at(over.right - 4), at(over.right + 4)];
        }"""
    )
    assert inside[3] > 0, inside  # shaded inside
    assert inside[1] < inside[0], inside  # in red
    assert outside[3] == 0, outside  # nothing drawn right of the plot
