"""Request and response bodies of the auth routes."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cpumon.wire import USERNAME_MAX

#: What a username may not hold: C0 controls and white space, spelled out as code points. With `\s` the
#: server (Python's `re`) and the document (JSON Schema: ECMA-262) disagreed: Python's takes U+001C-U+001F and
#: U+0085, ECMA-262's U+FEFF, so a schema-valid login was refused. Here U+0085 is refused by both; U+FEFF (an
#: invisible character the canonical form drops) is allowed by both. `$(?!\n)`: Python's `$` also matches
#: before a final newline, ECMA-262's only at the end. tests/openapi/test_patterns.py holds them to it.
NOT_IN_A_USERNAME = r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
USERNAME_PATTERN = rf"^[^{NOT_IN_A_USERNAME}]+$(?!\n)"

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=USERNAME_MAX, pattern=USERNAME_PATTERN)]
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
