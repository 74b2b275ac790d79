"""folded run names and host names

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-05

`test_runs.name_key` and `test_runs.hostname_key` hold the case-folded form of the name and the host
name (Unicode case folding of the NFC form, then NFC again; binary collation on MariaDB), so the
runs list's filters match the same way on SQLite and MariaDB. Folding makes at most four characters
of one, so each column holds four times its source's limit. Existing runs are folded here.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

#: As in cpumon.wire (NAME_MAX, HOSTNAME_MAX) and cpumon_backend.runs.folding (FOLD_GROWTH), at this revision.
KEY_COLUMNS = {"name_key": ("name", 200 * 4), "hostname_key": ("hostname", 255 * 4)}
BATCH = 500


def fold(text: str) -> str:
    """cpumon_backend.runs.folding.fold at this revision (a migration imports nothing of the app)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def key_type(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql")


def upgrade() -> None:
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        for column, (_, length) in KEY_COLUMNS.items():
            batch_op.add_column(sa.Column(column, key_type(length), nullable=True))
    _fold_existing_runs()
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        for column, (_, length) in KEY_COLUMNS.items():
            batch_op.alter_column(column, existing_type=key_type(length), nullable=False)


def _fold_existing_runs() -> None:
    runs = sa.table(
        "test_runs",
        sa.column("id", sa.LargeBinary()),
        *(sa.column(name) for name in ("name", "hostname", *KEY_COLUMNS)),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(runs.c.id, runs.c.name, runs.c.hostname)).all()
    update = (
        sa.update(runs)
        .where(runs.c.id == sa.bindparam("run_id"))
        .values(name_key=sa.bindparam("name_folded"), hostname_key=sa.bindparam("hostname_folded"))
    )
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        connection.execute(
            update,
            [
                {"run_id": run_id, "name_folded": fold(name), "hostname_folded": fold(hostname or "")}
                for run_id, name, hostname in batch
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        for column in reversed(KEY_COLUMNS):
            batch_op.drop_column(column)
