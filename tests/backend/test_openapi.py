"""The OpenAPI document at /schema describes every route: bodies, answers and error codes."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from openapi_spec_validator import validate

from cpumon import __version__
from cpumon_backend.app import create_app
from cpumon_backend.openapi.document import is_protected
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import start_run

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
        ("POST", "/api/test-runs/{run_id}/events"),
        ("GET", "/api/test-runs/{run_id}/events"),
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


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or the component it refers to."""
    if "$ref" in node:
        return resolve(spec, spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]])
    return node


@pytest.mark.parametrize(
    ("path", "schema_name", "required"),
    [
        ("/api/auth/login", "LoginRequest", {"username", "password"}),
        ("/api/test-runs", "RunCreate", set()),
        ("/api/test-runs/{run_id}/finish", "RunFinish", set()),
    ],
)
def test_request_bodies_are_named_components(
    spec: dict[str, Any], path: str, schema_name: str, required: set[str]
) -> None:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{schema_name}"}
    schema = resolve(spec, body)
    assert schema["type"] == "object"
    assert set(schema.get("required", [])) == required
    assert schema["additionalProperties"] is False


def test_ingest_body_is_a_sample_or_a_bounded_list(spec: dict[str, Any]) -> None:
    schema = spec["paths"]["/api/test-runs/{run_id}/cpu-usage"]["post"]["requestBody"]["content"]["application/json"]
    variants = schema["schema"]["anyOf"]
    as_list = next(v for v in variants if v.get("type") == "array")
    single = next(v for v in variants if "$ref" in v)
    assert (as_list["minItems"], as_list["maxItems"]) == (1, 10_000)
    assert single == {"$ref": "#/components/schemas/SampleIn"}
    assert resolve(spec, single)["properties"]["cpu_percent"] == {
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


# --- The contract, checked from the app's own route table: a route added later is covered here too. ---

STABLE_OPERATION_IDS = {
    ("POST", "/api/auth/login"): "login",
    ("POST", "/api/auth/logout"): "logout",
    ("GET", "/api/auth/me"): "me",
    ("POST", "/api/test-runs"): "startRun",
    ("GET", "/api/test-runs"): "listRuns",
    ("GET", "/api/test-runs/{run_id}"): "getRun",
    ("POST", "/api/test-runs/{run_id}/finish"): "finishRun",
    ("DELETE", "/api/test-runs/{run_id}"): "deleteRun",
    ("POST", "/api/test-runs/{run_id}/cpu-usage"): "ingestSamples",
    ("GET", "/api/test-runs/{run_id}/cpu-usage"): "listSamples",
    ("GET", "/api/test-runs/{run_id}/cpu-usage/series"): "getSeries",
    ("GET", "/api/test-runs/{run_id}/cpu-usage.csv"): "exportCsv",
    ("GET", "/health"): "health",
    ("GET", "/ready"): "ready",
}


def document_of(app: Litestar) -> dict[str, Any]:
    with TestClient(app) as test_client:
        response = test_client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def offline_app() -> Litestar:
    """The app over an in-memory database: enough to serve its document."""
    return create_app(ServerSettings(database_url="sqlite+aiosqlite:///:memory:", bcrypt_rounds=4))


@pytest.fixture(scope="module")
def document(offline_app: Litestar) -> dict[str, Any]:
    return document_of(offline_app)


def routed_operations(app: Litestar, document: dict[str, Any]) -> Iterator[tuple[str, str, HTTPRouteHandler, Any]]:
    """(method, path, handler, operation or None) for every documented handler of the route table."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if handler.resolve_include_in_schema():
                operation = document["paths"].get(route.path_format, {}).get(method.lower())
                yield method, route.path_format, handler, operation


def test_every_routed_handler_is_in_the_document_with_a_short_unique_operation_id(
    offline_app: Litestar, document: dict[str, Any]
) -> None:
    found = {(m, p): op for m, p, _, op in routed_operations(offline_app, document)}
    assert None not in found.values(), [key for key, op in found.items() if op is None]
    ids = {key: op["operationId"] for key, op in found.items()}
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]{1,30}", op_id) for op_id in ids.values()), ids
    assert len(set(ids.values())) == len(ids), "operation ids must be unique"
    assert {key: ids.get(key) for key in STABLE_OPERATION_IDS} == STABLE_OPERATION_IDS


@pytest.mark.parametrize("cookie", ["cpumon_session", "site-b_sid"])
def test_security_is_the_session_cookie_exactly_where_the_login_guard_runs(cookie: str) -> None:
    app = create_app(
        ServerSettings(database_url="sqlite+aiosqlite:///:memory:", bcrypt_rounds=4, session_cookie_name=cookie)
    )
    document = document_of(app)
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == [cookie]
    assert {key: schemes[cookie][key] for key in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "cookie",
        "name": cookie,
    }
    assert "POST /api/auth/login" in schemes[cookie]["description"]
    public = set()
    for method, path, handler, operation in routed_operations(app, document):
        expected: list[dict[str, list[str]]] = [{cookie: []}] if is_protected(handler) else []
        assert operation["security"] == expected, (method, path)
        if not expected:
            public.add((method, path))
    assert public == {("POST", "/api/auth/login"), ("GET", "/health"), ("GET", "/ready")}


def test_every_error_answer_is_the_one_error_schema(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                media = response["content"]
                assert list(media) == ["application/json"], (method, path, status)
                assert media["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["status_code", "detail"]
    assert error["properties"]["extra"]["type"] == "array"
    assert error["properties"]["extra"]["items"]["type"] == "object"


def media_types(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method, path, op in operations(document):
        if "requestBody" in op:
            for kind, media in op["requestBody"]["content"].items():
                yield f"{method} {path} request {kind}", media
        for status, response in op["responses"].items():
            for kind, media in response.get("content", {}).items():
                yield f"{method} {path} {status} {kind}", media


def test_every_body_and_answer_has_examples_that_match_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for where, media in media_types(document):
        assert media.get("examples"), f"no example for {where}"
        validator = Draft202012Validator({**media["schema"], "components": document["components"]})
        for label, example in media["examples"].items():
            errors = [error.message for error in validator.iter_errors(example["value"])]
            assert errors == [], f"{where}, example {label!r}: {errors}"
            checked += 1
    assert checked > 40


def test_the_document_is_valid_openapi_3_1_with_the_package_version(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises with the first error
    assert document["info"]["version"] == __version__ == importlib.metadata.version("cpumon")


def fill_path(template: str, run_id: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: run_id if m.group(1) == "run_id" else "anything", template)


def test_options_allows_every_method_of_every_route(alice: Client) -> None:
    run_id = start_run(alice)["id"]
    app = alice.app
    checked = 0
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            response = alice.options(fill_path(route.path, run_id))
            assert response.status_code == 204, (route.path, response.text)
            head = {"HEAD"} if "GET" in route.methods else set()  # HEAD is answered wherever GET is
            assert response.headers["allow"] == ", ".join(sorted(route.methods | head)), route.path
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_docs_pages_load_only_same_origin_assets(offline_app: Litestar, page: str) -> None:
    with TestClient(offline_app) as test_client:
        response = test_client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        references = re.findall(r'(?:src|href|data-spec-url)="([^"]+)"', response.text)
        assert len(references) >= 5
        for reference in references:
            assert reference.startswith("/"), reference
            assert not reference.startswith("//"), reference
            asset = test_client.get(reference)
            assert asset.status_code == 200, reference
            assert asset.content, reference
