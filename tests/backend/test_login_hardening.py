"""Logins under attack, on every backend: spelling variants, shared addresses, cost changes, odd cookies.

The burst tests against a real server (many clients at once, several workers) are in
tests/reliability/test_login_bursts.py; these run in process on SQLite, MariaDB and Redis.
"""

from __future__ import annotations

import asyncio
import hashlib

import bcrypt
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from cpumon_backend.app import create_app
from cpumon_backend.auth.models import User
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.backend.conftest import PASSWORD, add_user
from tests.conftest import Backend

Client = TestClient[Litestar]
COOKIE = "cpumon_session"


def login(client: Client, username: str, password: str = PASSWORD) -> int:
    return client.post("/api/auth/login", json={"username": username, "password": password}).status_code


def stored_hash(settings: ServerSettings, username: str) -> str:
    async def read() -> str:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                value = await connection.scalar(select(User.password_hash).where(User.username == username))
                assert value is not None
                return str(value)
        finally:
            await engine.dispose()

    return asyncio.run(read())


# -- one canonical username -------------------------------------------------------------------

#: Spellings of "user1" that are the same name: case, compatibility (full width) and invisible characters.
SAME_NAME = ["USER1", "User1", "\uff55\uff53\uff45\uff52\uff11", "user\u200b1", "\u200duser1\ufeff", "us\u00ader1"]
#: Names that differ from "user1" only by an accent: other names (and no user), on every database.
OTHER_NAMES = ["\u00fcser1", "\u00dcser1", "\u00f9ser1", "u\u0308ser1"]


def test_spelling_variants_reach_the_same_account(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "user1")
    for variant in SAME_NAME:
        response = client.post("/api/auth/login", json={"username": variant, "password": PASSWORD})
        assert response.status_code == 200, (variant, response.text)
        assert response.json()["username"] == "user1"
    for other in OTHER_NAMES:
        assert login(client, other) == 401, other


def test_a_locked_user_stays_locked_under_every_spelling(backend: Backend) -> None:
    settings = backend.settings(login_max_failures=3, login_window=60, login_address_max_failures=1000)
    add_user(settings, "user1")
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert login(client, "user1", "wrong") == 401
        for variant in ["user1", *SAME_NAME]:
            assert login(client, variant) == 429, variant
        for other in OTHER_NAMES:  # not user1: no account, so never a login as user1
            assert login(client, other) == 401, other


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_uniqueness_uses_the_canonical_form(kind: str, request: pytest.FixtureRequest) -> None:
    from cpumon_backend.auth.services import UsernameTakenError  # noqa: PLC0415

    backend: Backend = request.getfixturevalue(f"{kind}_backend")
    settings = backend.settings()
    asyncio.run(_empty_users(settings))
    add_user(settings, "user1")
    for variant in SAME_NAME:
        with pytest.raises(UsernameTakenError):
            add_user(settings, variant)
    accented = ["\u00fcser1", "\u00f9ser1"]
    for other in accented:  # accents make another user, even where the collation folds them
        add_user(settings, other, f"{other}-password")
    with pytest.raises(UsernameTakenError):
        add_user(settings, "\u00dcser1")  # üser1 in capitals
    with TestClient(create_app(settings)) as client:
        for other in accented:
            response = client.post("/api/auth/login", json={"username": other, "password": f"{other}-password"})
            assert response.status_code == 200, response.text
            assert response.json()["username"] == other
        response = client.post("/api/auth/login", json={"username": "U\u0308SER1", "password": "\u00fcser1-password"})
        assert response.json()["username"] == "\u00fcser1"
        assert login(client, "\u00fcser1") == 401  # user1's password is not üser1's


async def _empty_users(settings: ServerSettings) -> None:
    from sqlalchemy import delete  # noqa: PLC0415

    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(User))
    finally:
        await engine.dispose()


# -- per-username and per-address limits ------------------------------------------------------


def test_one_users_typos_do_not_lock_out_their_neighbours(backend: Backend) -> None:
    settings = backend.settings(login_max_failures=3, login_address_max_failures=8, login_window=60)
    for name in ("typist", "colleague", "third"):
        add_user(settings, name)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert login(client, "typist", "wrong") == 401
        assert login(client, "typist") == 429  # the username is locked ...
        assert login(client, "colleague") == 200  # ... not everyone behind the same address
        client.cookies.clear()
        for i in range(5):  # the address limit is looser, but it is there
            assert login(client, f"guess{i}", "wrong") == 401
        assert login(client, "third") == 429


