"""`cpumon runs`: the caller's runs, newest first, with each run's summary."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cpumon.report import format_percent, plural
from cpumon.review.client import LIST_PAGE_MAX, ReviewClient, Run
from cpumon.review.common import compact_duration, format_time, note, print_table, reader_may_leave, with_client
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
                print_table(console, runs_table(runs, console))
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


def runs_table(runs: list[Run], console: Console, *, now: dt.datetime | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("name", overflow="ellipsis", min_width=8, max_width=40)
    table.add_column("host", overflow="ellipsis", min_width=4, max_width=24)
    table.add_column("started", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("samples", justify="right", no_wrap=True)
    table.add_column("avg", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    table.add_column("above threshold", justify="right", no_wrap=True)
    ids = short_ids([run.id for run in runs])
    for run in runs:
        summary = run.summary
        duration = (
            Text(compact_duration(run.duration_s(now))) if run.ended_at is not None else Text("running", style="yellow")
        )
        if summary is None:
            cells: list[Text | str] = ["-", "-", "-", "-"]
        else:
            hot = summary.max_percent is not None and summary.max_percent > summary.threshold_percent
            above = compact_duration(summary.time_above_threshold_s)
            cells = [
                f"{summary.sample_count:,}",
                format_percent(summary.avg_percent),
                Text(format_percent(summary.max_percent), style="red" if hot else ""),
                Text(f"{above} > {summary.threshold_percent:g} %", style="red" if hot else "dim"),
            ]
        table.add_row(
            ids[run.id], Text(run.name), Text(run.hostname), format_time(run.started_at, console), duration, *cells
        )
    return table
