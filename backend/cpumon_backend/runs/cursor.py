"""The keyset cursor of the samples listing: the (recorded_at, id) of the last item sent.

Written as `<microseconds since 0001-01-01 UTC>.<sample id>`, so the OpenAPI pattern describes
exactly the cursors the API accepts: every string that matches is a position (one past the year
9999 is clamped to the end of time, which is simply after every sample). Clients still treat it as
opaque and pass back the `next_cursor` of a previous page, unchanged.
"""

from __future__ import annotations

import datetime as dt
import re

_DIGITS_DOT_DIGITS = r"[0-9]{1,18}\.[0-9]{1,18}"
#: `$(?!\n)`: Python's `$` also matches before a final newline, JSON Schema's (ECMA-262) only at the end.
PATTERN = rf"^{_DIGITS_DOT_DIGITS}$(?!\n)"
_PATTERN = re.compile(_DIGITS_DOT_DIGITS)  # used with fullmatch
_ORIGIN = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
_MAX_US = (dt.datetime.max.replace(tzinfo=dt.UTC) - _ORIGIN) // _ONE_US


class InvalidCursorError(ValueError):
    def __init__(self) -> None:
        super().__init__("invalid cursor: pass back the next_cursor of a previous page, unchanged")


def encode_cursor(recorded_at: dt.datetime, sample_id: int) -> str:
    return f"{(recorded_at.astimezone(dt.UTC) - _ORIGIN) // _ONE_US}.{sample_id}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    if not _PATTERN.fullmatch(cursor):
        raise InvalidCursorError
    micros, sample_id = cursor.split(".")
    return _ORIGIN + min(int(micros), _MAX_US) * _ONE_US, int(sample_id)
