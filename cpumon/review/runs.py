"""`cpumon runs`: the caller's runs, newest first, with each run's summary."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cpumon.formats import compact_duration, format_percent, hot_percent, hot_style, plural
from cpumon.recovery import waiting_here
from cpumon.review.client import LIST_PAGE_MAX, ReviewClient, Run
from cpumon.review.common import format_time, note, print_table, reader_may_leave, with_client
from cpumon.review.resolve import NEARLY_UNIQUE, short_ids
from cpumon.settings import AgentSettings
from cpumon.spool import Spool
from cpumon.theme import interactive

DEFAULT_LIMIT = 20
IDS_FETCHED_UP_TO = 5_000  # more runs: ids shown with NEARLY_UNIQUE digits, not checked against all


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= LIST_PAGE_MAX:
        raise argparse.ArgumentTypeError(f"must be 1 to {LIST_PAGE_MAX}")
    return value


class RunsCommand:
    name = "runs"
    help = "list your test runs, newest first, with samples, average, max and time above threshold"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--limit", type=_limit, default=DEFAULT_LIMIT, metavar="N", help=f"newest N runs (default {DEFAULT_LIMIT})"
        )
        parser.add_argument("--all", action="store_true", help="every run, page by page (ignores --limit)")
        parser.add_argument("--json", action="store_true", help="JSON for scripts: a list of runs with summaries")

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        listing = with_client(settings, lambda client: fetch(client, limit=args.limit, every=args.all))
        runs, total = listing.runs, listing.total
        waiting = waiting_here(Spool(settings.spool_dir), api_url=settings.api_url, username=settings.username or "")
        with reader_may_leave():
            if args.json:
                print(json.dumps([as_json(run, waiting) for run in runs], indent=2), file=console.file)
            elif not runs:
                note(console, "no runs yet: start one with `cpumon`")
            else:
                print_table(console, fitting_table(runs, shown_ids(listing), console, waiting))
                if len(runs) < total:
                    note(console, f"newest {len(runs)} of {plural(total, 'run')}: --limit N or --all for more")
            if None in waiting:
                note(
                    console,
                    f"{plural(waiting[None], 'sample')} of runs not created at the API yet wait here: `cpumon sync`",
                )
        return 0


@dataclass(frozen=True)
class Listing:
    runs: list[Run]  # newest first, with summaries
    total: int  # how many runs the caller has
    other_ids: list[str] | None  # every run id when only some are listed; None: too many to fetch


async def fetch(client: ReviewClient, *, limit: int, every: bool) -> Listing:
    """The runs to show, and enough of the others to make the ids shown unambiguous."""
    other_ids: list[str] | None = []
    if every:
        runs = [run async for run in client.all_runs(summaries=True)]
        total = len(runs)
    else:
        page = await client.list_runs(limit=limit, summaries=True)
        runs, total = page.items, page.total
        if total > len(runs):
            other_ids = [run.id async for run in client.all_runs()] if total <= IDS_FETCHED_UP_TO else None
    return Listing(runs, total, other_ids)


def shown_ids(listing: Listing) -> dict[str, str]:
    """Each listed run's id as short as `show`/`export` can still resolve it."""
    listed = [run.id for run in listing.runs]
    if listing.other_ids is None:
        return short_ids(listed, minimum=NEARLY_UNIQUE)
    return short_ids(listed, among=listing.other_ids)


def as_json(run: Run, waiting: Mapping[str | None, int] | None = None) -> dict[str, Any]:
    body = dict(run.raw or {})
    body["duration_s"] = round(run.duration_s(), 6) if run.ended_at is not None else None
    if waiting and run.id in waiting:
        body["samples_waiting_here"] = waiting[run.id]  # in this machine's spool: `cpumon sync` delivers them
    return body


BREAKDOWN = "usr/sys/io/st %"
CORE_MAX = "core max"


@dataclass(frozen=True)
class Narrowing:
    """How much a table gives up to fit a terminal: columns left out, and short cells."""

    without: frozenset[str] = frozenset()
    #: "above threshold" as the time alone (header "above"), waiting runs as "N waiting" (the note below says where).
    compact: bool = False


# Tried in this order on a terminal until the table fits: the least telling columns go first, then
# the longest cells get short, then the hottest core. Never a column cut to a few characters.
_DROPPED = (BREAKDOWN, "host", "started")
NARROWINGS = (
    *(Narrowing(frozenset(_DROPPED[:count])) for count in range(len(_DROPPED) + 1)),
    Narrowing(frozenset(_DROPPED), compact=True),
    Narrowing(frozenset({*_DROPPED, CORE_MAX}), compact=True),
)
NAME_FITS = 14
NAME_MAX = 40
WIDEST = 10_000


