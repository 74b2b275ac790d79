"""Bytes no client should send: every one gets a 4xx naming the problem, never a 500.

Named cases first (invalid UTF-8, deep nesting, timestamps that overflow once converted to UTC),
then a byte-level fuzz layer (Hypothesis, derandomized and bounded for CI):
random bytes and broken encodings, deep nesting, huge numbers, extreme timestamps and odd content
types at every body route, and random cookies and query strings, asserting no 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, add_user

Client = TestClient[Litestar]
JSON = {"content-type": "application/json"}


@pytest.fixture
def session(settings: ServerSettings) -> Iterator[tuple[Client, str]]:
    """A logged-in client (throttling out of the way) and one of its runs."""
    loose = settings.model_copy(update={"login_max_failures": 10_000, "login_address_max_failures": 10_000})
    add_user(loose, "alice")
    with TestClient(create_app(loose), raise_server_exceptions=False) as client:
        assert client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
        run_id = client.post("/api/test-runs", json={"name": "r", "started_at": "2026-01-01T00:00:00Z"}).json()["id"]
        yield client, run_id


def body_routes(run_id: str) -> list[str]:
    return [
        "/api/auth/login",
        "/api/test-runs",
        f"/api/test-runs/{run_id}/cpu-usage",
        f"/api/test-runs/{run_id}/finish",
    ]


def post(client: Client, url: str, raw: bytes) -> Any:
    return client.post(url, content=raw, headers=JSON)


def test_invalid_utf8_is_400_on_every_body_route(session: tuple[Client, str]) -> None:
    client, run_id = session
    field = {0: b"username", 1: b"name", 2: b"recorded_at", 3: b"ended_at"}
    for index, url in enumerate(body_routes(run_id)):
        for bad in (b"a\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"):
            raw = b'{"' + field[index] + b'": "' + bad + b'"}'
            response = post(client, url, raw)
            assert response.status_code == 400, (url, raw, response.text)
            if index < 2:  # a string field (a timestamp field says that it is not a timestamp)
                assert "UTF-8" in response.json()["detail"], (url, raw, response.text)


@pytest.mark.parametrize("depth", [40, 500, 5000])
def test_deep_nesting_is_400_on_every_body_route(session: tuple[Client, str], depth: int) -> None:
    client, run_id = session
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        raw = opener * depth + b"1" + closer * depth
        for url in body_routes(run_id):
            response = post(client, url, raw)
            assert response.status_code == 400, (url, depth, response.text)


EXTREME = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T05:00:00+05:00:01"]


@pytest.mark.parametrize("stamp", EXTREME)
def test_timestamps_that_leave_the_range_in_utc_are_400(session: tuple[Client, str], stamp: str) -> None:
    client, run_id = session
    cases: list[tuple[str, Any, str]] = [
        ("/api/test-runs", {"started_at": stamp}, "$.started_at"),
        (f"/api/test-runs/{run_id}/cpu-usage", {"cpu_percent": 1, "recorded_at": stamp}, "$.recorded_at"),
        (
            f"/api/test-runs/{run_id}/cpu-usage",
            [{"cpu_percent": 1}, {"cpu_percent": 2, "recorded_at": stamp}],
            "$[1].recorded_at",
        ),
        (f"/api/test-runs/{run_id}/finish", {"ended_at": stamp}, "$.ended_at"),
    ]
    for url, body, path in cases:
        response = post(client, url, json.dumps(body).encode())
        if stamp.endswith("+05:00:01") and response.status_code == 201:
            continue  # a seconds offset that stays in range is fine
        assert response.status_code == 400, (url, body, response.text)
        assert path in response.json()["detail"]
    run = client.get(f"/api/test-runs/{run_id}").json()
    assert run["ended_at"] is None


# -- the byte-level fuzz layer --------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00Z", "1e999"]),
)
FIELDS = ["username", "password", "name", "hostname", "cpu_percent", "seq", "recorded_at", "started_at", "ended_at"]
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), children, max_size=5),
    max_leaves=12,
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(_encode),
    JSON_VALUES.map(lambda v: _encode(v).decode().encode("utf-16")),
    JSON_VALUES.map(lambda v: _encode(v) + b"\xff\xfe"),
    JSON_VALUES.map(lambda v: _encode(v).replace(b'"', b'"\xc3\x28', 1)),  # invalid UTF-8 inside a string
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=20, max_value=400).map(lambda n: b'{"cpu_percent": ' + b"9" * n + b"}"),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "APPLICATION/JSON",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=--x",
        "",
        "application/json\x00",
        "*/*",
    ]
)
FUZZ = settings(
    max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(route=st.integers(min_value=0, max_value=3), raw=BODIES, content_type=CONTENT_TYPES)
def test_fuzzed_bodies_never_get_a_5xx(session: tuple[Client, str], route: int, raw: bytes, content_type: str) -> None:
    client, run_id = session
    url = body_routes(run_id)[route]
    if client.app.state.settings.session_redis_url is not None:
        pytest.skip("the database backends are fuzzed; Redis only holds sessions")
    response = client.post(url, content=raw, headers={"content-type": content_type})
    assert response.status_code < 500, (url, raw[:200], content_type, response.text)


COOKIE_BYTES = st.binary(min_size=0, max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b)
# DEL (0x7f) is refused by httpx before anything is sent; raw bytes on the socket are the raw-request tests' job.
QUERY_BYTES = st.binary(max_size=120).filter(lambda b: all(32 < c != 0x7F and c not in b"#" for c in b))


@FUZZ
@given(
    cookie=COOKIE_BYTES,
    query=QUERY_BYTES,
    path=st.sampled_from(
        [
            "/api/auth/me",
            "/api/test-runs",
            "/api/test-runs/{run}",
            "/api/test-runs/{run}/cpu-usage",
            "/api/test-runs/{run}/cpu-usage/series",
            "/api/test-runs/{run}/cpu-usage.csv",
        ]
    ),
)
def test_fuzzed_cookies_and_query_strings_never_get_a_5xx(
    session: tuple[Client, str], cookie: bytes, query: bytes, path: str
) -> None:
    client, run_id = session
    if client.app.state.settings.session_redis_url is not None:
        pytest.skip("the database backends are fuzzed; Redis only holds sessions")
    url = path.replace("{run}", run_id) + "?" + query.decode("latin-1")
    for header in (b"cpumon_session=" + cookie, cookie):
        response = client.get(url, headers=[(b"cookie", header)])
        assert response.status_code < 500, (url, header[:100], response.text)
    logged_in = client.get(url)
    assert logged_in.status_code < 500, (url, logged_in.text)
