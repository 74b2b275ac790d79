"""Request and response bodies of the auth routes."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cpumon.wire import USERNAME_MAX

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=USERNAME_MAX, pattern=r"^[^\s\x00-\x1f]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password


class UserRead(msgspec.Struct):
    id: int
    username: str


class CurrentUser(msgspec.Struct, frozen=True):
    """The logged-in user as the session knows them (no database read per request)."""

    id: int
    username: str
