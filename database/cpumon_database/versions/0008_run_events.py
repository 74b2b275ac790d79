"""run events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

`run_events` keeps a run's events (a text, a kind and a time), deleted with the run by
ON DELETE CASCADE in the database. The text is utf8mb4 on MariaDB/MySQL whatever the
database's default character set, so every character the API accepts fits.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As the app's models define them, written out here: a migration never changes with the app's code.
TEXT_MAX = 500
KIND_MAX = 32
Timestamp = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql")
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EventText = sa.String(TEXT_MAX).with_variant(
    mysql.VARCHAR(TEXT_MAX, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
)
EventKind = sa.String(KIND_MAX).with_variant(mysql.VARCHAR(KIND_MAX, charset="ascii", collation="ascii_bin"), "mysql")


def upgrade() -> None:
    op.create_table(
        "run_events",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("test_run_id", GUID(length=16), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("kind", EventKind, nullable=False),
        sa.Column("text", EventText, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["test_run_id"], ["test_runs.id"], name=op.f("fk_run_events_test_run_id_test_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_events")),
    )
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.create_index("ix_run_events_test_run_id_at", ["test_run_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("run_events")
