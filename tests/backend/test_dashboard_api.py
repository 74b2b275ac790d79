"""What the dashboard added to the API: a name filter on the list, a ranged series, the live route,
and the same-origin rule for writes. On every backend (SQLite, MariaDB, Redis sessions)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.web.security import is_cross_origin_write
from tests.backend.conftest import at, samples, start_run

Client = TestClient[Litestar]


def names(client: Client, query: str) -> list[str]:
    response = client.get(f"/api/test-runs?{query}")
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()["items"])


def test_the_list_filters_by_a_part_of_the_name_in_any_case(alice: Client, bob: Client) -> None:
    for name in ("Checkout before", "checkout after", "soak 100%", "soak_1", "soak-x"):
        start_run(alice, name=name)
    start_run(bob, name="checkout of bob")
    assert names(alice, "name=CHECKOUT") == ["Checkout before", "checkout after"]
    assert names(alice, "name=100%25") == ["soak 100%"]  # % and _ match themselves, not anything
    assert names(alice, "name=soak_") == ["soak_1"]
    assert names(alice, "name=nothing") == []
    assert alice.get("/api/test-runs?name=" + "x" * 201).status_code == 400


def test_a_ranged_series_has_finer_buckets_over_that_range_only(alice: Client) -> None:
    run = start_run(alice)
    values = [{**s, "cpu_percent": float(i % 100)} for i, s in enumerate(samples(1000))]
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=values).status_code == 201
    series = f"/api/test-runs/{run['id']}/cpu-usage/series"
    whole = alice.get(series, params={"points": 100}).json()["items"]
    assert [b["count"] for b in whole[:3]] == [10, 10, 10]
    part = alice.get(series, params={"points": 100, "from": at(200), "to": at(299)}).json()["items"]
    assert len(part) == 100
    assert {b["count"] for b in part} == {1}
    assert part[0]["start"].startswith("2026-01-01T00:03:20")  # the range's first sample, 200 s in
    assert part[0]["avg_percent"] == 0.0
    assert part[-1]["avg_percent"] == 99.0


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=2026-01-01T00:00:00", "from"), ("to=2026-01-01T00:00:00", "to"), (f"from={at(10)}&to={at(5)}", "from")],
)
def test_a_bad_range_is_a_clear_400(alice: Client, query: str, field: str) -> None:
    run = start_run(alice)
    response = alice.get(f"/api/test-runs/{run['id']}/cpu-usage/series?{query.replace('+', '%2B')}")
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def test_the_live_route_answers_a_finished_run_at_once(alice: Client, bob: Client) -> None:
    run = start_run(alice)
    alice.post(f"/api/test-runs/{run['id']}/finish")
    response = alice.get(f"/api/test-runs/{run['id']}/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: ended" in response.text
    assert bob.get(f"/api/test-runs/{run['id']}/live").status_code == 404


def test_a_write_from_another_origin_is_refused_before_it_acts(alice: Client) -> None:
    run = start_run(alice)
    url = f"/api/test-runs/{run['id']}"
    for origin in ("http://evil.example", "null", "http://testserver.local.evil.example"):
        assert alice.delete(url, headers={"Origin": origin}).status_code == 403
    assert alice.delete(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert alice.get(url, headers={"Origin": "http://evil.example"}).status_code == 200  # reads are not writes
    assert alice.delete(url, headers={"Origin": "http://testserver.local"}).status_code == 204


@pytest.mark.parametrize(
    ("method", "origin", "host", "site", "refused"),
    [
        ("POST", None, "a:8000", None, False),  # the agent, curl: no Origin
        ("POST", "http://a:8000", "a:8000", "same-origin", False),
        ("POST", "https://A:8000", "a:8000", None, False),  # a TLS proxy in front: the host is what counts
        ("DELETE", "http://b:8000", "a:8000", None, True),
        ("POST", "http://a:8001", "a:8000", None, True),
        ("PATCH", "null", "a:8000", None, True),
        ("POST", "http://a:8000", None, None, True),
        ("POST", None, "a:8000", "cross-site", True),
        ("GET", "http://b", "a", "cross-site", False),
    ],
)
def test_cross_origin_writes(
    method: str, origin: str | None, host: str | None, site: str | None, refused: bool
) -> None:
    assert is_cross_origin_write(method, origin, host, site) is refused
