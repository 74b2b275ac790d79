"""The time the throttle windows and session lifetimes are measured with: injectable, so tests need no sleep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

#: Returns the current time, aware, in UTC.
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
