"""Every protected route, read from the app's own route table, refuses every kind of bad session.

A route added later is covered without touching this file; one that forgets its guard fails here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.auth.guards import requires_login
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, UserClient, add_user, start_run

Client = TestClient[Litestar]
PUBLIC = {("POST", "/api/auth/login"), ("GET", "/health"), ("GET", "/ready")}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/test-runs"): {"name": "x"},
    ("POST", "/api/test-runs/{run_id:str}/cpu-usage"): {"cpu_percent": 1.0, "seq": 0},
    ("POST", "/api/test-runs/{run_id:str}/finish"): {},
    ("POST", "/api/test-runs/{run_id:str}/events"): {"text": "x"},
}


def routes(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        # The dashboard's pages and assets are tested in tests/web (a page leads to the login, not 401).
        if not route.path.startswith(("/api/", "/health", "/ready")):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                if method not in {"HEAD", "OPTIONS"}:
                    yield method, route.path, handler


def call(client: Client, method: str, path: str, run_id: str) -> int:
    body = BODIES.get((method, path))
    url = path.replace("{run_id:str}", run_id)
    return client.request(method, url, json=body).status_code


def guards_of(handler: HTTPRouteHandler) -> list[object]:
    # Litestar wraps each guard of every layer in an AsyncCallable that keeps the function as `.func`.
    return [getattr(guard, "func", guard) for guard in handler.resolve_guards()]


def test_every_api_route_but_login_requires_a_session(app: Litestar) -> None:
    unguarded = {
        (method, path)
        for method, path, handler in routes(app)
        if requires_login not in guards_of(handler) and (method, path) not in PUBLIC
    }
    assert unguarded == set(), f"routes without the login guard: {unguarded}"


def wait_until_server_expires(client: Client, session_id: str) -> None:
    """Poll with the cookie sent by hand: the client's jar drops it at Max-Age, the server must too."""
    deadline = time.monotonic() + 10
    while client.get("/api/auth/me", headers={"cookie": f"cpumon_session={session_id}"}).status_code == 200:
        assert time.monotonic() < deadline, "the server still accepts the session long after its lifetime"
        time.sleep(0.2)


def _bad_cookies(client: Client, settings: ServerSettings) -> Iterator[tuple[str, str | None]]:
    """(kind, cookie value) pairs; one TestClient per app, since each runs the app on its own loop."""
    add_user(settings, "victim")
    yield "no cookie", None
    yield "forged cookie", "f" * 64

    client.cookies.clear()
    client.post("/api/auth/login", json={"username": "victim", "password": PASSWORD})
    logged_out = client.cookies["cpumon_session"]
    assert client.post("/api/auth/logout").status_code == 204
    yield "logged-out cookie", logged_out

    short = settings.model_copy(update={"session_lifetime": 1})
    with TestClient(create_app(short)) as issuer:
        issuer.post("/api/auth/login", json={"username": "victim", "password": PASSWORD})
        expired = issuer.cookies["cpumon_session"]
        wait_until_server_expires(issuer, expired)
    yield "expired session", expired


def test_bad_sessions_get_401_on_every_protected_route(
    client: Client, app: Litestar, settings: ServerSettings, user_client: UserClient
) -> None:
    owner = user_client()
    run_id = start_run(owner)["id"]
    protected = [(m, p) for m, p, _ in routes(app) if (m, p) not in PUBLIC]
    assert len(protected) >= 11
    failures = []
    for kind, cookie in _bad_cookies(client, settings):
        for method, path in protected:
            client.cookies.clear()
            if cookie is not None:
                client.cookies.set("cpumon_session", cookie)
            status = call(client, method, path, run_id)
            if status != 401:
                failures.append(f"{kind}: {method} {path} -> {status}")
    assert failures == []
    # Nothing was written by the refused requests.
    detail = owner.get(f"/api/test-runs/{run_id}").json()
    assert detail["summary"]["sample_count"] == 0
    assert detail["ended_at"] is None


@pytest.mark.parametrize("finished", [False, True])
def test_another_users_run_is_404_on_every_route(app: Litestar, user_client: UserClient, finished: bool) -> None:
    owner, stranger = user_client(), user_client()
    run_id = start_run(owner)["id"]
    owner.post(f"/api/test-runs/{run_id}/cpu-usage", json={"cpu_percent": 5.0, "seq": 0})
    if finished:
        owner.post(f"/api/test-runs/{run_id}/finish")
    run_routes = [(m, p) for m, p, _ in routes(app) if "{run_id:str}" in p]
    assert len(run_routes) >= 7
    statuses = {f"{m} {p}": call(stranger, m, p, run_id) for m, p in run_routes}
    assert set(statuses.values()) == {404}, statuses
    # The run is untouched and its existence did not leak.
    detail = owner.get(f"/api/test-runs/{run_id}").json()
    assert detail["summary"]["sample_count"] == 1
    assert stranger.get("/api/test-runs").json()["total"] == 0
