"""Errors mapped once, by the driver's error number: conflicts retried, busy vs unavailable vs a bug.

The pure parts (classification, the retry helper with a fake sleep) need no database. The injected
faults run through the real app on SQLite and MariaDB: a cursor hook makes chosen statements fail
with the driver's own exception type and a MySQL error number (on SQLite, an sqlite3 error carrying
that number), as a Galera certification conflict or a node that is not ready would.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asyncmy.errors import OperationalError as AsyncmyOperationalError
from litestar import Litestar
from litestar.testing import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from cpumon_backend.http.errors import BUSY, STORE_UNAVAILABLE, UNAVAILABLE, Failure, classify, driver_error_number
from cpumon_backend.runs.queries import RunQueryService
from cpumon_backend.storage.retry import RetryPolicy, retry_conflicts
from tests.backend.conftest import samples, start_run

Client = TestClient[Litestar]


def mysql_error(number: int, message: str = "injected") -> DBAPIError:
    return OperationalError("SELECT 1", {}, AsyncmyOperationalError(number, message))


def sqlite_error(code: int) -> DBAPIError:
    orig = sqlite3.OperationalError("injected")
    orig.sqlite_errorcode = code  # set by the sqlite3 module on real errors
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (mysql_error(1213, "Deadlock found when trying to get lock"), Failure.BUSY),
        (mysql_error(1205), Failure.BUSY),
        (PoolTimeoutError("QueuePool limit reached"), Failure.BUSY),
        (sqlite_error(5), Failure.BUSY),
        (sqlite_error(5 | (3 << 8)), Failure.BUSY),  # an extended code: SQLITE_BUSY_TIMEOUT
        (mysql_error(1047, "WSREP has not yet prepared node for application use"), Failure.UNAVAILABLE),
        (mysql_error(2003, "Can't connect"), Failure.UNAVAILABLE),
        (mysql_error(2013), Failure.UNAVAILABLE),
        (sqlite_error(14), Failure.UNAVAILABLE),
        (RedisConnectionError("refused"), Failure.STORE_UNAVAILABLE),
        # Bugs, not outages: answered 500 and logged.
        (mysql_error(1064, "You have an error in your SQL syntax; server has gone away"), None),
        (sqlite_error(1), None),
        (OSError("No space left on device, lost connection"), None),
        (ConnectionRefusedError("not from the database"), None),
        (ValueError("Deadlock found"), None),
    ],
)
def test_errors_are_classified_by_number_not_by_message(exc: BaseException, expected: Failure | None) -> None:
    assert classify(exc) is expected


def test_an_advanced_alchemy_wrapper_is_seen_through() -> None:
    from advanced_alchemy.exceptions import RepositoryError  # noqa: PLC0415

    wrapped = RepositoryError(detail="An exception occurred")
    wrapped.__cause__ = mysql_error(1213)  # what `raise RepositoryError(...) from exc` sets
    assert driver_error_number(wrapped) == 1213
    assert classify(wrapped) is Failure.BUSY


@dataclass
class Flaky:
    """A unit of work that fails with the given errors first, then succeeds."""

    errors: list[BaseException]
    calls: int = 0
    resets: int = 0
    delays: list[float] = field(default_factory=list)

    async def rollback(self) -> None:
        self.resets += 1

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def flaky_method(flaky: Flaky, policy: RetryPolicy) -> Callable[[], Any]:
    async def work(self: Flaky) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    decorated = retry_conflicts(Flaky.rollback, policy=policy, sleep=flaky.sleep)(work)
    return lambda: decorated(flaky)


async def test_conflicts_are_retried_after_a_rollback_with_jittered_waits(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky([mysql_error(1213), mysql_error(1205), mysql_error(1213)])
    policy = RetryPolicy(attempts=5, first_delay_s=0.01, max_delay_s=0.03)
    with caplog.at_level(logging.INFO, "cpumon.server"):
        assert await flaky_method(flaky, policy)() == "done"
    assert (flaky.calls, flaky.resets) == (4, 3)
    assert all(0 <= d <= bound for d, bound in zip(flaky.delays, [0.02, 0.03, 0.03], strict=True))
    assert [r.getMessage().count("error 1213") for r in caplog.records] == [1, 0, 1]
    assert "error 1205" in caplog.records[1].getMessage()


async def test_retries_stop_after_the_last_attempt() -> None:
    flaky = Flaky([mysql_error(1213) for _ in range(10)])
    with pytest.raises(DBAPIError) as raised:
        await flaky_method(flaky, RetryPolicy(attempts=3))()
    assert driver_error_number(raised.value) == 1213
    assert (flaky.calls, flaky.resets) == (3, 2)


@pytest.mark.parametrize("error", [mysql_error(1047), mysql_error(1062), sqlite_error(5), OSError("disk")])
async def test_other_errors_are_not_retried(error: BaseException) -> None:
    flaky = Flaky([error])
    with pytest.raises(type(error)):
        await flaky_method(flaky, RetryPolicy())()
    assert (flaky.calls, flaky.resets) == (1, 0)


async def test_lock_wait_timeouts_can_be_left_alone() -> None:
    flaky = Flaky([mysql_error(1205)])
    with pytest.raises(DBAPIError):
        await flaky_method(flaky, RetryPolicy(lock_wait_timeouts=False))()
    assert flaky.calls == 1


def test_full_jitter_waits_grow_to_a_bound() -> None:
    policy = RetryPolicy(first_delay_s=0.005, max_delay_s=0.2)
    assert [policy.delay(n, draw=lambda: 1.0) for n in (1, 2, 3, 6, 10)] == [0.01, 0.02, 0.04, 0.2, 0.2]
    assert policy.delay(3, draw=lambda: 0.0) == 0.0


# --- faults injected under the real app -------------------------------------------------------


@dataclass
class Injector:
    """Fails the next `times` statements that start with `prefix` with driver error `number`."""

    prefix: str = ""
    number: int = 0
    times: int = 0
    raised: int = 0

    def fail(self, prefix: str, number: int, times: int) -> None:
        self.prefix, self.number, self.times, self.raised = prefix, number, times, 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.raised >= self.times or not statement.lstrip().upper().startswith(self.prefix):
            return
        self.raised += 1
        # The driver's own DB-API error type (so SQLAlchemy wraps it as it would a real one), carrying the
        # MySQL number in args[0] as MySQL drivers do; on SQLite the same number in sqlite3's error.
        raise conn.dialect.loaded_dbapi.OperationalError(self.number, f"injected error {self.number}")


@pytest.fixture
def inject(backend: Any) -> Iterator[Injector]:
    injector = Injector()
    event.listen(Engine, "before_cursor_execute", injector)
    try:
        yield injector
    finally:
        event.remove(Engine, "before_cursor_execute", injector)


def assert_503(response: Any, detail: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"status_code": 503, "detail": detail}
    assert response.headers["retry-after"] == "5"


def test_a_conflicting_ingest_is_retried_and_stored_once(
    alice: Client, inject: Injector, caplog: pytest.LogCaptureFixture
) -> None:
    run = start_run(alice)
    inject.fail("INSERT", 1213, times=2)
    with caplog.at_level(logging.INFO, "cpumon.server"):
        response = alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(10))
    assert response.status_code == 201, response.text
    assert response.json() == {"inserted": 10, "duplicates": 0}
    assert inject.raised == 2
    assert sum("write conflict (error 1213)" in r.getMessage() for r in caplog.records) == 2
    assert len(alice.get(f"/api/test-runs/{run['id']}/cpu-usage").json()["items"]) == 10


def test_start_and_finish_are_retried_too(alice: Client, inject: Injector) -> None:
    inject.fail("INSERT", 1213, times=1)
    run = start_run(alice)
    assert inject.raised == 1
    inject.fail("UPDATE", 1205, times=2)
    response = alice.post(f"/api/test-runs/{run['id']}/finish", json={})
    assert response.status_code == 200, response.text
    assert inject.raised == 2
    assert alice.get(f"/api/test-runs/{run['id']}").json()["ended_at"] == response.json()["ended_at"]


def test_endless_conflicts_answer_server_busy(alice: Client, inject: Injector) -> None:
    run = start_run(alice)
    inject.fail("INSERT", 1213, times=100)
    assert_503(alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(3)), BUSY)
    inject.fail("", 0, times=0)
    assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(3)).status_code == 201


def test_a_node_that_is_not_ready_is_503_and_its_connection_is_dropped(alice: Client, inject: Injector) -> None:
    run = start_run(alice)
    inject.fail("SELECT", 1047, times=1)
    assert_503(alice.get(f"/api/test-runs/{run['id']}"), UNAVAILABLE)
    assert alice.get(f"/api/test-runs/{run['id']}").status_code == 200  # the next request is served again


def test_pool_exhaustion_is_server_busy(alice: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    async def exhausted(*_: object, **__: object) -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached")

    monkeypatch.setattr(RunQueryService, "list_page", exhausted)
    assert_503(alice.get("/api/test-runs"), BUSY)


def test_an_unexpected_oserror_is_a_logged_500(
    alice: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "/nonexistent/cpumon-bug")

    monkeypatch.setattr(RunQueryService, "list_page", broken)
    with caplog.at_level(logging.ERROR, "cpumon.server"):
        response = alice.get("/api/test-runs")
    assert response.status_code == 500
    assert response.json() == {"status_code": 500, "detail": "Internal Server Error"}
    assert "retry-after" not in response.headers
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], FileNotFoundError)]
    assert logged, "the 500 must be logged with its cause"
    assert "GET /api/test-runs" in logged[0].getMessage()


def test_a_session_store_outage_says_so(alice: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(*_: object, **__: object) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(RunQueryService, "list_page", down)
    assert_503(alice.get("/api/test-runs"), STORE_UNAVAILABLE)
