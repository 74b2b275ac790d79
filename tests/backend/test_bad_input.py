"""Bad input gets a clear 4xx naming what is wrong, never a 500, and never writes anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, add_user, samples, start_run
from tests.conftest import Backend

Client = TestClient[Litestar]


def post_raw(client: Client, url: str, raw: bytes) -> Any:
    return client.post(url, content=raw, headers={"content-type": "application/json"})


def stored(client: Client, run_id: str) -> int:
    count: int = client.get(f"/api/test-runs/{run_id}").json()["summary"]["sample_count"]
    return count


BAD_SAMPLES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b'{"cpu_percent": ', "malformed JSON"),
    ("not JSON at all", b"cpu=12", "malformed JSON"),
    ("NaN", b'{"cpu_percent": NaN}', "malformed JSON"),
    ("Infinity", b'{"cpu_percent": Infinity}', "malformed JSON"),
    ("overflowing number", b'{"cpu_percent": 1e999}', "$.cpu_percent"),
    ("string for a number", b'{"cpu_percent": "12.5"}', "$.cpu_percent"),
    ("boolean for a number", b'{"cpu_percent": true}', "$.cpu_percent"),
    ("boolean for seq", b'{"cpu_percent": 1, "seq": true}', "$.seq"),
    ("null percent", b'{"cpu_percent": null}', "$.cpu_percent"),
    ("missing percent", b'{"seq": 1}', "cpu_percent"),
    ("percent below 0", b'{"cpu_percent": -0.1}', "$.cpu_percent"),
    ("percent above 100", b'{"cpu_percent": 100.01}', "$.cpu_percent"),
    ("naive timestamp", b'{"cpu_percent": 1, "recorded_at": "2026-01-01T00:00:00"}', "$.recorded_at"),
    ("unparseable timestamp", b'{"cpu_percent": 1, "recorded_at": "yesterday"}', "$.recorded_at"),
    ("epoch number timestamp", b'{"cpu_percent": 1, "recorded_at": 1700000000}', "$.recorded_at"),
    ("negative seq", b'{"cpu_percent": 1, "seq": -1}', "$.seq"),
    ("seq over 64 bits", b'{"cpu_percent": 1, "seq": 9223372036854775808}', "$.seq"),
    ("fractional seq", b'{"cpu_percent": 1, "seq": 1.5}', "$.seq"),
    ("unknown field", b'{"cpu_percent": 1, "cpu": 2}', "unknown field"),
    ("empty list", b"[]", "length >= 1"),
    ("a number as body", b"42", "$"),
    ("empty body", b"", "malformed JSON"),
]


@pytest.mark.parametrize(
    ("raw", "says"), [(raw, says) for _, raw, says in BAD_SAMPLES], ids=[c[0] for c in BAD_SAMPLES]
)
def test_bad_samples_are_400(alice: Client, raw: bytes, says: str) -> None:
    run = start_run(alice)
    response = post_raw(alice, f"/api/test-runs/{run['id']}/cpu-usage", raw)
    assert response.status_code == 400, response.text
    assert says in response.json()["detail"]
    assert stored(alice, run["id"]) == 0


def test_boundary_values_are_accepted(alice: Client) -> None:
    run = start_run(alice)
    body = [
        {"cpu_percent": 0, "seq": 0},
        {"cpu_percent": 100, "seq": 2**63 - 1},
        {"cpu_percent": 55.5, "recorded_at": "2026-01-01T00:00:00+14:00"},
    ]
    response = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    assert response.status_code == 201
    assert response.json()["inserted"] == 3


def test_one_bad_sample_rejects_the_whole_batch_and_names_it(alice: Client) -> None:
    run = start_run(alice)
    body = samples(5_000)
    body[4_711]["cpu_percent"] = 250
    response = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=body)
    assert response.status_code == 400
    problem = response.json()["extra"][0]
    assert (problem["index"], problem["field"], problem["path"]) == (4_711, "cpu_percent", "$[4711].cpu_percent")
    assert "4711" in response.json()["detail"]
    assert stored(alice, run["id"]) == 0


def test_batch_over_the_cap_is_rejected(alice: Client) -> None:
    run = start_run(alice)
    raw = json.dumps([{"cpu_percent": 1}] * 10_001).encode()
    response = post_raw(alice, f"/api/test-runs/{run['id']}/cpu-usage", raw)
    assert response.status_code == 400
    assert "length <= 10000" in response.json()["detail"]
    assert stored(alice, run["id"]) == 0


def test_body_over_the_size_limit_is_413(backend: Backend) -> None:
    settings = backend.settings(max_body_bytes=4096)
    add_user(settings, "alice")
    with TestClient(create_app(settings)) as client:
        client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        run = start_run(client)
        raw = json.dumps(samples(200)).encode()
        assert len(raw) > 4096
        response = post_raw(client, f"/api/test-runs/{run['id']}/cpu-usage", raw)
        assert response.status_code == 413
        assert stored(client, run["id"]) == 0


def test_default_size_limit_admits_the_largest_batch(settings: ServerSettings) -> None:
    worst_case = json.dumps(
        [{"cpu_percent": 99.99999999, "seq": 2**63 - 1, "recorded_at": "2026-01-01T00:00:00.000000+00:00"}] * 10_000
    )
    assert len(worst_case) < settings.max_body_bytes


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"hostname": "h" * 256}, "hostname"),
        ({"threshold_percent": 101}, "threshold_percent"),
        ({"threshold_percent": "80"}, "threshold_percent"),
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": -1}, "interval_s"),
        ({"started_at": "2026-01-01 00:00"}, "started_at"),
        ({"owner": 1}, None),
    ],
)
def test_bad_run_fields_are_400(alice: Client, body: dict[str, Any], field: str | None) -> None:
    response = alice.post("/api/test-runs", json=body)
    assert response.status_code == 400
    if field:
        assert response.json()["extra"][0]["field"] == field
    assert alice.get("/api/test-runs").json()["total"] == 0


@pytest.mark.parametrize(
    "raw", [b'{"ended_at": "2026-01-01T00:00:00"}', b'{"ended_at": 5}', b'{"when": "now"}', b"[1]", b"{"]
)
def test_bad_finish_bodies_are_400_and_leave_the_run_open(alice: Client, raw: bytes) -> None:
    run = start_run(alice)
    assert post_raw(alice, f"/api/test-runs/{run['id']}/finish", raw).status_code == 400
    assert alice.get(f"/api/test-runs/{run['id']}").json()["ended_at"] is None


@pytest.mark.parametrize(
    "raw",
    [b'{"username": "a"}', b'{"password": "a"}', b'{"username": 1, "password": "x"}', b"[]", b"username=a&password=b"],
)
def test_bad_login_bodies_are_400(client: Client, raw: bytes) -> None:
    assert post_raw(client, "/api/auth/login", raw).status_code == 400


@pytest.mark.parametrize("run_id", ["not-a-uuid", "1", "01a212cd-5dd6-7004-8b92", "' OR 1=1 --", "%00"])
def test_malformed_run_ids_are_400_on_every_run_route(alice: Client, run_id: str) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/finish", None),
        ("POST", "/cpu-usage", {"cpu_percent": 1}),
        ("GET", "/cpu-usage", None),
        ("GET", "/cpu-usage/series", None),
        ("GET", "/cpu-usage.csv", None),
    ]:
        response = alice.request(method, f"/api/test-runs/{run_id}{suffix}", json=body)
        assert response.status_code in {400, 404}, (method, suffix, response.status_code)
        if response.status_code == 400:
            assert "malformed run id" in response.json()["detail"]


def test_malformed_run_id_message(alice: Client) -> None:
    response = alice.get("/api/test-runs/not-a-uuid")
    assert response.status_code == 400
    assert response.json()["detail"] == "malformed run id 'not-a-uuid': expected a UUID"


def test_unknown_run_is_404(alice: Client) -> None:
    response = alice.get("/api/test-runs/01a212cd-5dd6-7004-8b92-feef221c801d")
    assert response.status_code == 404
    assert response.json()["detail"] == "no such test run"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("", {"threshold": 101}),
        ("", {"threshold": "hot"}),
        ("/cpu-usage", {"limit": 0}),
        ("/cpu-usage", {"limit": 10_001}),
        ("/cpu-usage", {"cursor": "garbage"}),
        ("/cpu-usage", {"cursor": "W10"}),  # base64 of "[]"
        ("/cpu-usage", {"cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXQ"}),  # a naive time inside
        ("/cpu-usage", {"cursor": "x" * 500}),
        ("/cpu-usage/series", {"points": 0}),
        ("/cpu-usage/series", {"points": 100_000}),
    ],
)
def test_bad_query_parameters_are_400(alice: Client, path: str, params: dict[str, Any]) -> None:
    run = start_run(alice)
    response = alice.get(f"/api/test-runs/{run['id']}{path}", params=params)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "ten"}])
def test_bad_run_list_parameters_are_400(alice: Client, params: dict[str, Any]) -> None:
    assert alice.get("/api/test-runs", params=params).status_code == 400


INJECTIONS = ["'; DROP TABLE cpu_usage; --", 'Robert"); DELETE FROM users; --', "\\x00\x00", "名前 🙂", "<script>"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_hostile_strings_are_stored_verbatim(alice: Client, text: str) -> None:
    run = start_run(alice, name=text, hostname=text)
    detail = alice.get(f"/api/test-runs/{run['id']}").json()
    assert (detail["name"], detail["hostname"]) == (text, text)
    assert alice.get("/api/test-runs").json()["total"] == 1
