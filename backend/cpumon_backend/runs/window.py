"""Time windows on the runs routes: which runs overlap one, and where a windowed summary cuts.

A load-test tool asks "what did these hosts do between the test's start and now?": the runs list
filters by host and window, and a run's summary can be restricted to a window.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, and_, or_, true

from cpumon.wire import HOSTNAME_MAX
from cpumon_backend.http.query import query_error
from cpumon_backend.runs.folding import fold
from cpumon_backend.runs.models import TestRun
from cpumon_backend.runs.sql import as_timestamp

MAX_HOSTS = 100


def instant(query: str | None = None) -> Any:
    """The query parameter of a time (named `query` in the query string when the argument name cannot be).

    Taken as text and parsed here: Litestar would also read a number (`to=0.0`) as a time.
    """
    return QueryParameter(
        name=query,
        description="RFC 3339 (ISO-8601 with a UTC offset), e.g. 2026-01-01T12:00:00Z",
        max_length=64,
        schema_extra={"format": "date-time"},
    )


Instant = Annotated[str | None, instant()]

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def parse_instant(text: str | None, name: str) -> dt.datetime | None:
    """`text` as an aware UTC time, or a 400 naming the parameter (None when absent)."""
    if text is None:
        return None
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise query_error(name, "expected an RFC 3339 time with a UTC offset, e.g. 2026-01-01T12:00:00Z")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")  # beyond microseconds: cut, as stored
    offset = "+00:00" if match["offset"] in {"Z", "z"} else match["offset"]
    try:
        return dt.datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}").astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise query_error(name, "not a representable time (the year 1 to 9999, in UTC)") from None


Hosts = Annotated[
    list[str] | None,
    QueryParameter(
        description=f"only runs on these hosts (repeat the parameter or give a comma list; up to {MAX_HOSTS}; "
        "case is ignored: Unicode case folding)",
    ),
]


@dataclass(frozen=True)
class Window:
    """A closed time range [start, end]; either side may be open (None)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


def window_from_query(start_text: str | None, end_text: str | None, names: tuple[str, str]) -> Window | None:
    """The window given by two query parameters, or None when both are absent; a clear 400 when invalid."""
    start, end = parse_instant(start_text, names[0]), parse_instant(end_text, names[1])
    if start is not None and end is not None and start > end:
        raise query_error(names[0], f"must not be after {names[1]}")
    if start is None and end is None:
        return None
    return Window(start, end)


def hosts_from_query(values: Sequence[str] | None) -> list[str] | None:
    """Repeated and comma-separated host names, blanks dropped, folded (cpumon_backend.runs.folding);
    None when none were asked for."""
    if not values:
        return None
    hosts = {part.strip() for value in values for part in value.split(",") if part.strip()}
    if any(len(host) > HOSTNAME_MAX for host in hosts):  # the asked length: folding may lengthen it
        raise query_error("host", f"a host name has at most {HOSTNAME_MAX} characters")
    folded = sorted({fold(host) for host in hosts})
    if len(folded) > MAX_HOSTS:
        raise query_error("host", f"at most {MAX_HOSTS} hosts per request")
    return folded


def run_filters(hosts: list[str] | None, window: Window | None, now: dt.datetime) -> ColumnElement[bool]:
    """Runs on one of `hosts` whose [started_at, ended_at or now] overlaps `window`."""
    conditions: list[ColumnElement[bool]] = []
    if hosts is not None:
        # Both sides folded in Python: the same match on every database, whatever its collation.
        conditions.append(TestRun.hostname_key.in_(hosts))
    if window is not None and window.end is not None:
        conditions.append(TestRun.started_at <= as_timestamp(window.end))
    if window is not None and window.start is not None:
        ended_inside = TestRun.ended_at >= as_timestamp(window.start)
        # A running run lasts until now: it reaches the window unless the window starts in the future.
        conditions.append(or_(ended_inside, TestRun.ended_at.is_(None)) if now >= window.start else ended_inside)
    return and_(true(), *conditions)