# -- bcrypt cost ------------------------------------------------------------------------------


def cost_of(password_hash: str) -> int:
    return int(password_hash.split("$")[2])


def test_login_rehashes_a_password_made_at_another_cost(backend: Backend) -> None:
    settings = backend.settings(bcrypt_rounds=4)
    add_user(backend.settings(bcrypt_rounds=6), "old")
    assert cost_of(stored_hash(settings, "old")) == 6
    with TestClient(create_app(settings)) as client:
        assert login(client, "old", "wrong") == 401
        assert cost_of(stored_hash(settings, "old")) == 6  # only a proven password is rehashed
        assert login(client, "old") == 200
    assert cost_of(stored_hash(settings, "old")) == 4
    with TestClient(create_app(settings)) as client:
        assert login(client, "old") == 200


def test_an_unknown_user_costs_what_the_stored_users_cost(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash checked for an unknown name has the cost of the users' hashes, not the server's setting."""

    checked: list[int] = []
    real_checkpw = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(cost_of(hashed.decode()))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    settings = backend.settings(bcrypt_rounds=4, login_max_failures=100)
    for name in ("a", "b"):
        add_user(backend.settings(bcrypt_rounds=6), name)
    with TestClient(create_app(settings)) as client:
        assert login(client, "a", "wrong") == 401
        assert login(client, "nobody", "wrong") == 401
    assert checked == [6, 6]


# -- cookies, logout, content types ------------------------------------------------------------

#: The name of the throttle row that cpumon 0.x kept for "ghost" in the sessions table, in other cases.
GHOST_KEY = "user:" + hashlib.sha256(b"ghost").hexdigest()[:40]
ODD_COOKIES = [
    f"THROTTLE:{GHOST_KEY}",
    f"Throttle:{GHOST_KEY}",
    f"throttle:{GHOST_KEY}",
    "Throttle:ip:" + hashlib.sha256(b"testclient").hexdigest()[:40],
    "f" * 64,
    "F" * 64,
    "x" * 300,
    "null",
    "",
    "%00%ff",
    "\\u0000",
    '"quoted"',
]


@pytest.mark.parametrize("cookie", ODD_COOKIES)
def test_any_cookie_value_is_401_never_500(backend: Backend, cookie: str) -> None:
    settings = backend.settings(login_max_failures=5)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert login(client, "ghost", "wrong") == 401  # a throttle counter exists now
        response = client.get("/api/auth/me", headers={"cookie": f"{COOKIE}={cookie}"})
        assert response.status_code == 401, response.text


def test_logout_expires_the_cookie(client: Client, settings: ServerSettings) -> None:
    add_user(settings, "alice")
    assert login(client, "alice") == 200
    response = client.post("/api/auth/logout")
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert cookie.startswith((f'{COOKIE}=""', f"{COOKIE}=;")), cookie
    assert "Max-Age=0" in cookie
    assert COOKIE not in client.cookies


BODY_ROUTES = [
    ("/api/auth/login", {"username": "alice", "password": PASSWORD}),
    ("/api/test-runs", {"name": "x"}),
    ("/api/test-runs/{run}/cpu-usage", {"cpu_percent": 1.0}),
    ("/api/test-runs/{run}/finish", {}),
]
NOT_JSON = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json", None]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_json_bodies_need_the_json_content_type(client: Client, settings: ServerSettings, content_type: str) -> None:
    import json  # noqa: PLC0415

    add_user(settings, "alice")
    assert login(client, "alice") == 200
    run_id = client.post("/api/test-runs", json={"name": "r"}).json()["id"]
    for path, body in BODY_ROUTES:
        headers = {} if content_type is None else {"content-type": content_type}
        url = path.replace("{run}", run_id)
        response = client.post(url, content=json.dumps(body).encode(), headers=headers)
        assert response.status_code == 415, (url, content_type, response.status_code, response.text)
        assert "application/json" in response.json()["detail"]
    # Still accepted: application/json, with a charset too.
    response = client.post(
        f"/api/test-runs/{run_id}/cpu-usage",
        content=b'{"cpu_percent": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert client.post(f"/api/test-runs/{run_id}/finish").status_code == 200  # no body: no content type needed
