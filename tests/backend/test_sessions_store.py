"""The session stores: hashed ids, sessions that end with their user, ids never reused, Redis's pool.

On every backend (SQLite, MariaDB, SQLite with Redis sessions) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cpumon_backend.app import create_app
from cpumon_backend.auth.storage import redis_client
from cpumon_backend.http.errors import Failure, classify
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, add_user, start_run
from tests.backend.test_schema import run_sync
from tests.conftest import REDIS_URL, Backend, _require

Client = TestClient[Litestar]
COOKIE = "cpumon_session"
PROTECTED = (("GET", "/api/auth/me"), ("GET", "/api/test-runs"), ("POST", "/api/test-runs"))


def sql(settings: ServerSettings, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Run one statement on the database as an operator would (a connection of its own, committed)."""

    def run(connection: Connection) -> list[tuple[object, ...]]:
        result = connection.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []

    rows: list[tuple[object, ...]] = run_sync(settings, run)
    return rows


Login = Callable[[str], Client]


@pytest.fixture
def logged_in(settings: ServerSettings) -> Iterator[Login]:
    """Factory: a client logged in as this (existing) user, on an app of its own (as a worker would be)."""
    made: list[Client] = []

    def login(username: str) -> Client:
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        made.append(client)
        assert client.post("/api/auth/login", json={"username": username, "password": PASSWORD}).status_code == 200
        return client

    yield login
    for client in made:
        client.__exit__(None, None, None)


def with_cookie(client: Client, session_id: str, method: str, path: str) -> int:
    client.cookies.clear()
    json = {"name": "x"} if method == "POST" else None
    return client.request(method, path, json=json, headers={"cookie": f"{COOKIE}={session_id}"}).status_code


def stored_values(settings: ServerSettings) -> list[str]:
    """Every value the session store holds that could pass for a session id: keys, index members, rows."""
    if settings.session_redis_url is None:
        return [str(row[0]) for row in sql(settings, "SELECT session_id FROM sessions")]
    with redis.Redis.from_url(settings.session_redis_url.get_secret_value(), decode_responses=True) as store:
        keys = list(store.scan_iter(match=f"{settings.session_redis_prefix}:*"))
        members = [m for key in keys if store.type(key) == "zset" for m in store.zrange(key, 0, -1)]
    return [key.rsplit(":", 1)[1] for key in keys] + members


def test_the_store_holds_hashes_that_do_not_open_a_session(settings: ServerSettings, logged_in: Login) -> None:
    add_user(settings, "alice")
    alice = logged_in("alice")
    session_id = alice.cookies[COOKIE]
    stored = stored_values(settings)
    assert stored  # the row, or the key (and its user's index)
    assert session_id not in stored
    assert set(stored) <= {hashlib.sha256(session_id.encode()).hexdigest()} | {"1", str(_user_id(settings, "alice"))}
    for value in stored:
        assert with_cookie(alice, value, "GET", "/api/auth/me") == 401
    assert with_cookie(alice, session_id, "GET", "/api/auth/me") == 200


def _user_id(settings: ServerSettings, username: str) -> int:
    rows = sql(settings, "SELECT id FROM users WHERE username = :name", name=username)
    return int(str(rows[0][0]))


def test_a_session_whose_user_was_deleted_in_the_database_is_401(settings: ServerSettings, logged_in: Login) -> None:
    if settings.session_redis_url is not None:
        pytest.skip("Redis sessions are ended by `cpumon-server delete-user` (tests/backend/test_user_commands.py)")
    add_user(settings, "alice")
    alice = logged_in("alice")
    session_id = alice.cookies[COOKIE]
    start_run(alice)
    sql(settings, "DELETE FROM users WHERE username = 'alice'")
    for method, path in PROTECTED:
        assert with_cookie(alice, session_id, method, path) == 401, (method, path)


def test_a_session_whose_user_was_deleted_without_cascade_is_401(settings: ServerSettings, logged_in: Login) -> None:
    """sqlite3's shell leaves foreign keys off: the session row outlives its user, and still opens nothing."""
    if settings.database_dialect != "sqlite" or settings.session_redis_url is not None:
        pytest.skip("SQLite's own foreign-key switch")
    add_user(settings, "alice")
    alice = logged_in("alice")
    session_id = alice.cookies[COOKIE]
    path = settings.sqlite_path()
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as shell, shell:
        shell.execute("DELETE FROM users WHERE username = 'alice'")
    assert sql(settings, "SELECT count(*) FROM sessions") == [(1,)]
    for method, route in PROTECTED:
        assert with_cookie(alice, session_id, method, route) == 401, (method, route)


