"""`cpumon runs`: the caller's runs, newest first, with each run's summary."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cpumon.report import format_percent, plural
from cpumon.review.client import LIST_PAGE_MAX, ReviewClient, Run
from cpumon.review.common import (
    compact_duration,
    format_time,
    interactive,
    note,
    print_table,
    reader_may_leave,
    with_client,
)
from cpumon.review.resolve import short_ids
from cpumon.settings import AgentSettings

DEFAULT_LIMIT = 20


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
        runs, total = with_client(settings, lambda client: fetch(client, limit=args.limit, every=args.all))
        with reader_may_leave():
            if args.json:
                print(json.dumps([as_json(run) for run in runs], indent=2), file=console.file)
            elif not runs:
                note(console, "no runs yet: start one with `cpumon`")
            else:
                print_table(console, fitting_table(runs, console))
                if len(runs) < total:
                    note(console, f"newest {len(runs)} of {plural(total, 'run')}: --limit N or --all for more")
        return 0


async def fetch(client: ReviewClient, *, limit: int, every: bool) -> tuple[list[Run], int]:
    """The runs to show, newest first, with summaries; and how many runs the caller has."""
    if every:
        runs = [run async for run in client.all_runs()]
        total = len(runs)
    else:
        page = await client.list_runs(limit=limit)
        runs, total = page.items, page.total
    return await client.runs_with_summaries(runs), total


def as_json(run: Run) -> dict[str, Any]:
    body = dict(run.raw or {})
    body["duration_s"] = round(run.duration_s(), 6) if run.ended_at is not None else None
    return body


OPTIONAL_COLUMNS = ("host", "started")  # left out, in this order, when a terminal is too narrow
NAME_FITS = 14
NAME_MAX = 40
WIDEST = 10_000


def fitting_table(runs: list[Run], console: Console) -> Table:
    """The runs table; on a narrow terminal without host, then start, rather than cropping figures."""
    if not interactive(console):
        return runs_table(runs, console)  # piped: every column, at its natural width
    wide = console.options.update_width(WIDEST)
    for last in range(len(OPTIONAL_COLUMNS) + 1):
        without = frozenset(OPTIONAL_COLUMNS[:last])
        # Fits if it does with names folded to NAME_FITS characters (the other columns never wrap).
        narrowed = runs_table(runs, console, without=without, name_width=NAME_FITS)
        if Measurement.get(console, wide, narrowed).maximum <= console.width:
            break
    return runs_table(runs, console, without=without)


def runs_table(
    runs: list[Run],
    console: Console,
    *,
    now: dt.datetime | None = None,
    without: frozenset[str] = frozenset(),
    name_width: int = NAME_MAX,
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, collapse_padding=True)
    columns: list[tuple[str, dict[str, Any]]] = [
        ("id", {"no_wrap": True, "style": "cyan"}),
        ("name", {"overflow": "fold", "min_width": 10, "max_width": name_width}),
        ("host", {"overflow": "ellipsis", "min_width": 8, "max_width": 24}),
        ("started", {"no_wrap": True}),
        ("duration", {"justify": "right", "no_wrap": True}),
        ("samples", {"justify": "right", "no_wrap": True}),
        ("avg", {"justify": "right", "no_wrap": True}),
        ("max", {"justify": "right", "no_wrap": True}),
        ("above threshold", {"justify": "right", "no_wrap": True}),
    ]
    for header, options in columns:
        if header not in without:
            table.add_column(header, **options)
    ids = short_ids([run.id for run in runs])
    for run in runs:
        summary = run.summary
        duration = (
            Text(compact_duration(run.duration_s(now))) if run.ended_at is not None else Text("running", style="yellow")
        )
        if summary is None:
            figures: list[Text | str] = ["-", "-", "-", "-"]
        else:
            hot = summary.max_percent is not None and summary.max_percent > summary.threshold_percent
            above = compact_duration(summary.time_above_threshold_s)
            figures = [
                f"{summary.sample_count:,}",
                format_percent(summary.avg_percent),
                Text(format_percent(summary.max_percent), style="red" if hot else ""),
                Text(f"{above} > {summary.threshold_percent:g} %", style="red" if hot else "dim"),
            ]
        cells: dict[str, Text | str] = {
            "id": ids[run.id],
            "name": Text(run.name),
            "host": Text(run.hostname),
            "started": format_time(run.started_at, console, seconds=False),
            "duration": duration,
        }
        optional = [value for header, value in cells.items() if header not in without]
        table.add_row(*optional, *figures)
    return table
