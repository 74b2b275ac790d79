"""The chart, the capacity renderings and the strict gate's rule: pure functions, no Locust, no API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

from cpumon.locust_chart import Marker, host_chart
from cpumon.locust_figures import HostFigures
from cpumon.locust_gate import missing_data
from cpumon.locust_load import CpuShare, LoadInterval
from cpumon.locust_report import CapacityView

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - the chart this test just made, not outside input


def intervals(cpu: list[float | None], host: str = "web") -> list[LoadInterval]:
    return [
        LoadInterval(
            T0 + dt.timedelta(seconds=5 * k),
            T0 + dt.timedelta(seconds=5 * (k + 1)),
            500 * (k + 1),
            20.0 + k,
            10,
            {host: None if value is None else CpuShare(value, 50)},
        )
        for k, value in enumerate(cpu)
    ]


def test_the_chart_is_one_svg_with_three_panels_the_threshold_and_the_events() -> None:
    markers = [Marker(T0, "test start"), Marker(T0 + dt.timedelta(seconds=10), "users 0 -> <b>10</b>")]
    svg = host_chart("web&1", intervals([10.0, 20.0, 30.0, 40.0], host="web&1"), 80.0, markers)
    root = parse(svg)  # well-formed XML: every text escaped
    assert root.tag == f"{SVG}svg"
    assert root.get("data-host") == "web&1"
    assert len(root.findall(f"{SVG}polyline")) == 3  # CPU, requests/s, p95
    assert len(root.findall(f".//{SVG}line[@class='threshold']")) == 1
    events = root.findall(f"{SVG}g[@class='event']")
    assert [e.find(f"{SVG}text").text for e in events] == ["test start", "users 0 -> <b>10</b>"]  # type: ignore[union-attr]
    assert "<script" not in svg
    assert "href" not in svg


def test_an_interval_without_samples_leaves_a_gap_in_the_cpu_line() -> None:
    root = parse(host_chart("web", intervals([10.0, 20.0, None, 40.0, 50.0]), 80.0))
    cpu_lines = [line for line in root.findall(f"{SVG}polyline") if line.get("stroke") == "#d9480f"]
    assert [len((line.get("points") or "").split()) for line in cpu_lines] == [2, 2]


def test_points_sit_at_the_middle_of_their_interval_on_one_time_axis() -> None:
    span = (T0, T0 + dt.timedelta(seconds=20))
    root = parse(host_chart("web", intervals([10.0, 20.0, 30.0, 40.0]), 80.0, span=span))
    xs = {line.get("stroke"): [p.split(",")[0] for p in (line.get("points") or "").split()]
          for line in root.findall(f"{SVG}polyline")}  # fmt: skip
    assert len({tuple(x) for x in xs.values()}) == 1  # CPU, requests/s and p95 share their x positions
    assert parse(host_chart("web", [], 80.0)).tag == f"{SVG}svg"  # no interval yet: an empty chart


def test_the_capacity_outputs_carry_the_same_figures() -> None:
    hosts = [
        HostFigures("web", 1, 200, 40.0, 30.0, 50.0, 80.0, 0.0),
        HostFigures("db", 1, 0, None, None, None, 80.0, 0),
    ]
    data = intervals([10.0 + 5 * k for k in range(6)])
    view = CapacityView.of(hosts, data, [], T0, data[-1].end)
    web, db = view.capacities
    assert web.verdict is None
    assert db.verdict == "not enough variation in load"
    text = view.text()
    assert "Capacity (cpumon)" in text
    assert all(not line.startswith(("web", "db")) for line in text.splitlines())  # indented under its heading
    assert web.row()["cpu_per_1000_rps"] in text
    (web_row, db_row) = csv.DictReader(io.StringIO(view.capacity_csv()))
    assert float(web_row["cpu_per_1000_rps"]) == round(web.cpu_per_1000_rps or 0, 3)
    assert db_row["cpu_per_1000_rps"] == "not enough variation in load"
    rows = list(csv.DictReader(io.StringIO(view.intervals_csv())))
    assert len(rows) == 12
    assert rows[0]["window_from"] == T0.isoformat()
    assert float(rows[0]["rps"]) == 100.0
    assert view.html_section().count("<svg") == 2


def test_the_gate_needs_data_from_every_named_host_or_from_some_host() -> None:
    sampled = HostFigures("web", 1, 20, 1, 1, 1, 80, 0)
    empty = HostFigures("db", 1, 0, None, None, None, 80, 0)
    assert missing_data([sampled, empty], [], None) is None
    assert missing_data([sampled, empty], ["web"], None) is None
    assert missing_data([sampled, empty], ["web", "db"], None) == (
        "no cpumon data for the test window from db: is an agent recording there?"
    )
    assert "no agent of yours recorded any host" in (missing_data([empty], [], None) or "")
    assert missing_data(None, [], "cannot connect to http://x") == (
        "no cpumon data for the test window: cannot connect to http://x"
    )
