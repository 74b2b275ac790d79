"""Run lifecycle: start, finish and delete the caller's runs. Each write is one atomic statement."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.dml import Update

from cpumon.wire import NAME_MAX
from cpumon_backend.http.errors import RuleRefusedError
from cpumon_backend.runs.folding import shortened
from cpumon_backend.runs.models import TestRun
from cpumon_backend.runs.schemas import RunCreate, RunRead, run_fields
from cpumon_backend.storage.db import utcnow
from cpumon_backend.storage.retry import retry_conflicts


class EndBeforeStartError(RuleRefusedError):
    """A finish whose end time is before the run's start: refused (400 naming `$.ended_at`), nothing stored."""

    def __init__(self, started_at: dt.datetime, *, given: bool) -> None:
        started = started_at.isoformat().replace("+00:00", "Z")
        text = (
            f"before the run's started_at ({started})"
            if given
            else f"the run starts at {started}, after the server's time now: send an ended_at at or after it"
        )
        problem = {"message": text, "path": "$.ended_at", "source": "body", "field": "ended_at"}
        super().__init__(f"invalid body at $.ended_at: {text}", [problem])


def default_run_name(hostname: str, started_at: dt.datetime) -> str:
    """The name of a run started without one: its host and start time, always within NAME_MAX.

    The time is kept whole; a host name too long to fit beside it is shortened (it is stored whole
    in `hostname` anyway).
    """
    stamp = f" {started_at:%Y-%m-%d %H:%M:%S}"
    return shortened(hostname or "run", NAME_MAX - len(stamp)) + stamp


def finish_statement(run_id: uuid.UUID, user_id: int, end: dt.datetime, now: dt.datetime) -> Update:
    """End the caller's run at `end` if it is still open and did not start after `end` (one guarded UPDATE)."""
    return (
        update(TestRun)
        .where(
            TestRun.id == run_id,
            TestRun.user_id == user_id,
            TestRun.ended_at.is_(None),
            TestRun.started_at <= end,
        )
        .values(ended_at=end, updated_at=now)
        .execution_options(synchronize_session=False)
    )


class TestRunRepository(SQLAlchemyAsyncRepository[TestRun]):
    model_type = TestRun


class RunLifecycleService(SQLAlchemyAsyncRepositoryService[TestRun, TestRunRepository]):
    """Writes to the caller's runs. Every statement is by (id, owner): another user's run is not found."""

    __test__ = False
    repository_type = TestRunRepository

    async def rollback(self) -> None:
        await self.repository.session.rollback()

    @retry_conflicts(rollback)
    async def start(self, user_id: int, data: RunCreate) -> RunRead:
        started_at = data.started_at or utcnow()
        hostname = data.hostname or ""
        run = TestRun(
            user_id=user_id,
            name=data.name or default_run_name(hostname, started_at),
            hostname=hostname,
            interval_s=data.interval_s,
            threshold_percent=data.threshold_percent,
            started_at=started_at,
        )
        return RunRead(**run_fields(await self.create(run, auto_commit=True)))

    @retry_conflicts(rollback)
    async def finish(self, run_id: uuid.UUID, user_id: int, ended_at: dt.datetime | None) -> RunRead:
        """End the run. The first finish wins: later ones change nothing and get the stored end time.

        The UPDATE only matches a run that has not ended and did not start after the end time, so
        of concurrent finishes exactly one writes (the database serialises them on the row) and an
        end before the start is never stored; each caller then reads what is stored. A run's start
        never changes, so an end before it is refused (400) whether or not the run has ended.
        """
        now = utcnow()
        end = ended_at or now
        session = self.repository.session
        await session.execute(finish_statement(run_id, user_id, end, now))
        await session.commit()
        found = select(TestRun).where(TestRun.id == run_id, TestRun.user_id == user_id)
        run = await session.scalar(found.execution_options(populate_existing=True))
        if run is None:
            raise NotFoundError(detail="no such test run")
        if end < run.started_at:
            raise EndBeforeStartError(run.started_at, given=ended_at is not None)
        return RunRead(**run_fields(run))

    @retry_conflicts(rollback)
    async def remove(self, run_id: uuid.UUID, user_id: int) -> None:
        """Delete the run; its samples go with it (ON DELETE CASCADE in the database)."""
        session = self.repository.session
        result: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
            delete(TestRun)
            .where(TestRun.id == run_id, TestRun.user_id == user_id)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if result.rowcount == 0:
            raise NotFoundError(detail="no such test run")
