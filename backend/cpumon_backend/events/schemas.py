"""Request and response bodies of the events routes, with the limits of `cpumon.wire`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from cpumon.wire import EVENT_KIND_DEFAULT, EVENT_KIND_MAX, EVENT_KIND_PATTERN, EVENT_TEXT_MAX
from cpumon_backend.http.patterns import WHITE_SPACE

EventText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=EVENT_TEXT_MAX,
        pattern=f"[^{WHITE_SPACE}]",
        description=f"what happened: 1 to {EVENT_TEXT_MAX} characters, not only spaces",
    ),
]
EventKind = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=EVENT_KIND_MAX,
        pattern=EVENT_KIND_PATTERN,
        description=f"one short word (letters, digits, _ . -), up to {EVENT_KIND_MAX} characters; "
        f"default: {EVENT_KIND_DEFAULT}",
    ),
]
EventTime = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 with a UTC offset")]


class EventCreate(msgspec.Struct, forbid_unknown_fields=True):
    text: EventText
    at: EventTime | None = None  # default: the server's time now
    # None rather than the default itself: generated clients would make a field with a default required.
    kind: EventKind | None = None  # default: EVENT_KIND_DEFAULT


class EventRead(msgspec.Struct):
    id: int
    at: dt.datetime
    kind: str
    text: str
    created_at: dt.datetime


class EventList(msgspec.Struct):
    items: list[EventRead]
