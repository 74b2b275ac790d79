"""The events rule: the caller's run (finished or not) keeps at most EVENTS_PER_RUN_MAX events, read in time order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from litestar.di import NamedDependency
from litestar.serialization import encode_json
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import Insert, Select, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpumon.wire import EVENT_KIND_DEFAULT, EVENTS_PER_RUN_MAX
from cpumon_backend.events.models import RunEvent
from cpumon_backend.events.schemas import EventCreate, EventList, EventRead
from cpumon_backend.http.errors import RuleRefusedError
from cpumon_backend.runs.models import TestRun
from cpumon_backend.storage.db import utcnow
from cpumon_backend.storage.retry import retry_conflicts

READ_COLUMNS = tuple(getattr(RunEvent, name) for name in EventRead.__struct_fields__)


def read_statement(run_id: uuid.UUID) -> Select[Any]:
    """The run's events as the API answers them (EventRead's columns), for the list and the live feed."""
    return select(*READ_COLUMNS).where(RunEvent.test_run_id == run_id)


def as_json(rows: Sequence[Sequence[Any]]) -> str:
    """Rows of `read_statement` as the API's JSON list of events, by the encoder of its answers."""
    return encode_json([EventRead(*row) for row in rows]).decode()


class TooManyEventsError(RuleRefusedError):
    """An event beyond the run's limit (409): nothing stored."""

    status_code = HTTP_409_CONFLICT

    def __init__(self) -> None:
        super().__init__(
            f"the run already has {EVENTS_PER_RUN_MAX:,} events, the most a run keeps: "
            "no event was added (delete the run, or record further events on a new run)"
        )


def insert_statement(run_id: uuid.UUID, user_id: int, data: EventCreate) -> Insert:
    """One INSERT ... SELECT that adds the event only to the caller's run, and only below the limit.

    One statement, so SQLite checks and writes under one write lock; on MariaDB the run row is
    locked first (`add`), so concurrent adds to one run count one after another.
    """
    now = utcnow()
    stored = select(func.count()).where(RunEvent.test_run_id == run_id).scalar_subquery()
    source = select(
        TestRun.id,
        literal(data.at or now, RunEvent.at.type),
        literal(data.kind or EVENT_KIND_DEFAULT, RunEvent.kind.type),
        literal(data.text, RunEvent.text.type),
        literal(now, RunEvent.created_at.type),
    ).where(TestRun.id == run_id, TestRun.user_id == user_id, stored < EVENTS_PER_RUN_MAX)
    columns = ["test_run_id", "at", "kind", "text", "created_at"]
    return insert(RunEvent).from_select(columns, source)


class EventService:
    """Adds and lists the events of the caller's runs; another user's run is not found (404)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rollback(self) -> None:
        await self.session.rollback()

    @retry_conflicts(rollback)
    async def add(self, run_id: uuid.UUID, user_id: int, data: EventCreate) -> EventRead:
        session = self.session
        if session.get_bind().dialect.name != "sqlite":
            owned = select(TestRun.id).where(TestRun.id == run_id, TestRun.user_id == user_id)
            await session.execute(owned.with_for_update())
        result = await session.execute(insert_statement(run_id, user_id, data))
        new_id = result.lastrowid if result.rowcount == 1 else None  # type: ignore[attr-defined]
        await session.commit()
        if new_id is None:
            await self._explain_nothing_added(run_id, user_id)
        row = (await session.execute(select(*READ_COLUMNS).where(RunEvent.id == new_id))).one()
        return EventRead(*row)

    async def _explain_nothing_added(self, run_id: uuid.UUID, user_id: int) -> None:
        owned = select(TestRun.id).where(TestRun.id == run_id, TestRun.user_id == user_id)
        if await self.session.scalar(owned) is None:
            raise NotFoundError(detail="no such test run")
        raise TooManyEventsError

    async def list(self, run_id: uuid.UUID, user_id: int) -> EventList:
        """Every event of the run (at most EVENTS_PER_RUN_MAX), by time, then in the order they were added."""
        owned = select(TestRun.id).where(TestRun.id == run_id, TestRun.user_id == user_id)
        if await self.session.scalar(owned) is None:
            raise NotFoundError(detail="no such test run")
        rows = await self.session.execute(read_statement(run_id).order_by(RunEvent.at, RunEvent.id))
        return EventList(items=[EventRead(*row) for row in rows.all()])


async def provide_event_service(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[EventService, None]:
    yield EventService(db_session)
