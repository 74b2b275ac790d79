"""Tables of the runs domain: `test_runs` and its `cpu_usage` samples."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID
from sqlalchemy import BigInteger, Boolean, Double, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine
from uuid_utils.compat import uuid7

from cpumon.wire import HOSTNAME_MAX, NAME_MAX
from cpumon_backend.runs.folding import FOLD_GROWTH, fold
from cpumon_backend.storage.db import AuditMixin, BigIntIdMixin, CreatedAtMixin, UTCDateTime


def folded_text(source_max: int) -> TypeEngine[str]:
    """The column of a folded value whose source has at most `source_max` characters: compared byte for
    byte on MariaDB too (its default collation would fold accents, which folding keeps apart)."""
    length = source_max * FOLD_GROWTH
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql")


def folded_from(source: str) -> Callable[[DefaultExecutionContext], str]:
    """A column default: the folded form of the row's `source` column, computed on every insert."""

    def default(context: DefaultExecutionContext) -> str:
        parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
        return fold(parameters.get(source) or "")

    return default


class TestRun(AuditMixin, DefaultBase):
    __tablename__ = "test_runs"
    __table_args__ = (Index("ix_test_runs_user_id_started_at", "user_id", "started_at"),)
    __test__ = False  # not a pytest test class, whatever its name says

    # UUIDv7: random enough to be unguessable, time-ordered so the primary key index stays append-only.
    id: Mapped[uuid.UUID] = mapped_column(GUID(), primary_key=True, default=uuid7)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    hostname: Mapped[str] = mapped_column(String(HOSTNAME_MAX), nullable=False, default="")
    # What the list's name and host filters compare (cpumon_backend.runs.folding); never set by hand.
    name_key: Mapped[str] = mapped_column(folded_text(NAME_MAX), nullable=False, default=folded_from("name"))
    hostname_key: Mapped[str] = mapped_column(
        folded_text(HOSTNAME_MAX), nullable=False, default=folded_from("hostname")
    )
    interval_s: Mapped[float | None] = mapped_column(Double(), nullable=True)
    threshold_percent: Mapped[float] = mapped_column(Double(), nullable=False, default=80.0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CpuUsage(BigIntIdMixin, CreatedAtMixin, DefaultBase):
    __tablename__ = "cpu_usage"
    __table_args__ = (
        UniqueConstraint("test_run_id", "seq", name="uq_cpu_usage_test_run_id_seq"),
        Index("ix_cpu_usage_test_run_id_recorded_at", "test_run_id", "recorded_at"),
    )

    # ON DELETE CASCADE lives in the database, so a run deleted by plain SQL takes its samples too.
    test_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False)
    seq: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    cpu_percent: Mapped[float] = mapped_column(Double(), nullable=False)
    # The columns of cpumon.wire.SampleRead's fields, one each (tests/contract checks them against it).
    # The breakdown (shares of total CPU time) and the busiest core: null for clients that send only the total.
    user_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)
    system_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)
    iowait_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)
    steal_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)
    max_core_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)


class CpuUsageRollup(DefaultBase):
    """One run's samples in one minute (the bucket), reduced to what summaries and series need.

    Kept exact by the ingest, in the transaction that stores the samples (see runs/rollups.py):
    a bucket is recomputed from its raw samples whenever a batch adds to it. `above_us` holds the
    time above the run's threshold of the intervals that begin inside the bucket (each sample
    stands for the gap since the sample before it); the interval of the bucket's first sample
    crosses from the bucket before, so readers add it from `first_above` and the previous bucket's
    `last_at`: a late sample then changes its own bucket only.
    """

    __tablename__ = "cpu_usage_rollups"

    test_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("test_runs.id", ondelete="CASCADE"), primary_key=True, nullable=False
    )
    minute: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)  # since 0001-01-01
    sample_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    cpu_sum: Mapped[float] = mapped_column(Double(), nullable=False)
    cpu_min: Mapped[float] = mapped_column(Double(), nullable=False)
    cpu_max: Mapped[float] = mapped_column(Double(), nullable=False)
    user_sum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    user_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    system_sum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    system_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    iowait_sum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    iowait_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    steal_sum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    steal_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    max_core_percent: Mapped[float | None] = mapped_column(Double(), nullable=True)
    above_us: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    first_above: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
