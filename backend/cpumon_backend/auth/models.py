"""Tables of the auth domain: `users`, the server-side `sessions` and the `login_attempts` counters."""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.extensions.litestar.session import SessionModelMixin
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from cpumon.wire import USERNAME_MAX
from cpumon_backend.storage.db import AuditMixin, BigIntIdMixin, UTCDateTime

ATTEMPT_KEY_MAX = 64

#: Compared byte for byte on MariaDB/MySQL too, whose default collation folds case and accents:
#: the database must agree with the canonical form computed in Python (cpumon_backend.auth.usernames).
UsernameKey = String(USERNAME_MAX).with_variant(mysql.VARCHAR(USERNAME_MAX, collation="utf8mb4_bin"), "mysql")
AttemptKey = String(ATTEMPT_KEY_MAX).with_variant(
    mysql.VARCHAR(ATTEMPT_KEY_MAX, charset="ascii", collation="ascii_bin"), "mysql"
)


class User(BigIntIdMixin, AuditMixin, DefaultBase):
    __tablename__ = "users"
    # SQLite would otherwise hand a deleted user's id to the next new user (MySQL never reuses one):
    # anything still naming the old id (a session in Redis) would then name someone else.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it as a class attribute

    #: As created (NFKC, without invisible characters); shown, never compared.
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), nullable=False)
    #: The canonical form: the lookup and the uniqueness rule.
    username_key: Mapped[str] = mapped_column(UsernameKey, unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(72), nullable=False)
    #: When `cpumon-server disable-user` disabled the user (None: enabled). A disabled user cannot log in.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SessionRecord(SessionModelMixin):
    """Server-side session data, keyed by the SHA-256 of the cookie's random id (`session_id`).

    Nothing else lives in this table. A session goes with its user (ON DELETE CASCADE).
    """

    __tablename__ = "sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False)

    # The mixin's column has whole seconds on MySQL: a session would end up to 1 s early.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)


class LoginAttempt(DefaultBase):
    """Login counters of the current window, per username key or client address (hashed)."""

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(AttemptKey, primary_key=True)
    #: Failed password checks in the window.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Password checks running now: each holds a place until its answer is known.
    in_flight: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    window_ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
