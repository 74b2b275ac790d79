"""hashed session ids, sessions per user, disabled users, user ids never reused

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

- `sessions.session_id` now holds the SHA-256 of the cookie's id. Rows written before hold the id
  itself, which whoever read the table could send as a cookie: they are deleted, so every session
  ends at the upgrade and users log in again. (Redis sessions end too: their keys now have another
  shape, so those written before are never found, and Redis expires them within one lifetime.)
- `sessions.user_id` names the session's user (ON DELETE CASCADE), so a user's sessions can be ended
  at once and go with the user.
- `users.disabled_at`: when the user was disabled (NULL: enabled).
- On SQLite `users` becomes AUTOINCREMENT (the table is rebuilt): without it SQLite hands a deleted
  user's id to the next new user. MySQL/MariaDB's AUTO_INCREMENT never reuses one already.

Nothing here imports cpumon_backend: the types are spelled out as the models' compile.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations
from sqlalchemy.dialects import mysql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: cpumon's UTCDateTime as it is stored: DATETIME(6) on MySQL/MariaDB (microseconds), DATETIME elsewhere.
_TIMESTAMP = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
#: cpumon's BigIntId: BIGINT, INTEGER on SQLite (its auto-incrementing primary key type).
_USER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuilt_users(*, autoincrement: bool) -> AbstractContextManager[BatchOperations]:
    """Alter `users`; on SQLite copy it into a table that is AUTOINCREMENT or not (ids kept, the
    counter starting at the largest). MySQL's table is altered in place."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(
        "users", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": autoincrement}
    )


def upgrade() -> None:
    op.execute("DELETE FROM sessions")
    with _rebuilt_users(autoincrement=True) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", _TIMESTAMP, nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", _USER_ID, nullable=False))
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_sessions_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    # Hashed ids mean nothing to the earlier version: its users log in again.
    op.execute("DELETE FROM sessions")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sessions_user_id_users", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))
        batch_op.drop_column("user_id")
    with _rebuilt_users(autoincrement=False) as batch_op:
        batch_op.drop_column("disabled_at")
