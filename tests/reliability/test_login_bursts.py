"""Bursts of logins against the real server: the throttle holds whatever the concurrency.

Every password check holds a place in the shared store (the database or Redis) before it runs, and
a wrong password stays counted for the window; so of any burst of wrong passwords exactly
CPUMON_LOGIN_MAX_FAILURES per username, and CPUMON_LOGIN_ADDRESS_MAX_FAILURES per address, reach
bcrypt (401), and the rest are 429. A correct password gives its place back: 60 correct logins at
once from one address all get 200, with the address limit at 20, and leave its whole budget for
failures. Checked on SQLite, on MariaDB with 2 workers, and on MariaDB + Redis with 2 workers.
First failures arriving together on MariaDB are each counted once and never answer 503 (no
deadlock on the counters).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.backend.conftest import add_user
from tests.conftest import Backend

from .conftest import PASSWORD, USERNAME, Database, Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]  # 2-worker servers start slowly on busy cores

LIMIT = 5
ADDRESS_LIMIT = 20


def burst(server: Server, attempts: list[tuple[str, str]]) -> Counter[int]:
    """Send every (username, password) login at once, one connection each; count the statuses."""
    barrier = threading.Barrier(len(attempts))

    def attempt(credentials: tuple[str, str]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("GET", "/health")  # connected before the barrier, so the logins leave together
            connection.getresponse().read()
            barrier.wait(timeout=60)
            username, password = credentials
            body = json.dumps({"username": username, "password": password})
            connection.request("POST", "/api/auth/login", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return Counter(pool.map(attempt, attempts))


@pytest.fixture(params=["sqlite", "mysql-2-workers", "mysql-redis-2-workers"])
def database(request: pytest.FixtureRequest) -> tuple[Database, str]:
    kind = request.param
    name = {"sqlite": "sqlite_db", "mysql-2-workers": "mysql_db", "mysql-redis-2-workers": "mysql_redis_db"}[kind]
    return request.getfixturevalue(name), "1" if kind == "sqlite" else "2"


def test_a_burst_checks_at_most_the_limit(database: tuple[Database, str], start_server: Callable[..., Server]) -> None:
    db, workers = database
    server = start_server(
        db.server_settings(
            CPUMON_LOGIN_MAX_FAILURES=str(LIMIT),
            CPUMON_LOGIN_ADDRESS_MAX_FAILURES=str(ADDRESS_LIMIT),
            CPUMON_WORKERS=workers,
        )
    )
    # 30 wrong passwords for one user at once: exactly the username's limit is checked.
    statuses = burst(server, [(USERNAME, f"wrong-{i}") for i in range(30)])
    assert statuses == Counter({401: LIMIT, 429: 30 - LIMIT}), statuses
    # 30 wrong passwords for 30 other names at once: the address's limit holds over all of them.
    statuses = burst(server, [(f"guess-{i}", "wrong") for i in range(30)])
    left = ADDRESS_LIMIT - LIMIT
    assert statuses == Counter({401: left, 429: 30 - left}), statuses
    # Against full windows nothing is checked, not even the right password in the burst.
    statuses = burst(server, [(USERNAME, f"wrong-{i}") for i in range(30)] + [(USERNAME, PASSWORD)])
    assert statuses == Counter({429: 31}), statuses
    assert "Traceback" not in server.log()


def test_correct_logins_at_once_all_succeed_and_use_up_no_limit(
    database: tuple[Database, str], start_server: Callable[..., Server]
) -> None:
    """100 agents behind one NAT log in together: none is refused, and the address's budget stays whole."""
    db, workers = database
    users = [f"agent-{i}" for i in range(6)]
    for name in users:
        add_user(Backend(db.kind, db.url).settings(), name, PASSWORD)
    server = start_server(
        db.server_settings(
            CPUMON_LOGIN_MAX_FAILURES=str(LIMIT),
            CPUMON_LOGIN_ADDRESS_MAX_FAILURES=str(ADDRESS_LIMIT),
            CPUMON_WORKERS=workers,
        )
    )
    together = 3 * ADDRESS_LIMIT  # 10 logins of each of 6 users: above both limits
    statuses = burst(server, [(users[i % len(users)], PASSWORD) for i in range(together)])
    assert statuses == Counter({200: together}), statuses
    # Every place was given back: the address's failures may still reach exactly its limit.
    statuses = burst(server, [(f"guess-{i}", "wrong") for i in range(ADDRESS_LIMIT + 5)])
    assert statuses == Counter({401: ADDRESS_LIMIT, 429: 5}), statuses
    assert "Traceback" not in server.log()


@pytest.mark.mysql
def test_first_failures_together_are_each_counted_once(mysql_db: Database, start_server: Callable[..., Server]) -> None:
    together = 30
    server = start_server(
        mysql_db.server_settings(
            CPUMON_LOGIN_MAX_FAILURES=str(LIMIT), CPUMON_LOGIN_ADDRESS_MAX_FAILURES=str(together), CPUMON_WORKERS="2"
        )
    )
    statuses = burst(server, [(f"new-user-{i}", "wrong") for i in range(together)])
    assert statuses == Counter({401: together}), statuses  # no 503: the counters never deadlock
    # Every failure was counted against the address: its limit is reached exactly.
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
        assert response.status_code == 429, response.text