def test_a_session_of_a_user_disabled_in_the_database_is_401(settings: ServerSettings, logged_in: Login) -> None:
    if settings.session_redis_url is not None:
        pytest.skip("Redis sessions are ended by `cpumon-server disable-user` (tests/backend/test_user_commands.py)")
    add_user(settings, "alice")
    alice = logged_in("alice")
    sql(settings, "UPDATE users SET disabled_at = created_at WHERE username = 'alice'")
    assert alice.get("/api/auth/me").status_code == 401


def test_a_new_user_never_gets_a_deleted_users_id(settings: ServerSettings, logged_in: Login) -> None:
    add_user(settings, "first")
    add_user(settings, "alice")
    alice = logged_in("alice")
    session_id = alice.cookies[COOKIE]
    deleted_id = _user_id(settings, "alice")
    sql(settings, "DELETE FROM users WHERE username = 'alice'")  # the highest id: SQLite would hand it out again
    add_user(settings, "bob")
    assert _user_id(settings, "bob") > deleted_id
    bob = logged_in("bob")
    start_run(bob, name="bob's")
    # Alice's cookie (in Redis it outlives her row: only the user commands end it) never lists Bob's runs.
    alice.cookies.clear()
    answer = alice.get("/api/test-runs", headers={"cookie": f"{COOKIE}={session_id}"})
    assert answer.status_code == 401 or answer.json()["items"] == [], answer.text


def test_the_sqlite_users_table_is_autoincrement(sqlite_backend: Backend) -> None:
    [(ddl,)] = sql(sqlite_backend.settings(), "SELECT sql FROM sqlite_master WHERE name = 'users'")
    assert "AUTOINCREMENT" in str(ddl)


# -- Redis's connection pool ----------------------------------------------------------------------


@pytest.fixture
def redis_settings(sqlite_backend: Backend) -> ServerSettings:
    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    return sqlite_backend.settings(
        session_redis_url=REDIS_URL, session_redis_pool_size=1, session_redis_pool_timeout=0.5
    )


def test_a_burst_beyond_the_redis_pool_waits_for_a_connection(redis_settings: ServerSettings) -> None:
    async def burst() -> list[object]:
        client = redis_client(redis_settings, redis_settings.session_redis_url)  # type: ignore[arg-type]
        try:
            return await asyncio.gather(*(client.get(f"{redis_settings.session_redis_prefix}:x") for _ in range(50)))
        finally:
            await client.aclose()

    assert asyncio.run(burst()) == [None] * 50  # one connection served all 50; none failed


def test_the_wait_for_a_redis_connection_is_bounded_and_answers_503(redis_settings: ServerSettings) -> None:
    async def wait_while_the_only_connection_is_held() -> tuple[BaseException, float]:
        client = redis_client(redis_settings, redis_settings.session_redis_url)  # type: ignore[arg-type]
        held = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        started = time.monotonic()
        try:
            await client.get("x")
        except Exception as exc:
            return exc, time.monotonic() - started
        finally:
            await client.connection_pool.release(held)
            await client.aclose()
        raise AssertionError("the pool had a second connection")

    error, waited = asyncio.run(wait_while_the_only_connection_is_held())
    assert 0.5 <= waited < 5
    assert classify(error) is Failure.STORE_UNAVAILABLE  # 503 with Retry-After


def test_a_users_redis_index_holds_only_live_sessions_and_expires_with_them(redis_settings: ServerSettings) -> None:
    from cpumon_backend.auth.sessions import RedisSessionStore  # noqa: PLC0415
    from tests.backend.conftest import FakeClock  # noqa: PLC0415

    clock = FakeClock()
    prefix = f"{redis_settings.session_redis_prefix}:"
    index = f"{prefix}user-sessions:7"

    async def logins() -> tuple[int, int, int, int]:
        client = redis_client(redis_settings, redis_settings.session_redis_url)  # type: ignore[arg-type]
        store = RedisSessionStore(client, prefix, clock)
        try:
            for number in range(3):
                await store.put(f"{number:064x}", b"{}", 10, 7, None)  # type: ignore[arg-type]
            clock.advance(11)  # those three are over (in the index's terms)
            await store.put(f"{3:064x}", b"{}", 10, 7, None)  # type: ignore[arg-type]
            members, ttl = int(await client.zcard(index)), int(await client.pttl(index))
            ended = await store.end_sessions_of(7)
            return members, ttl, ended, int(await client.exists(index))
        finally:
            await client.aclose()

    members, ttl, ended, left = asyncio.run(logins())
    assert members == 1  # pruned at the last login
    assert 0 < ttl <= 10_000  # and gone with its last session
    assert ended == 1
    assert left == 0
