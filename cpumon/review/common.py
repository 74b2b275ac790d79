"""What the review commands share: running one async session against the API, and how values read."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from cpumon.credentials import Credentials
from cpumon.formats import format_when
from cpumon.review.client import ReviewClient
from cpumon.settings import AgentSettings
from cpumon.theme import interactive

T = TypeVar("T")
WIDEST_PLAIN_TABLE = 10_000


def with_client(settings: AgentSettings, work: Callable[[ReviewClient], Awaitable[T]]) -> T:
    """Log in as the monitor does (same settings, same password rules, same saved session) and run `work`."""
    credentials = Credentials(settings)

    async def session() -> T:
        async with ReviewClient.open(settings, credentials) as client:
            return await work(client)

    return asyncio.run(session())


def format_time(when: dt.datetime, console: Console, *, seconds: bool = True) -> str:
    """A date and time as this console shows them (local on a terminal, ISO-8601 UTC when piped)."""
    return format_when(when, local=interactive(console), seconds=seconds)


def print_table(console: Console, table: Table) -> None:
    """A box-drawn table on a terminal; piped, plain aligned columns at their natural width (no wrapping)."""
    if interactive(console):
        console.print(table)
        return
    table.box = None
    table.pad_edge = False
    table.collapse_padding = False  # two spaces between columns: names may hold one
    natural = Measurement.get(console, console.options.update_width(WIDEST_PLAIN_TABLE), table).maximum
    # Console.print(width=...) never goes beyond the console's width (80 on a pipe): widen it for this table.
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(table, soft_wrap=False)
    finally:
        console.width = width


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Output piped into `head` and the like: a reader that stops early is not an error."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so that Python's flush at exit does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def note(console: Console, text: str) -> None:
    """A remark about the output (not part of it): on the terminal, else on stderr so pipes get only data."""
    if interactive(console):
        console.print(text, style="cpumon.muted")
    else:
        print(text, file=sys.stderr)
