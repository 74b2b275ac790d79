"""login checks in flight

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

`login_attempts.in_flight` counts the password checks running now under each key, apart from
`attempts` (the failures of the window): a check holds a place until its answer is known, and a
correct password gives it back, so correct logins never use up a limit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_flight", sa.Integer(), nullable=False, server_default="0"))
    # Counts made before this revision mixed failures with checks in flight: start every window afresh.
    op.execute("DELETE FROM login_attempts")


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_column("in_flight")
