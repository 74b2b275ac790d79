"""Tables of the auth domain: `users` and the server-side `sessions` table."""

from __future__ import annotations

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.extensions.litestar.session import SessionModelMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import AuditMixin, BigIntIdMixin

USERNAME_MAX = 64


class User(BigIntIdMixin, AuditMixin, DefaultBase):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(72), nullable=False)


class SessionRecord(SessionModelMixin):
    """Server-side session data (and the login-throttle counters), keyed by the cookie's random id."""

    __tablename__ = "sessions"
