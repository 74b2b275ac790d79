"""API fixtures: an app per test over the chosen backend, users, logged-in clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from cpumon_backend.app import create_app
from cpumon_backend.auth.services import UserService
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_engine
from tests.conftest import Backend

PASSWORD = "correct horse battery staple"
_names = itertools.count()


def add_user(settings: ServerSettings, username: str, password: str = PASSWORD) -> None:
    async def insert() -> None:
        engine = create_engine(settings)
        try:
            async with AsyncSession(engine) as session:
                await UserService(session=session).create_user(username, password, settings.bcrypt_rounds)
        finally:
            await engine.dispose()

    asyncio.run(insert())


@pytest.fixture
def settings(backend: Backend) -> ServerSettings:
    return backend.settings()


@pytest.fixture
def app(settings: ServerSettings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


UserClient = Callable[..., TestClient[Litestar]]


@pytest.fixture
def user_client(settings: ServerSettings) -> Iterator[UserClient]:
    """Factory: a new user, logged in through the API, with a client of their own.

    Each client serves its own app instance over the shared database and session store, as
    separate workers would (a Litestar TestClient runs its app on a private event loop).
    """
    clients: list[TestClient[Litestar]] = []

    def make(username: str | None = None) -> TestClient[Litestar]:
        name = username or f"user{next(_names)}"
        add_user(settings, name)
        test_client = TestClient(create_app(settings), raise_server_exceptions=False)
        test_client.__enter__()
        clients.append(test_client)
        response = test_client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)


@pytest.fixture
def alice(user_client: UserClient) -> TestClient[Litestar]:
    return user_client("alice")


@pytest.fixture
def bob(user_client: UserClient) -> TestClient[Litestar]:
    return user_client("bob")


def start_run(client: TestClient[Litestar], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/test-runs", json={"name": "run", **fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeClock:
    """A clock for create_app(clock=...): session lifetimes and throttle windows pass without sleeping."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def at(seconds: float) -> str:
    """An ISO-8601 UTC timestamp `seconds` after BASE_TIME."""
    return (BASE_TIME + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def samples(count: int, *, start_seq: int = 0, percent: float = 50.0, step_s: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"seq": start_seq + i, "cpu_percent": percent, "recorded_at": at((start_seq + i) * step_s)}
        for i in range(count)
    ]
