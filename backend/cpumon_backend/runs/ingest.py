"""Ingest: the whole rule for storing samples, in one method and one transaction.

The rule: the caller owns the run, the run is not finished, what is new is inserted, (run, seq)
pairs already stored are skipped, and the batch is stored whole or not at all. `InsertFromJson`
folds the ownership and not-finished checks into the INSERT itself. The transaction around it
writes the run row first (serialising ingests into one run) and ends with the roll-ups of the
minutes the batch touched (docs/rollups.md): `BEGIN`, run-row write, INSERT, roll-up upsert,
`COMMIT`, on a connection of the ingest engine (no pre-ping, no reset ROLLBACK). Only when nothing
was inserted does a further query tell "no such run" (404) from "finished" (409) from "all
duplicates"; then no roll-up is touched."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from advanced_alchemy.exceptions import NotFoundError
from litestar.datastructures import State
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cpumon.wire import UPLOAD_FIELDS, SampleRead, field_types
from cpumon_backend.http.errors import RuleRefusedError
from cpumon_backend.runs.models import CpuUsage, TestRun
from cpumon_backend.runs.rollups import refresh_rollups
from cpumon_backend.runs.schemas import IngestResult, SampleIn
from cpumon_backend.runs.sql import InsertFromJson
from cpumon_backend.storage.db import UTC, utcnow
from cpumon_backend.storage.retry import retry_conflicts

_JSON_TABLE_TYPES = {int: "BIGINT", dt.datetime: "DATETIME(6)", float: "DOUBLE"}
#: The uploaded fields that travel in the JSON rows, in the contract's order (SampleIn's), with their
#: MySQL JSON_TABLE types.
JSON_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, _JSON_TABLE_TYPES[kind]) for name, kind in field_types(SampleRead).items() if name in UPLOAD_FIELDS
)
_RECORDED_AT = UPLOAD_FIELDS.index("recorded_at")

INSERT_SAMPLES = InsertFromJson(
    CpuUsage.__table__,  # type: ignore[arg-type]
    TestRun.__table__,  # type: ignore[arg-type]
    run_column="test_run_id",
    stamp_column="created_at",
    json_columns=JSON_COLUMNS,
)


#: The write to the caller's open run that serialises ingests into it (Core, compiled once).
_runs = TestRun.__table__.c
TOUCH_OPEN_RUN = (
    update(TestRun.__table__)  # type: ignore[arg-type]
    .where(_runs.id == bindparam("run_id"), _runs.user_id == bindparam("owner"), _runs.ended_at.is_(None))
    .values(updated_at=bindparam("now"))
)


class RunFinishedError(RuleRefusedError):
    """Samples sent to a run that has ended (409)."""

    status_code = HTTP_409_CONFLICT

    def __init__(self) -> None:
        super().__init__("the run is finished: start a new run")


def _utc_text(value: dt.datetime) -> str:
    # The text both databases store for a UTCDateTime (SQLite keeps it as is, MariaDB parses it).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def recorded_at(sample: SampleIn) -> dt.datetime | None:
    """The sample's own time stamp, if it carries one (SampleIn is derived, so read by the contract's order)."""
    stamp: dt.datetime | None = msgspec.structs.astuple(sample)[_RECORDED_AT]
    return stamp


def encode_rows(samples: Sequence[SampleIn], now: dt.datetime) -> str:
    """The samples as the JSON array of rows that `INSERT_SAMPLES` unpacks (order of JSON_COLUMNS)."""
    default_at = _utc_text(now)
    rows = [list(msgspec.structs.astuple(sample)) for sample in samples]  # SampleIn's fields: the row's order
    for row in rows:
        at = row[_RECORDED_AT]
        row[_RECORDED_AT] = default_at if at is None else _utc_text(at)
    return msgspec.json.encode(rows).decode()


class IngestService:
    """Stores batches of samples. Owns its engine: autocommit connections used by nothing else."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @retry_conflicts()  # autocommit: a statement that lost a conflict has rolled itself back
    async def ingest(self, run_id: uuid.UUID, user_id: int, samples: Sequence[SampleIn]) -> IngestResult:
        """Store `samples` into the caller's open run. Raises NotFoundError or RunFinishedError.

        One method, so that a retry policy (e.g. on deadlocks or Galera certification conflicts)
        can wrap the whole unit: it is idempotent for samples that carry a `seq`.
        """
        now = utcnow()
        params = {"run_id": run_id, "user_id": user_id, "now": now, "rows": encode_rows(samples, now)}
        async with self._engine.connect() as connection:
            inserted = await _insert_in_transaction(connection, params, samples)
            if inserted == 0:
                await self._explain_nothing_inserted(connection, run_id, user_id)
        return IngestResult(inserted=inserted, duplicates=len(samples) - inserted)

    @staticmethod
    async def _explain_nothing_inserted(connection: AsyncConnection, run_id: uuid.UUID, user_id: int) -> None:
        ended_at = select(TestRun.ended_at).where(TestRun.id == run_id, TestRun.user_id == user_id)
        row = (await connection.execute(ended_at)).first()
        if row is None:
            raise NotFoundError(detail="no such test run")
        if row[0] is not None:
            raise RunFinishedError


async def _insert_in_transaction(
    connection: AsyncConnection, params: dict[str, Any], samples: Sequence[SampleIn]
) -> int:
    """The insert, after a write to the run row and before the roll-ups' refresh, in one transaction.

    The write to the run row serialises ingests into one run (and, on Galera, where the locks an
    INSERT ... SELECT takes hold on one node only, makes a finish or another ingest through another
    node conflict at certification instead: one of them is rolled back and retried, and sees the
    other's outcome). The roll-ups of the minutes the batch touched are recomputed from the stored
    samples in the same transaction, so they never disagree with them.
    """
    await connection.exec_driver_sql("BEGIN")
    try:
        await connection.execute(
            TOUCH_OPEN_RUN, {"run_id": params["run_id"], "owner": params["user_id"], "now": params["now"]}
        )
        inserted: int = (await connection.execute(INSERT_SAMPLES, params)).rowcount
        if inserted:
            stamps = (recorded_at(sample) or params["now"] for sample in samples)
            await refresh_rollups(connection, params["run_id"], stamps)
        await connection.exec_driver_sql("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # a dropped connection has rolled back already
            await connection.exec_driver_sql("ROLLBACK")
        raise
    return inserted


def provide_ingest_service(state: State) -> IngestService:
    service: IngestService = state.ingest_service
    return service
