"""Security matrix against the real server process (beside tests/backend's in-process auth matrix).

- no user enumeration: an unknown user and a wrong password get the same status and body and take
  about the same time, because bcrypt runs for unknown users too (measured at a real cost);
- the session cookie as uvicorn sends it: HttpOnly, SameSite=Lax, Secure when configured, a
  Max-Age of the session lifetime, a new id at login (a planted id is never adopted), dead after
  logout and after its lifetime (Redis sessions);
- SQL-injection strings in every string field (username, password, run name, hostname) are stored
  or compared verbatim and harm nothing, on MariaDB;
- bodies over the limit are 413 even when streamed without a Content-Length; batches over the cap
  are refused whole;
- no log line of a full login / ingest / logout cycle with failures holds a password or a session id.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.backend.conftest import add_user
from tests.conftest import Backend
from tests.e2e.conftest import wait_for

from .conftest import PASSWORD, USERNAME, Database, Server

pytestmark = pytest.mark.e2e

COOKIE = "cpumon_session"


JSON = {"content-type": "application/json"}


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


def login(http: httpx.Client, username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/auth/login", json={"username": username, "password": password})


# -- user enumeration -------------------------------------------------------------------------


def test_unknown_user_and_wrong_password_look_the_same(
    sqlite_db: Database, start_server: Callable[..., Server]
) -> None:
    rounds = 10  # a real cost (~50 ms): were bcrypt skipped for unknown users, the gap would show
    add_user(Backend("sqlite", sqlite_db.url).settings(bcrypt_rounds=rounds), "timed", "timed-password")
    server = start_server(sqlite_db.server_settings(CPUMON_BCRYPT_ROUNDS=str(rounds), CPUMON_LOGIN_MAX_FAILURES="1000"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # The known user's password check, for the scale of a bcrypt check on this machine.
        assert login(http, "timed", "timed-password").status_code == 200
        http.cookies.clear()
        unknown: list[float] = []
        wrong: list[float] = []
        bodies = set()
        for i in range(12):  # interleaved, so a busy moment of the machine hits both
            for username, times in (("nobody-here", unknown), ("timed", wrong)):
                started = time.perf_counter()
                response = login(http, username, f"not-it-{i}")
                times.append(time.perf_counter() - started)
                assert response.status_code == 401
                assert "set-cookie" not in response.headers
                bodies.add(response.content)
    assert len(bodies) == 1, bodies  # one body for both failures
    unknown_s, wrong_s = statistics.median(unknown), statistics.median(wrong)
    print(f"\nlogin failure medians: unknown user {unknown_s * 1000:.1f} ms, wrong password {wrong_s * 1000:.1f} ms")
    assert unknown_s > 0.5 * wrong_s, "an unknown user answers much faster: bcrypt is skipped for it"
    assert abs(unknown_s - wrong_s) < 0.5 * wrong_s


# -- the session cookie -----------------------------------------------------------------------


@pytest.fixture
def redis_sqlite_db(sqlite_db: Database) -> Database:
    from tests.conftest import REDIS_URL, _require  # noqa: PLC0415

    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    return Database(sqlite_db.kind, sqlite_db.url, redis_url=REDIS_URL)


def test_session_cookie_flags_rotation_logout_and_expiry(
    redis_sqlite_db: Database, start_server: Callable[..., Server]
) -> None:
    lifetime = 3
    server = start_server(
        redis_sqlite_db.server_settings(CPUMON_SESSION_COOKIE_SECURE="true", CPUMON_SESSION_LIFETIME=str(lifetime))
    )

    # The cookie is Secure, so an HTTP client would not send it back over plain HTTP: each request
    # below names the cookie it carries.
    def call(method: str, path: str, session_id: str | None, **kwargs: object) -> httpx.Response:
        cookies = {COOKIE: session_id} if session_id else None
        with httpx.Client(base_url=server.url, timeout=10, cookies=cookies) as http:
            return http.request(method, path, **kwargs)  # type: ignore[arg-type]

    credentials = {"username": USERNAME, "password": PASSWORD}
    planted = "f" * 43
    response = call("POST", "/api/auth/login", planted, json=credentials)
    assert response.status_code == 200
    cookie = set_cookie(response)[COOKIE]
    raw = response.headers["set-cookie"].lower()
    assert "httponly" in raw
    assert "samesite=lax" in raw
    assert "secure" in raw
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == lifetime
    first_id = cookie.value
    assert first_id != planted  # a planted id is never adopted
    assert len(first_id) >= 32
    assert call("GET", "/api/auth/me", planted).status_code == 401

    # A second login with the first session rotates the id, and the old id is dead.
    second_id = set_cookie(call("POST", "/api/auth/login", first_id, json=credentials))[COOKIE].value
    assert second_id != first_id
    assert call("GET", "/api/auth/me", first_id).status_code == 401
    assert call("GET", "/api/auth/me", second_id).status_code == 200

    # Logout: the server forgets the session; replaying the cookie is 401.
    out = call("POST", "/api/auth/logout", second_id)
    assert out.status_code == 204
    assert set_cookie(out)[COOKIE].value in ("", "null")
    assert call("GET", "/api/auth/me", second_id).status_code == 401

    # Expiry: a session dies after its lifetime, whatever the client does with the cookie.
    third_id = set_cookie(call("POST", "/api/auth/login", None, json=credentials))[COOKIE].value
    assert call("GET", "/api/auth/me", third_id).status_code == 200
    wait_for(
        lambda: call("GET", "/api/auth/me", third_id).status_code == 401,
        within=lifetime + 10,
        what="the session to expire",
        every=0.25,
    )


# -- hostile strings, oversized bodies, batches over the cap ----------------------------------

HOSTILE_USERNAMES = ["admin'--", "x'OR'1'='1", "';DROP/**/TABLE/**/users;--", 'a"\\`);DELETE/**/FROM/**/sessions;#']
HOSTILE_TEXT = [
    "'; DROP TABLE cpu_usage; --",
    "1' OR '1'='1' /*",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "\\'; SELECT SLEEP(5); --",
    "%_\\%",
    "名前 🙂 \u202e",
]


@pytest.fixture
def hostile_server(mysql_db: Database, start_server: Callable[..., Server]) -> Server:
    for name in HOSTILE_USERNAMES:
        add_user(Backend("mysql", mysql_db.url).settings(), name, f"{name} {HOSTILE_TEXT[0]}")
    return start_server(mysql_db.server_settings(CPUMON_LOGIN_MAX_FAILURES="1000", CPUMON_MAX_BODY_BYTES="65536"))


@pytest.mark.mysql
def test_injection_strings_are_data_in_every_string_field(hostile_server: Server) -> None:
    with httpx.Client(base_url=hostile_server.url, timeout=15) as http:
        for name in HOSTILE_USERNAMES:
            for password in HOSTILE_TEXT:  # as a password they match nothing
                assert login(http, name, password).status_code == 401
            assert login(http, USERNAME, name).status_code == 401
            response = login(http, name, f"{name} {HOSTILE_TEXT[0]}")
            assert response.status_code == 200, response.text
            assert response.json()["username"] == name
            http.cookies.clear()
        assert login(http).status_code == 200
        ids = []
        for text in HOSTILE_TEXT:
            created = http.post("/api/test-runs", json={"name": text, "hostname": text})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        for run_id, text in zip(ids, HOSTILE_TEXT, strict=True):
            run = http.get(f"/api/test-runs/{run_id}").json()
            assert (run["name"], run["hostname"]) == (text, text)
        listing = http.get("/api/test-runs", params={"limit": 500}).json()
        assert listing["total"] == len(HOSTILE_TEXT)  # nothing deleted, nothing leaked in
        # Every table is still there and holds what it should.
        for run_id in ids:
            stored = http.post(f"/api/test-runs/{run_id}/cpu-usage", json=[{"seq": 0, "cpu_percent": 1}])
            assert stored.status_code == 201
        assert http.get("/api/auth/me").status_code == 200
    assert "Traceback" not in hostile_server.log()


@pytest.mark.mysql
def test_oversized_and_over_the_cap_bodies_are_refused_whole(hostile_server: Server) -> None:
    with httpx.Client(base_url=hostile_server.url, timeout=30) as http:
        assert login(http).status_code == 200
        run_id = http.post("/api/test-runs", json={}).json()["id"]
        url = f"/api/test-runs/{run_id}/cpu-usage"
        big = json.dumps([{"seq": i, "cpu_percent": 1.0} for i in range(4000)]).encode()
        assert len(big) > 65536
        declared = http.post(url, content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413, declared.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold on the stream
            for start in range(0, len(big), 4096):
                yield big[start : start + 4096]

        streamed = http.post(url, content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413, streamed.text

        assert http.get(f"/api/test-runs/{run_id}").json()["summary"]["sample_count"] == 0


def test_batch_over_the_cap_is_refused_whole(sqlite_db: Database, start_server: Callable[..., Server]) -> None:
    server = start_server(sqlite_db.server_settings())  # the default body limit admits 10,001 samples
    with contextlib.closing(server.client(timeout=60)) as http:
        run_id = http.post("/api/test-runs", json={}).json()["id"]
        url = f"/api/test-runs/{run_id}/cpu-usage"
        over = http.post(url, json=[{"seq": i, "cpu_percent": 1} for i in range(10_001)])
        assert over.status_code == 400
        assert "10000" in over.text.replace(",", "")
        assert http.get(f"/api/test-runs/{run_id}").json()["summary"]["sample_count"] == 0
        full = http.post(url, json=[{"seq": i, "cpu_percent": 1} for i in range(10_000)])
        assert full.json() == {"inserted": 10_000, "duplicates": 0}


# -- what the logs hold ---------------------------------------------------------------------


@pytest.mark.parametrize("level", ["info", "debug"])
def test_no_password_or_session_id_in_any_log_line(
    sqlite_db: Database, start_server: Callable[..., Server], level: str
) -> None:
    server = start_server(sqlite_db.server_settings(CPUMON_LOG_LEVEL=level, CPUMON_LOGIN_MAX_FAILURES="4"))
    secrets = {PASSWORD, "wrong-Secret-1x", "unknown-Secret-2y", PASSWORD[:-1], "Throttled-Secret-3z"}
    session_ids: set[str] = set()

    def seen(response: httpx.Response) -> httpx.Response:
        session_ids.update(m.value for m in set_cookie(response).values() if m.value not in ("", "null"))
        return response

    with httpx.Client(base_url=server.url, timeout=15) as http:
        planted = "0123456789abcdef0123456789abcdef-planted"
        session_ids.add(planted)
        http.cookies.set(COOKIE, planted)
        assert seen(login(http, "no-such-user", "unknown-Secret-2y")).status_code == 401
        assert seen(login(http, USERNAME, "wrong-Secret-1x")).status_code == 401
        assert seen(login(http, USERNAME, PASSWORD[:-1])).status_code == 401
        assert (
            seen(http.post("/api/auth/login", content=b'{"username": "x", "password": ', headers=JSON)).status_code
            == 400
        )
        http.cookies.clear()
        assert seen(login(http)).status_code == 200
        run_id = seen(http.post("/api/test-runs", json={"name": "logged"})).json()["id"]
        assert seen(http.post(f"/api/test-runs/{run_id}/cpu-usage", json=[{"seq": 0, "cpu_percent": 5}])).is_success
        assert seen(http.post(f"/api/test-runs/{run_id}/cpu-usage", json=[{"cpu_percent": 500}])).status_code == 400
        assert seen(http.get(f"/api/test-runs/{run_id}/cpu-usage.csv")).status_code == 200
        assert seen(http.get("/api/test-runs/00000000-0000-7000-8000-000000000000")).status_code == 404
        live = http.cookies.get(COOKIE)
        assert live
        session_ids.add(live)
        assert seen(http.post("/api/auth/logout")).status_code == 204
        with httpx.Client(base_url=server.url, timeout=15, cookies={COOKIE: live}) as replay:
            assert replay.get("/api/auth/me").status_code == 401
        statuses = [seen(login(http, "throttled-user", "Throttled-Secret-3z")).status_code for _ in range(5)]
        assert statuses[-1] == 429
    server.stop()  # flushes and closes the log

    log = server.log()
    assert '"POST /api/auth/login HTTP/1.1" 401' in log  # the access log was captured
    assert '"POST /api/auth/logout HTTP/1.1" 204' in log
    assert len(session_ids) >= 2  # the planted one and the one issued at login
    for line in log.splitlines():
        for secret in secrets:
            assert secret not in line, f"a password in the log: {line!r}"
        for session_id in session_ids:
            assert session_id not in line, f"a session id in the log: {line!r}"
            assert session_id[:16] not in line, f"part of a session id in the log: {line!r}"
