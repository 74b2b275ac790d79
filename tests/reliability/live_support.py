"""A live stream read in a thread, as a page would: every event with the time it arrived, and the close.

Tests wait on what it records (an event, the close) with a deadline, never with a fixed sleep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.background import loop_in_thread, run_until
from cpumon_backend.auth.models import User
from cpumon_backend.events.models import RunEvent
from cpumon_backend.runs.models import CpuUsage, TestRun
from tests.e2e.conftest import wait_for


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when it arrived
    kind: str
    data: str


@dataclass
class LiveReader:
    """GET /api/test-runs/{id}/live with the cookies of `client`, read until the server closes it."""

    client: httpx.Client
    run_id: str
    events: list[Received] = field(default_factory=list)
    status_code: int | None = None
    closed_at: float | None = None
    error: BaseException | None = None
    _opened: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LiveReader:
        threading.Thread(target=self._read, daemon=True, name=f"live reader {self.run_id}").start()
        if not self._opened.wait(60):
            pytest.fail("the live stream did not answer within 60 s", pytrace=False)
        return self

    def _read(self) -> None:
        try:
            with self.client.stream("GET", f"/api/test-runs/{self.run_id}/live") as response:
                self.status_code = response.status_code
                self._opened.set()
                kind = ""
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind:
                        self.events.append(Received(time.monotonic(), kind, line.split(":", 1)[1].strip()))
                        kind = ""
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.closed_at = time.monotonic()
            self._opened.set()

    def stop(self) -> None:
        """Stop reading (the client side goes away at its next line)."""
        self._stop.set()

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def wait_event(self, kind: str, *, within: float, after: float = 0.0) -> Received:
        def arrived() -> Received | None:
            return next((e for e in list(self.events) if e.kind == kind and e.at >= after), None)

        return wait_for(arrived, within=within, what=f"a `{kind}` event (got {self.kinds()})")

    def wait_closed(self, *, within: float) -> float:
        return wait_for(lambda: self.closed_at, within=within, what=f"the stream to close (got {self.kinds()})")


def logged_in(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client


def post_samples(api: httpx.Client, run_id: str, count: int, *, first_seq: int = 0, percent: float = 50.0) -> None:
    """`count` samples stamped now (the server's clock), so the feed pushes them."""
    body = [{"seq": first_seq + i, "cpu_percent": percent} for i in range(count)]
    response = api.post(f"/api/test-runs/{run_id}/cpu-usage", json=body)
    assert response.status_code == 201, response.text


def ingest_until_stored(api: httpx.Client, run_id: str, seq: int) -> float:
    """Post one sample until it is stored (the first tries after an outage may answer 503); when it was."""

    def stored() -> float | None:
        response = api.post(f"/api/test-runs/{run_id}/cpu-usage", json={"seq": seq, "cpu_percent": 42})
        return time.monotonic() if response.status_code == 201 else None

    return wait_for(stored, within=30, what="an ingest to succeed after the outage", every=0.1)


async def new_run(writer: AsyncEngine) -> uuid.UUID:
    """A recording run of the database's first user, made by plain SQL."""
    run_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    async with writer.begin() as connection:
        user_id = await connection.scalar(select(User.id).limit(1))
        values = {"user_id": user_id, "name": "watched", "started_at": now, "created_at": now, "updated_at": now}
        await connection.execute(insert(TestRun).values(id=run_id, **values))
    return run_id


async def store_samples(writer: AsyncEngine, run_id: uuid.UUID, count: int, ahead_s: float = 0.0) -> None:
    """`count` samples stored by plain SQL, stamped now (or `ahead_s` seconds in the future)."""
    now = dt.datetime.now(dt.UTC)
    at = now + dt.timedelta(seconds=ahead_s)
    rows = [{"test_run_id": run_id, "recorded_at": at, "cpu_percent": 10.0, "created_at": now} for _ in range(count)]
    async with writer.begin() as connection:
        await connection.execute(insert(CpuUsage), rows)


async def store_events(writer: AsyncEngine, run_id: uuid.UUID, texts: list[str]) -> None:
    """One event per text, stored by plain SQL in one transaction, stamped now."""
    now = dt.datetime.now(dt.UTC)
    rows = [{"test_run_id": run_id, "at": now, "kind": "note", "text": text, "created_at": now} for text in texts]
    async with writer.begin() as connection:
        await connection.execute(insert(RunEvent), rows)


async def end_run(writer: AsyncEngine, run_id: uuid.UUID) -> None:
    async with writer.begin() as connection:
        await connection.execute(update(TestRun).where(TestRun.id == run_id).values(ended_at=dt.datetime.now(dt.UTC)))


@dataclass
class HeldStreams:
    """Streams opened at once and held open (read) until the block ends: their status codes and answers."""

    statuses: list[int] = field(default_factory=list)
    refusals: list[httpx.Response] = field(default_factory=list)


@contextmanager
def held_streams(url: str, cookies: httpx.Cookies, run_ids: list[str]) -> Iterator[HeldStreams]:
    """Open one stream per run id all at once (an asyncio loop in a thread), as a page per run would."""
    held = HeldStreams()
    ready = threading.Event()

    async def one(client: httpx.AsyncClient, run_id: str) -> None:
        async with client.stream("GET", f"/api/test-runs/{run_id}/live") as response:
            if response.status_code != 200:
                await response.aread()
                held.refusals.append(response)
            held.statuses.append(response.status_code)
            if len(held.statuses) == len(run_ids):
                ready.set()
            if response.status_code == 200:
                async for _ in response.aiter_bytes():
                    pass

    async def main(stop: asyncio.Event) -> None:
        limits = httpx.Limits(max_connections=len(run_ids) + 10)
        async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=120, limits=limits) as client:
            await run_until(stop, (one(client, run_id) for run_id in run_ids))

    with loop_in_thread(main, join_s=60):
        if not ready.wait(120):
            pytest.fail(f"only {len(held.statuses)} of {len(run_ids)} streams answered within 120 s", pytrace=False)
        yield held
