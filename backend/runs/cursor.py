"""The opaque keyset cursor of the samples listing: the (recorded_at, id) of the last item sent."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

import msgspec


class InvalidCursorError(ValueError):
    def __init__(self) -> None:
        super().__init__("invalid cursor: pass back the next_cursor of a previous page, unchanged")


class _Position(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    recorded_at: dt.datetime
    id: int


def encode_cursor(recorded_at: dt.datetime, sample_id: int) -> str:
    raw = msgspec.json.encode(_Position(recorded_at, sample_id))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=_Position)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursorError from exc
    if position.recorded_at.tzinfo is None:
        raise InvalidCursorError
    return position.recorded_at, position.id
