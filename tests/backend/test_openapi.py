"""The OpenAPI document at /schema describes every route: bodies, answers and error codes."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


@pytest.fixture
def spec(client: Client) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), path, op) for path, ops in spec["paths"].items() for m, op in ops.items()]


def test_every_route_of_the_design_is_documented(spec: dict[str, Any]) -> None:
    documented = {(m, p) for m, p, _ in operations(spec)}
    assert documented == {
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/logout"),
        ("GET", "/api/auth/me"),
        ("POST", "/api/test-runs"),
        ("GET", "/api/test-runs"),
        ("GET", "/api/test-runs/{run_id}"),
        ("POST", "/api/test-runs/{run_id}/finish"),
        ("DELETE", "/api/test-runs/{run_id}"),
        ("POST", "/api/test-runs/{run_id}/cpu-usage"),
        ("GET", "/api/test-runs/{run_id}/cpu-usage"),
        ("GET", "/api/test-runs/{run_id}/cpu-usage/series"),
        ("GET", "/api/test-runs/{run_id}/cpu-usage.csv"),
        ("GET", "/api/test-runs/{run_id}/live"),
        ("GET", "/health"),
        ("GET", "/ready"),
    }


def test_every_operation_has_a_summary_and_a_success_answer(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        assert op.get("summary"), (method, path)
        success = [code for code in op["responses"] if code.startswith("2")]
        assert len(success) == 1, (method, path)
        if success[0] != "204":
            assert op["responses"][success[0]].get("content"), (method, path)


def test_error_codes_are_declared(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        codes = set(op["responses"])
        if path.startswith("/api/") and path != "/api/auth/login":
            assert "401" in codes, (method, path)
        if "{run_id}" in path:
            assert {"400", "404", "503"} <= codes, (method, path)
    assert {"400", "401", "429", "503"} <= set(spec["paths"]["/api/auth/login"]["post"]["responses"])
    ingest = spec["paths"]["/api/test-runs/{run_id}/cpu-usage"]["post"]["responses"]
    assert {"201", "400", "409", "413"} <= set(ingest)
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "required"),
    [
        ("/api/auth/login", {"username", "password"}),
        ("/api/test-runs", set()),
        ("/api/test-runs/{run_id}/finish", set()),
    ],
)
def test_request_bodies_are_described(spec: dict[str, Any], path: str, required: set[str]) -> None:
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    assert set(schema.get("required", [])) == required
    assert schema["additionalProperties"] is False


def test_ingest_body_is_a_sample_or_a_bounded_list(spec: dict[str, Any]) -> None:
    schema = spec["paths"]["/api/test-runs/{run_id}/cpu-usage"]["post"]["requestBody"]["content"]["application/json"]
    variants = schema["schema"]["anyOf"]
    as_list = next(v for v in variants if v.get("type") == "array")
    single = next(v for v in variants if v.get("type") == "object")
    assert (as_list["minItems"], as_list["maxItems"]) == (1, 10_000)
    assert single["properties"]["cpu_percent"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "description": "finite, 0-100",
    }
    assert as_list["items"] == single


def test_no_dangling_references(spec: dict[str, Any]) -> None:
    known = set(spec.get("components", {}).get("schemas", {}))

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    missing = {r for r in refs(spec) if r.rsplit("/", 1)[-1] not in known}
    assert missing == set()
