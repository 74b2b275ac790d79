"""Runs filtered by host and time window, and summaries restricted to a window, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.backend.conftest import at, start_run

Client = TestClient[Litestar]


def listed(client: Client, **params: Any) -> list[str]:
    response = client.get("/api/test-runs", params=params)
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()["items"])


def post_samples(client: Client, run: dict[str, Any], percents: list[tuple[float, float]]) -> None:
    body = [{"seq": i, "cpu_percent": p, "recorded_at": at(t)} for i, (t, p) in enumerate(percents)]
    assert client.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body).status_code == 201


def finished_run(client: Client, name: str, host: str, start: float, end: float) -> dict[str, Any]:
    run = start_run(client, name=name, hostname=host, started_at=at(start))
    assert client.post(f"/api/test-runs/{run['id']}/finish", json={"ended_at": at(end)}).status_code == 200
    return run


def window_summary(client: Client, run: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/test-runs/{run['id']}", params=params)
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()["summary"]
    return summary


def test_runs_filtered_by_host_repeated_or_comma_separated(alice: Client) -> None:
    for name, host in [("a", "web-1"), ("b", "web-2"), ("c", "db-1"), ("d", "")]:
        start_run(alice, name=name, hostname=host)
    assert listed(alice, host="web-1") == ["a"]
    assert listed(alice, host=["web-1", "db-1"]) == ["a", "c"]
    assert listed(alice, host="web-1, web-2,,") == ["a", "b"]
    assert listed(alice, host="WEB-2") == ["b"]  # host names ignore ASCII case
    assert listed(alice, host="nowhere") == []
    page = alice.get("/api/test-runs", params={"host": "web-1,web-2", "limit": 1}).json()
    assert page["total"] == 2  # the total counts the filtered runs


def test_runs_overlapping_a_window(alice: Client) -> None:
    finished_run(alice, "before", "h", 0, 10)
    finished_run(alice, "touching-start", "h", 10, 20)  # ends exactly at the window's start
    finished_run(alice, "inside", "h", 25, 30)
    finished_run(alice, "around", "h", 5, 100)
    finished_run(alice, "after", "h", 51, 60)
    start_run(alice, name="running-old", hostname="h", started_at=at(1))  # still running: lasts until now
    start_run(alice, name="running-late", hostname="h", started_at=at(55))
    window = {"active_from": at(20), "active_to": at(50)}
    assert listed(alice, **window) == ["around", "inside", "running-old", "touching-start"]
    assert listed(alice, active_to=at(4)) == ["before", "running-old"]
    assert listed(alice, active_from=at(52)) == ["after", "around", "running-late", "running-old"]


def test_a_running_run_does_not_reach_a_window_in_the_future(alice: Client) -> None:
    start_run(alice, name="running", hostname="h")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert listed(alice, active_from=future) == []
    assert listed(alice, active_from=past) == ["running"]


def test_window_and_host_filters_combine_and_stay_private(alice: Client, bob: Client) -> None:
    finished_run(alice, "mine", "web-1", 0, 10)
    finished_run(alice, "other-host", "web-2", 0, 10)
    finished_run(bob, "bobs", "web-1", 0, 10)
    assert listed(alice, host="web-1", active_from=at(5), active_to=at(6)) == ["mine"]
    assert listed(bob, host="web-1,web-2", active_from=at(5)) == ["bobs"]


def test_window_summary_counts_only_samples_inside_and_cuts_the_first_interval(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    post_samples(alice, run, [(0, 90), (2, 90), (4, 10), (6, 70), (8, 80), (10, 20)])
    whole = window_summary(alice, run)
    assert whole["time_above_threshold_s"] == 6.0  # (0,2] (4,6] (6,8]
    inside = window_summary(alice, run, **{"from": at(1), "to": at(7)})
    assert inside["sample_count"] == 3  # at 2, 4, 6
    assert (inside["first_sample_at"], inside["last_sample_at"]) == (at(2), at(6))
    assert (inside["min_percent"], inside["max_percent"], inside["avg_percent"]) == (10.0, 90.0, 170 / 3)
    # (1,2] at 90 counts from the window's start; (4,6] at 70 counts whole; the sample at 8 is outside.
    assert inside["time_above_threshold_s"] == 3.0
    assert window_summary(alice, run, **{"from": at(5.5), "to": at(5.9)})["sample_count"] == 0


def test_window_covering_the_run_equals_the_whole_run_summary(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    post_samples(alice, run, [(0, 60), (1.5, 90), (2.25, 40), (3, 55)])
    wide = window_summary(alice, run, **{"from": at(-100), "to": at(100)})
    assert wide == window_summary(alice, run)
    assert window_summary(alice, run, **{"from": at(-100)}) == wide
    assert window_summary(alice, run, to=at(100)) == wide


def test_window_edges_are_inclusive_and_one_instant_is_a_window(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    post_samples(alice, run, [(0, 10), (1, 60), (2, 70)])
    last = window_summary(alice, run, **{"from": at(2), "to": at(2)})
    assert (last["sample_count"], last["avg_percent"], last["time_above_threshold_s"]) == (1, 70.0, 0.0)
    edges = window_summary(alice, run, **{"from": at(1), "to": at(2)})
    assert (edges["sample_count"], edges["time_above_threshold_s"]) == (2, 1.0)


def test_window_summary_with_a_threshold_override_and_microseconds(alice: Client) -> None:
    run = start_run(alice, threshold_percent=95)
    post_samples(alice, run, [(0, 10), (1, 60), (2, 70)])
    summary = window_summary(alice, run, threshold=50, **{"from": at(0.999999), "to": at(2)})
    assert summary["threshold_percent"] == 50.0
    assert summary["time_above_threshold_s"] == pytest.approx(1.000001, abs=1e-9)


def test_window_in_another_offset_is_the_same_instant(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    post_samples(alice, run, [(0, 90), (3600, 90)])
    utc = window_summary(alice, run, **{"from": at(1800), "to": at(3600)})
    shifted = window_summary(alice, run, **{"from": "2026-01-01T02:30:00+02:00", "to": "2026-01-01T03:00:00+02:00"})
    assert utc == shifted
    assert utc["time_above_threshold_s"] == 1800.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-01T00:00:00"}, "from"),  # no offset
        ({"to": "2026-01-01T00:00:00"}, "to"),
        ({"from": at(10), "to": at(5)}, "from"),  # reversed
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-13-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_window_on_a_summary_is_a_clear_400(alice: Client, params: dict[str, str], field: str) -> None:
    run = start_run(alice)
    response = alice.get(f"/api/test-runs/{run['id']}", params=params)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_undecodable_window_is_a_clear_400(alice: Client) -> None:
    run = start_run(alice)
    for query in ("from=%FF%FE", "to=%00", "from=2026-01-01T00:00:00%2B99:00"):
        response = alice.get(f"/api/test-runs/{run['id']}?{query}")
        assert response.status_code == 400, (query, response.text)


def test_fractions_near_a_whole_second_are_exact(alice: Client) -> None:
    run = start_run(alice, threshold_percent=50)
    body = [
        {"seq": 0, "cpu_percent": 90, "recorded_at": "2026-01-01T00:00:00.999600Z"},
        {"seq": 1, "cpu_percent": 90, "recorded_at": "2026-01-01T00:00:01.500000Z"},
    ]
    alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    assert window_summary(alice, run)["time_above_threshold_s"] == pytest.approx(0.5004, abs=1e-9)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"active_from": "2026-01-01T00:00:00"}, "active_from"),
        ({"active_to": "2026-01-01 00:00"}, "active_to"),
        ({"active_from": at(10), "active_to": at(5)}, "active_from"),
        ({"host": ",".join(f"h{i}" for i in range(101))}, "host"),
        ({"host": "h" * 256}, "host"),
    ],
)
def test_bad_filters_on_the_list_are_a_clear_400(alice: Client, params: dict[str, str], field: str) -> None:
    response = alice.get("/api/test-runs", params=params)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_window_parameters_are_documented(client: Client) -> None:
    spec = client.get("/schema/openapi.json").json()
    listing = {p["name"] for p in spec["paths"]["/api/test-runs"]["get"]["parameters"]}
    assert {"host", "active_from", "active_to"} <= listing
    one = spec["paths"]["/api/test-runs/{run_id}"]["get"]
    assert {"from", "to"} <= {p["name"] for p in one["parameters"]}
    assert "window" in one["description"]


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("", "active_from=2026-01-01T00:00:00Z&active_from=2026-01-02T00:00:00Z", "active_from"),
        ("", "limit=5&limit=6", "limit"),
        ("", "name=a&name=b", "name"),
        ("/{run}", "from=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z", "from"),
        ("/{run}", "threshold=1&threshold=2", "threshold"),
        ("/{run}/cpu-usage/series", "to=2026-01-01T00:00:00Z&to=2026-01-01T00:00:01Z", "to"),
        ("/{run}/cpu-usage", "cursor=a&cursor=b", "cursor"),
    ],
)
def test_a_single_valued_parameter_given_twice_is_400(alice: Client, path: str, query: str, name: str) -> None:
    run = start_run(alice)
    response = alice.get(f"/api/test-runs{path.format(run=run['id'])}?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == f"query parameter {name}: given 2 times: give it once"
    assert response.json()["extra"] == [
        {"message": "given 2 times: give it once", "source": "query", "key": name, "field": name}
    ]


def test_a_repeated_host_is_still_a_list(alice: Client) -> None:
    start_run(alice, hostname="a")
    start_run(alice, hostname="b")
    assert alice.get("/api/test-runs?host=a&host=B").json()["total"] == 2


@pytest.mark.parametrize("value", ["0.0", "1700000000", "2026-01-01", "2026-01-01 00:00:00Z", "20260101T000000Z"])
def test_a_time_that_is_not_rfc_3339_is_400(alice: Client, value: str) -> None:
    run = start_run(alice)
    response = alice.get(f"/api/test-runs/{run['id']}/cpu-usage/series", params={"to": value})
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"] == "to"


def test_times_beyond_microseconds_and_at_the_edges_of_the_calendar(alice: Client) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}"
    cut = alice.get(url, params={"from": "2026-01-01T00:00:00.1234567890z", "to": "2026-01-01T00:00:01Z"})
    assert cut.status_code == 200, cut.text
    overflow = alice.get(url, params={"from": "0001-01-01T00:00:00+14:00"})
    assert overflow.status_code == 400, overflow.text
    assert "representable" in overflow.json()["detail"]
