"""Ingest, finish and delete of one run at the same time, through a real server, on SQLite and MariaDB.

Each scenario sends many requests at once over separate connections and is repeated, because a race
shows only some of the time. What must hold every time:
- a finished run is complete: once a finish has answered, no sample is added to the run;
- every sample acknowledged as inserted is stored, and nothing else is;
- a delete during ingest answers 204 or 404 to everyone, never a 5xx, and leaves nothing behind;
- of concurrent finishes the first one wins, and every caller is answered with the stored end time;
- a finish whose end is before the run's start is refused (400) every time and never stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backend.conftest import add_user
from tests.conftest import MYSQL_URL, Backend, _require, drop_mysql_database, mysql_database_url

from .conftest import PASSWORD, USERNAME, Server, prepare

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("run-races")]  # one server per database, one worker

ROUNDS = 6
INGESTS = 16
BATCH = 20
BASE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@contextmanager
def fresh_server(kind: str, folder: Path, settings: dict[str, str], *users: str) -> Iterator[Server]:
    """A server over a new migrated database of `kind` with the test user (and `users`); dropped after."""
    drop = None
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'cpumon.db'}"
    else:
        _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
        url = drop = mysql_database_url(folder.name[:12].replace("-", "_"))
    database = prepare(kind, url)
    for user in users:
        add_user(Backend(kind, url).settings(), user, PASSWORD)
    server = Server(settings=database.server_settings(**settings), log_path=folder / "server.log")
    try:
        yield server.start()
    finally:
        server.stop()
        if drop is not None:
            drop_mysql_database(drop)


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per database for the module: each scenario makes its own runs, so they do not meet."""
    folder = tmp_path_factory.mktemp(f"races-{request.param}")
    with fresh_server(request.param, folder, {"CPUMON_DATABASE_POOL_SIZE": "20"}) as started:
        yield started


def batch(first_seq: int) -> list[dict[str, Any]]:
    return [
        {"seq": seq, "cpu_percent": 50.0, "recorded_at": (BASE + dt.timedelta(seconds=seq)).isoformat()}
        for seq in range(first_seq, first_seq + BATCH)
    ]


async def logged_in(server: Server) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=INGESTS + 8, max_keepalive_connections=INGESTS + 8)
    http = httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits)
    response = await http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return http


async def new_run(http: httpx.AsyncClient) -> str:
    response = await http.post("/api/test-runs", json={"name": "race", "started_at": BASE.isoformat()})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def sample_count(http: httpx.AsyncClient, run_id: str) -> int:
    response = await http.get(f"/api/test-runs/{run_id}")
    assert response.status_code == 200, response.text
    count: int = response.json()["summary"]["sample_count"]
    return count


def run_rounds(server: Server, scenario: Callable[[httpx.AsyncClient], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        http = await logged_in(server)
        try:
            for _ in range(ROUNDS):
                await scenario(http)
        finally:
            await http.aclose()

    asyncio.run(main())
    assert "Traceback" not in server.log(), server.log()[-3000:]


def test_no_sample_lands_after_a_finish_has_answered(server: Server) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        run_id = await new_run(http)
        count_at_finish: list[int] = []

        async def ingest(index: int) -> httpx.Response:
            return await http.post(f"/api/test-runs/{run_id}/cpu-usage", json=batch(index * BATCH))

        async def finish() -> httpx.Response:
            response = await http.post(f"/api/test-runs/{run_id}/finish")
            count_at_finish.append(await sample_count(http, run_id))
            return response

        half = INGESTS // 2
        answers = await asyncio.gather(*map(ingest, range(half)), finish(), *map(ingest, range(half, INGESTS)))
        finished = answers[half]
        ingests = answers[:half] + answers[half + 1 :]
        assert finished.status_code == 200, finished.text
        assert {r.status_code for r in ingests} <= {201, 409}, [(r.status_code, r.text) for r in ingests]
        acknowledged = sum(r.json()["inserted"] for r in ingests if r.status_code == 201)
        stored = await sample_count(http, run_id)
        assert stored == acknowledged, "an acknowledged sample is missing, or an unacknowledged one stored"
        assert stored == count_at_finish[0], f"{stored - count_at_finish[0]} samples landed after the finish"

    run_rounds(server, scenario)


def test_delete_during_ingest_is_never_a_server_error(server: Server) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        run_id = await new_run(http)

        async def ingest(index: int) -> httpx.Response:
            return await http.post(f"/api/test-runs/{run_id}/cpu-usage", json=batch(index * BATCH))

        half = INGESTS // 2
        deletion = http.delete(f"/api/test-runs/{run_id}")
        answers = await asyncio.gather(*map(ingest, range(half)), deletion, *map(ingest, range(half, INGESTS)))
        deleted, ingests = answers[half], answers[:half] + answers[half + 1 :]
        assert deleted.status_code == 204, deleted.text
        assert {r.status_code for r in ingests} <= {201, 404}, [(r.status_code, r.text) for r in ingests]
        gone = await http.get(f"/api/test-runs/{run_id}/cpu-usage")
        assert gone.status_code == 404, gone.text

    run_rounds(server, scenario)


def test_concurrent_finishes_agree_on_the_first_end_time(server: Server) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        run_id = await new_run(http)
        times = [(BASE + dt.timedelta(minutes=1 + i)).isoformat() for i in range(INGESTS)]
        answers = await asyncio.gather(
            *(http.post(f"/api/test-runs/{run_id}/finish", json={"ended_at": at}) for at in times)
        )
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
        answered = {r.json()["ended_at"] for r in answers}
        stored = (await http.get(f"/api/test-runs/{run_id}")).json()["ended_at"]
        assert answered == {stored}, f"callers were told {len(answered)} different end times"
        assert dt.datetime.fromisoformat(stored) in {dt.datetime.fromisoformat(at) for at in times}

    run_rounds(server, scenario)


def test_concurrent_finishes_never_store_an_end_before_the_start(server: Server) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        run_id = await new_run(http)
        # Every other finish ends a minute before the run started; the early ones go out first.
        offsets = [(-1 if i % 2 == 0 else 1) * (1 + i) for i in range(INGESTS)]
        times = [(BASE + dt.timedelta(minutes=offset)).isoformat() for offset in offsets]
        answers = await asyncio.gather(
            *(http.post(f"/api/test-runs/{run_id}/finish", json={"ended_at": at}) for at in times)
        )
        early = [r for r, offset in zip(answers, offsets, strict=True) if offset < 0]
        valid = [r for r, offset in zip(answers, offsets, strict=True) if offset > 0]
        assert {r.status_code for r in early} == {400}, [r.text for r in early]
        assert all(r.json()["extra"][0]["field"] == "ended_at" for r in early)
        assert {r.status_code for r in valid} == {200}, [r.text for r in valid]
        stored = (await http.get(f"/api/test-runs/{run_id}")).json()["ended_at"]
        assert {r.json()["ended_at"] for r in valid} == {stored}
        assert dt.datetime.fromisoformat(stored) > BASE, f"an end before the start was stored: {stored}"

    run_rounds(server, scenario)
