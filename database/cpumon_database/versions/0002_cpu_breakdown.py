"""cpu breakdown and hottest core

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Five nullable columns on cpu_usage: the CPU time split (user, system, iowait, steal) and the busiest
core's percent. Nullable because older clients send cpu_percent only, and rows stored before this
revision have none of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BREAKDOWN_COLUMNS = ("user_percent", "system_percent", "iowait_percent", "steal_percent", "max_core_percent")


def upgrade() -> None:
    # batch mode: SQLite cannot add several columns in one ALTER; on MariaDB it is one ALTER TABLE.
    with op.batch_alter_table("cpu_usage", schema=None) as batch_op:
        for name in BREAKDOWN_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cpu_usage", schema=None) as batch_op:
        for name in reversed(BREAKDOWN_COLUMNS):
            batch_op.drop_column(name)
