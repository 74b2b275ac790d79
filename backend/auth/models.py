"""Tables of the auth domain: `users` and the server-side `sessions` table."""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.extensions.litestar.session import SessionModelMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import AuditMixin, BigIntIdMixin, UTCDateTime

USERNAME_MAX = 64


class User(BigIntIdMixin, AuditMixin, DefaultBase):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(72), nullable=False)


class SessionRecord(SessionModelMixin):
    """Server-side session data (and the login-throttle counters), keyed by the cookie's random id."""

    __tablename__ = "sessions"

    # The mixin's column has whole seconds on MySQL: a session would end up to 1 s early.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
