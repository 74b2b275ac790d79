"""Login, sessions and throttling, on every backend."""

from __future__ import annotations

import time

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, FakeClock, add_user
from tests.conftest import Backend, emptied_backend

Client = TestClient[Litestar]
COOKIE = "cpumon_session"


def login(client: Client, username: str, password: str = PASSWORD) -> int:
    return client.post("/api/auth/login", json={"username": username, "password": password}).status_code


def test_login_answers_the_user_and_sets_a_safe_cookie(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    assert client.get("/api/auth/me").json() == response.json()


def test_cookie_is_secure_when_configured(backend: Backend) -> None:
    settings = backend.settings(session_cookie_secure=True)
    add_user(settings, "alice")
    with TestClient(create_app(settings), base_url="https://testserver.local") as client:
        response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert "Secure" in response.headers["set-cookie"]


def test_unknown_user_and_wrong_password_get_the_same_answer(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    wrong = client.post("/api/auth/login", json={"username": "alice", "password": "nope"})
    unknown = client.post("/api/auth/login", json={"username": "mallory", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"status_code": 401, "detail": "invalid username or password"}
    assert "set-cookie" not in wrong.headers


def test_password_is_case_sensitive_and_not_truncated(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice", "a" * 72)
    assert login(client, "alice", "A" * 72) == 401
    assert login(client, "alice", "a" * 72 + "extra") == 401
    assert login(client, "alice", "a" * 72) == 200


def test_session_id_is_rotated_at_login(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    add_user(settings, "bob")
    assert login(client, "alice") == 200
    first = client.cookies[COOKIE]
    assert login(client, "bob") == 200  # logging in again from a logged-in client
    second = client.cookies[COOKIE]
    assert second != first
    # The old id is dead server-side: a copy of it is not logged in.
    client.cookies.set(COOKIE, first)
    assert client.get("/api/auth/me").status_code == 401


def test_a_planted_session_id_is_not_adopted(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    client.cookies.set(COOKIE, "attacker-chosen-id")
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    issued = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    assert issued != "attacker-chosen-id"
    assert len(issued) == 64  # 32 random bytes, hex


def test_logout_deletes_the_session_server_side(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    login(client, "alice")
    stolen = client.cookies[COOKIE]
    response = client.post("/api/auth/logout")
    assert response.status_code == 204
    assert (
        'cpumon_session=""' in response.headers["set-cookie"] or "cpumon_session=null" in response.headers["set-cookie"]
    )
    client.cookies.set(COOKIE, stolen)
    assert client.get("/api/auth/me").status_code == 401


def test_session_expires_after_its_lifetime(backend: Backend) -> None:
    settings = backend.settings(session_lifetime=60)
    add_user(settings, "alice")
    clock = FakeClock()
    with TestClient(create_app(settings, clock=clock)) as client:
        response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert "Max-Age=60" in response.headers["set-cookie"]
        if backend.redis_url is not None:
            return  # Redis expires the key itself: checked with real time in tests/reliability
        me = {"cookie": f"{COOKIE}={client.cookies[COOKIE]}"}
        clock.advance(59.9)
        assert client.get("/api/auth/me", headers=me).status_code == 200
        clock.advance(0.2)
        assert client.get("/api/auth/me", headers=me).status_code == 401


def test_anonymous_requests_create_no_session(client: Client) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "set-cookie" not in client.get("/health").headers


def test_authenticated_reads_do_not_reissue_the_cookie(alice: Client) -> None:
    assert "set-cookie" not in alice.get("/api/auth/me").headers


def test_repeated_failures_for_a_username_are_throttled(backend: Backend) -> None:
    settings = backend.settings(login_max_failures=3, login_window=60)
    add_user(settings, "alice")
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert login(client, "alice", "wrong") == 401
        blocked = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert "try again" in blocked.json()["detail"]


def test_throttle_counts_per_client_across_usernames(backend: Backend) -> None:
    settings = backend.settings(login_max_failures=3, login_address_max_failures=3, login_window=60)
    add_user(settings, "alice")
    with TestClient(create_app(settings)) as client:
        for name in ("x1", "x2", "x3"):
            assert login(client, name, "wrong") == 401
        assert login(client, "alice") == 429


def test_throttle_is_shared_between_app_instances(backend: Backend) -> None:
    """Two apps over one store stand for two workers: failures on one count on the other."""
    settings = backend.settings(login_max_failures=2, login_window=60)
    add_user(settings, "alice")
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        assert login(first, "alice", "wrong") == 401
        assert login(second, "alice", "wrong") == 401
        assert login(first, "alice") == 429
        assert login(second, "alice") == 429


def test_success_resets_the_username_count(backend: Backend) -> None:
    settings = backend.settings(login_max_failures=3, login_address_max_failures=3, login_window=60)
    add_user(settings, "alice")
    with TestClient(create_app(settings)) as client:
        assert login(client, "alice", "wrong") == 401
        assert login(client, "alice", "wrong") == 401
        assert login(client, "alice") == 200
        # The username count starts again; the client count (2) is one below the limit.
        assert login(client, "alice", "wrong") == 401
        assert login(client, "alice") == 429


def test_throttle_window_ends(backend: Backend) -> None:
    window = 1 if backend.redis_url else 60  # Redis keeps time itself; the database uses the app's clock
    settings = backend.settings(login_max_failures=1, login_window=window)
    add_user(settings, "alice")
    clock = FakeClock()
    with TestClient(create_app(settings, clock=clock)) as client:
        assert login(client, "alice", "wrong") == 401
        assert login(client, "alice") == 429
        if backend.redis_url is None:
            clock.advance(59)
            assert login(client, "alice") == 429
            clock.advance(1.5)
            assert login(client, "alice") == 200
            return
        deadline = time.monotonic() + 10
        while (status := login(client, "alice")) == 429:
            assert time.monotonic() < deadline, "still throttled long after the 1 s window"
            time.sleep(0.2)
        assert status == 200


def test_a_throttle_counter_is_not_usable_as_a_session_id(backend: Backend) -> None:
    """Counters live apart from sessions (another table, another Redis keyspace): no cookie reaches them."""
    settings = backend.settings(login_max_failures=5)
    with TestClient(create_app(settings)) as client:
        app_throttle = client.app.dependencies["throttle"].dependency()
        login(client, "ghost", "wrong")
        for limit in app_throttle.limits("ghost", "testclient"):
            for cookie in (limit.key, f"throttle:{limit.key}", limit.key.upper()):
                assert client.get("/api/auth/me", headers={"cookie": f"{COOKIE}={cookie}"}).status_code == 401


@pytest.mark.parametrize("username", ["", " ", "a b", "x" * 65, "tab\tname"])
def test_malformed_usernames_are_400(client: Client, username: str) -> None:
    response = client.post("/api/auth/login", json={"username": username, "password": "x"})
    assert response.status_code == 400
    assert response.json()["extra"][0]["field"] == "username"


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_expired_sessions_and_counters_are_purged(kind: str, request: pytest.FixtureRequest) -> None:
    import asyncio  # noqa: PLC0415

    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: PLC0415

    from cpumon_backend.auth.models import LoginAttempt, SessionRecord  # noqa: PLC0415
    from cpumon_backend.auth.sessions import stored_id  # noqa: PLC0415
    from cpumon_backend.auth.storage import purge_expired  # noqa: PLC0415
    from cpumon_backend.storage.db import create_engine  # noqa: PLC0415

    # Emptied: a counter row left by an earlier test (same address, a later window) would not be purged.
    backend = emptied_backend(request, kind)
    settings = backend.settings(session_lifetime=100, login_window=50)
    add_user(settings, "stays")
    add_user(settings, "purge-me")
    clock = FakeClock()
    with TestClient(create_app(settings, clock=clock)) as client:
        assert login(client, "purge-me") == 200
        assert login(client, "purge-me", "wrong") == 401  # a counter row too
        assert COOKIE in client.cookies
        client.cookies.clear()
        clock.advance(60)
        assert login(client, "stays") == 200
        kept = client.cookies[COOKIE]
    clock.advance(50.5)  # the first session and the counter are over; the second session is not

    async def purge_and_count() -> tuple[int, set[str], int]:
        engine = create_engine(settings)
        try:
            maker = async_sessionmaker(engine)
            purged = await purge_expired(maker, clock)
            async with maker() as session:
                ids = set((await session.scalars(select(SessionRecord.session_id))).all())
                counters = await session.scalar(select(func.count()).select_from(LoginAttempt))
            return purged, ids, int(counters or 0)
        finally:
            await engine.dispose()

    purged, remaining, counters = asyncio.run(purge_and_count())
    assert purged == 3  # the old session, the user's counter and the address's
    assert remaining == {stored_id(kept)}
    assert counters == 0
