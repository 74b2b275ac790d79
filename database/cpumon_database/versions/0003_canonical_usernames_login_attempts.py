"""canonical usernames, login attempts in their own table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

`users.username_key` holds the canonical form of each name (NFKC, no invisible characters,
case-folded; binary collation on MySQL) and carries the uniqueness rule that `users.username`
carried under the database's collation. Login-throttle counters move from the `sessions` table
to `login_attempts`, so no cookie value can ever reach them.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# What this revision needs from the backend, as it was when the revision was written: a revision
# that imported live code could change meaning whenever that code changes.

#: cpumon_backend.storage.db.UTCDateTime's DDL: DATETIME(6) on MySQL/MariaDB, DATETIME elsewhere.
UTC_DATETIME = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
#: cpumon_backend.auth.models.UsernameKey and AttemptKey (64 characters, compared byte for byte).
UsernameKey = sa.String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql")
AttemptKey = sa.String(64).with_variant(mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql")


def username_key(raw: str) -> str:
    """cpumon_backend.auth.usernames.username_key: NFKC, no invisible (Cf) characters, NFKC, case-folded, NFKC."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username_key", UsernameKey, nullable=True))
    users = sa.table("users", sa.column("id", sa.BigInteger()), sa.column("username"), sa.column("username_key"))
    connection = op.get_bind()
    keys: dict[str, str] = {}
    for user_id, username in connection.execute(sa.select(users.c.id, users.c.username)).all():
        key = username_key(username)
        if key in keys:
            msg = f"users {keys[key]!r} and {username!r} are one name in canonical form: rename one first"
            raise RuntimeError(msg)
        keys[key] = username
        connection.execute(sa.update(users).where(users.c.id == user_id).values(username_key=key))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("username_key", existing_type=UsernameKey, nullable=False)
        batch_op.drop_constraint("uq_users_username", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_users_username_key"), ["username_key"])

    op.create_table(
        "login_attempts",
        sa.Column("key", AttemptKey, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_window_ends_at"), ["window_ends_at"], unique=False)
    op.execute("DELETE FROM sessions WHERE session_id LIKE 'throttle:%'")


def downgrade() -> None:
    op.drop_table("login_attempts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_username_key", type_="unique")
        batch_op.create_unique_constraint("uq_users_username", ["username"])
        batch_op.drop_column("username_key")
