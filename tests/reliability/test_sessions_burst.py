"""Redis sessions under a burst: the client pool waits for a connection instead of failing at once.

Before, each worker's Redis client had a pool of at most 100 connections that raised as soon as it
was empty: 400 simultaneous requests on 2 workers answered about 40 % 503. Now the pool
(CPUMON_SESSION_REDIS_POOL_SIZE per worker) makes a request wait for a connection, for at most
CPUMON_SESSION_REDIS_POOL_TIMEOUT s, and every one of the 400 is answered 200.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import REDIS_URL, _require

from .conftest import Database, Server

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.timeout(300)]  # 2 workers start slowly

REQUESTS = 400
COOKIE = "cpumon_session"


async def burst(server: Server, session_id: str, count: int) -> Counter[int]:
    """`count` GET /api/auth/me at once, each on a connection of its own; the statuses counted."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=120, limits=limits, cookies={COOKIE: session_id}
    ) as client:
        answers = await asyncio.gather(*(client.get("/api/auth/me") for _ in range(count)))
    return Counter(answer.status_code for answer in answers)


def test_400_simultaneous_requests_on_2_workers_all_succeed(
    sqlite_db: Database, start_server: Callable[..., Server]
) -> None:
    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    redis_db = Database(sqlite_db.kind, sqlite_db.url, redis_url=REDIS_URL)
    server = start_server(redis_db.server_settings(CPUMON_WORKERS="2", CPUMON_LOG_LEVEL="warning"))
    http = server.client()
    session_id = http.cookies[COOKIE]
    http.close()
    assert asyncio.run(burst(server, session_id, REQUESTS)) == Counter({200: REQUESTS})