def fitting_table(
    runs: list[Run], ids: dict[str, str], console: Console, waiting: Mapping[str | None, int] | None = None
) -> Table:
    """The runs table; on a narrow terminal it gives up what `NARROWINGS` says rather than cropping figures."""
    if not interactive(console):
        return runs_table(runs, ids, console, waiting=waiting)  # piped: every column, at its natural width
    wide = console.options.update_width(WIDEST)
    for narrowing in NARROWINGS:
        # Fits if it does with names folded to NAME_FITS characters (the other columns never wrap).
        narrowed = runs_table(runs, ids, console, narrowing=narrowing, name_width=NAME_FITS, waiting=waiting)
        if Measurement.get(console, wide, narrowed).maximum <= console.width:
            break
    return runs_table(runs, ids, console, narrowing=narrowing, waiting=waiting)


def runs_table(
    runs: list[Run],
    ids: dict[str, str],
    console: Console,
    *,
    now: dt.datetime | None = None,
    narrowing: Narrowing = Narrowing(),
    name_width: int = NAME_MAX,
    waiting: Mapping[str | None, int] | None = None,
) -> Table:
    without, compact = narrowing.without, narrowing.compact
    table = Table(box=box.SIMPLE_HEAD, header_style="cpumon.label", pad_edge=False, collapse_padding=True)
    columns: list[tuple[str, dict[str, Any]]] = [
        ("id", {"no_wrap": True, "style": "cpumon.id"}),
        ("name", {"overflow": "fold", "min_width": 10, "max_width": name_width}),
        ("host", {"overflow": "ellipsis", "min_width": 8, "max_width": 24}),
        ("started", {"no_wrap": True}),
        ("duration", {"justify": "right", "no_wrap": True}),
        ("samples", {"justify": "right", "no_wrap": True}),
        ("avg", {"justify": "right", "no_wrap": True}),
        ("max", {"justify": "right", "no_wrap": True}),
        ("above" if compact else "above threshold", {"justify": "right", "no_wrap": True}),
    ]
    breakdown = any(run.summary is not None and run.summary.has_breakdown for run in runs)
    if breakdown:  # the hottest core and the breakdown, for runs recorded by an agent that sends them
        columns.append((CORE_MAX, {"justify": "right", "no_wrap": True}))
        columns.append((BREAKDOWN, {"justify": "right", "no_wrap": True}))
    for header, options in columns:
        if header not in without:
            table.add_column(header, **options)
    for run in runs:
        summary = run.summary
        duration = _duration_cell(run, now, waiting or {}, compact=compact)
        if summary is None:
            figures: list[Text | str] = ["-", "-", "-", "-"]
        else:
            hot = summary.max_percent is not None and summary.max_percent > summary.threshold_percent
            above = compact_duration(summary.time_above_threshold_s)
            if not compact:
                above += f" > {summary.threshold_percent:g} %"
            figures = [
                f"{summary.sample_count:,}",
                format_percent(summary.avg_percent),
                hot_percent(summary.max_percent, summary.threshold_percent),
                Text(above, style=hot_style(hot, "cpumon.muted")),
            ]
        cells: dict[str, Text | str] = {
            "id": ids[run.id],
            "name": Text(run.name),
            "host": Text(run.hostname),
            "started": format_time(run.started_at, console, seconds=False),
            "duration": duration,
        }
        optional = [value for header, value in cells.items() if header not in without]
        extra = _breakdown_cells(run, without) if breakdown else []
        table.add_row(*optional, *figures, *extra)
    return table


def _duration_cell(
    run: Run, now: dt.datetime | None, waiting: Mapping[str | None, int], *, compact: bool = False
) -> Text:
    """The duration; for an open run, what keeps it open: recording, or what this machine's spool still holds."""
    if run.ended_at is not None:
        return Text(compact_duration(run.duration_s(now)))
    if run.id in waiting:
        count = waiting[run.id]
        # Not running: `cpumon sync` (or the next start) delivers them and finishes the run.
        if compact:
            return Text(f"{count:,} waiting" if count else "end waiting", style="cpumon.warn")
        return Text(f"{plural(count, 'sample')} waiting here" if count else "end waiting here", style="cpumon.warn")
    return Text("running", style="cpumon.warn")


def _breakdown_cells(run: Run, without: frozenset[str]) -> list[Text | str]:
    """The hottest core's max and 'user/system/iowait/steal' averages, '-' where the run has none."""
    summary = run.summary
    if summary is None or not summary.has_breakdown:
        cells: list[Text | str] = ["-", "-"]
    else:
        parts = (
            summary.avg_user_percent,
            summary.avg_system_percent,
            summary.avg_iowait_percent,
            summary.avg_steal_percent,
        )
        shares = "/".join("-" if value is None else f"{value:.0f}" for value in parts)
        cells = [hot_percent(summary.max_core_percent, summary.threshold_percent), shares]
    return [cell for header, cell in zip((CORE_MAX, BREAKDOWN), cells, strict=True) if header not in without]
