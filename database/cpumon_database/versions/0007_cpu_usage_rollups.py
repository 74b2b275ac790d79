"""cpu usage roll-ups

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

`cpu_usage_rollups`: each run's samples reduced per minute (count, sums, min, max, breakdown sums
with their counts, the hottest core, time above the run's threshold of the intervals inside the
minute, whether its first sample is above, first and last sample time), which summaries and
series read instead of every sample. The ingest keeps them exact from now on; this revision
builds them for the samples already stored, with the same rule (cpumon_backend/runs/rollups.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "cpu_usage_rollups"
BREAKDOWN = ("user", "system", "iowait", "steal")
# What cpumon_backend.storage.db.UTCDateTime stores (defined here: migrations import nothing from the app).
MICROSECOND_DATETIME = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# Per dialect: the minute of a time since 0001-01-01, and `later - earlier` in whole microseconds.
SQLITE_SQL = {
    "minute": "((CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) + 62135596800) / 60)",
    "micros": "((CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr({1}, 1, 19))"
    " AS INTEGER)) * 1000000 + (CAST(substr({0}, 21, 6) AS INTEGER) - CAST(substr({1}, 21, 6) AS INTEGER)))",
}
MYSQL_SQL = {
    "minute": "TIMESTAMPDIFF(MINUTE, '0001-01-01 00:00:00', {0})",
    "micros": "TIMESTAMPDIFF(MICROSECOND, {1}, {0})",
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("test_run_id", GUID(length=16), nullable=False),
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("cpu_sum", sa.Double(), nullable=False),
        sa.Column("cpu_min", sa.Double(), nullable=False),
        sa.Column("cpu_max", sa.Double(), nullable=False),
        *(
            column
            for name in BREAKDOWN
            for column in (
                sa.Column(f"{name}_sum", sa.Double(), nullable=True),
                sa.Column(f"{name}_count", sa.Integer(), nullable=False),
            )
        ),
        sa.Column("max_core_percent", sa.Double(), nullable=True),
        sa.Column("above_us", sa.BigInteger(), nullable=False),
        sa.Column("first_above", sa.Boolean(), nullable=False),
        sa.Column("first_at", MICROSECOND_DATETIME, nullable=False),
        sa.Column("last_at", MICROSECOND_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["test_run_id"],
            ["test_runs.id"],
            name=op.f("fk_cpu_usage_rollups_test_run_id_test_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("test_run_id", "minute", name=op.f("pk_cpu_usage_rollups")),
    )
    op.execute(_build_every_bucket(SQLITE_SQL if op.get_bind().dialect.name == "sqlite" else MYSQL_SQL))


def _build_every_bucket(sql: dict[str, str]) -> str:
    """One INSERT ... SELECT: every bucket of every run, from its samples (as the ingest computes one)."""
    minute = sql["minute"].format("recorded_at")
    window = f"OVER (PARTITION BY test_run_id, {minute} ORDER BY recorded_at, id)"
    breakdown = ", ".join(f"{name}_percent" for name in BREAKDOWN)
    sums = ", ".join(f"SUM(s.{name}_percent), COUNT(s.{name}_percent)" for name in BREAKDOWN)
    targets = ", ".join(f"{name}_sum, {name}_count" for name in BREAKDOWN)
    above = "s.cpu_percent > r.threshold_percent"
    interval = sql["micros"].format("s.recorded_at", "s.previous_at")
    return (
        f"INSERT INTO {TABLE} (test_run_id, minute, sample_count, cpu_sum, cpu_min, cpu_max, {targets},"  # noqa: S608 - fixed names
        " max_core_percent, above_us, first_above, first_at, last_at)"
        " SELECT s.test_run_id, s.minute, COUNT(*), SUM(s.cpu_percent), MIN(s.cpu_percent), MAX(s.cpu_percent),"
        f" {sums}, MAX(s.max_core_percent),"
        f" SUM(CASE WHEN {above} AND s.previous_at IS NOT NULL THEN {interval} ELSE 0 END),"
        f" MAX(CASE WHEN {above} AND s.place = 1 THEN 1 ELSE 0 END), MIN(s.recorded_at), MAX(s.recorded_at)"
        f" FROM (SELECT test_run_id, {minute} AS minute, recorded_at, cpu_percent, {breakdown}, max_core_percent,"
        f" LAG(recorded_at) {window} AS previous_at, ROW_NUMBER() {window} AS place FROM cpu_usage) s"
        " JOIN test_runs r ON r.id = s.test_run_id"
        " GROUP BY s.test_run_id, s.minute, r.threshold_percent"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
