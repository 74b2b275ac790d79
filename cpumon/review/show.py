"""`cpumon show RUN`: a run's summary (computed by the API in SQL) and a chart of its CPU usage."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cpumon.formats import (
    breakdown_text,
    format_duration,
    format_percent,
    format_seconds,
    hot_percent,
    hot_style,
    time_above_text,
)
from cpumon.report import summary_table
from cpumon.review import chart
from cpumon.review.client import Bucket, ReviewClient, Run
from cpumon.review.common import format_time, reader_may_leave, with_client
from cpumon.review.resolve import RUN_HELP, resolve_run
from cpumon.settings import AgentSettings

DEFAULT_HEIGHT = chart.DEFAULT_HEIGHT
MIN_HEIGHT, MAX_HEIGHT = 4, 50


def _height(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not MIN_HEIGHT <= value <= MAX_HEIGHT:
        raise argparse.ArgumentTypeError(f"must be {MIN_HEIGHT} to {MAX_HEIGHT}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 100:  # also refuses nan
        raise argparse.ArgumentTypeError("must be 0 to 100")
    return value


@dataclass(frozen=True)
class Shown:
    run: Run
    buckets: list[Bucket]


class ShowCommand:
    name = "show"
    help = "a run's summary and a chart of its CPU usage over time"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", metavar="RUN", help=RUN_HELP)
        parser.add_argument(
            "--above",
            type=_percent,
            default=None,
            metavar="PERCENT",
            help="threshold for the time above it and the chart's line (default: the run's own)",
        )
        parser.add_argument(
            "--height", type=_height, default=DEFAULT_HEIGHT, metavar="ROWS", help="chart height in rows"
        )

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        width = max(chart.MIN_WIDTH, console.width - chart.MARGIN)

        async def work(client: ReviewClient) -> Shown:
            run = await resolve_run(client, args.run, threshold=args.above)
            count = run.summary.sample_count if run.summary else 0
            return Shown(run, await client.series(run.id, width) if count else [])

        shown = with_client(settings, work)
        with reader_may_leave():
            console.print(run_table(shown.run, console))
            console.print()
            for line in chart_lines(shown, width=width, height=args.height):
                console.print(line, no_wrap=True, overflow="crop", soft_wrap=False)
        return 0


def chart_lines(shown: Shown, *, width: int, height: int) -> list[Text]:
    summary = shown.run.summary
    if summary is None or summary.first_sample_at is None or summary.last_sample_at is None or not shown.buckets:
        return [Text("no samples stored for this run: nothing to chart", style="cpumon.muted")]
    first, last = summary.first_sample_at, summary.last_sample_at
    lines = [Text("CPU %", style="cpumon.label")]
    lines += chart.render(
        shown.buckets,
        first=first,
        last=last,
        threshold=summary.threshold_percent,
        width=width,
        height=height,
    )
    hottest_core = any(bucket.max_core_percent is not None for bucket in shown.buckets)
    lines.append(
        chart.legend(
            threshold=summary.threshold_percent,
            width=width,
            first=first,
            last=last,
            height=height,
            hottest_core=hottest_core,
        )
    )
    return lines


def run_table(run: Run, console: Console) -> Table:
    rows: list[tuple[str, Text | str]] = [
        ("Run", run.id),
        ("Name", Text(run.name)),
        ("Host", Text(run.hostname or "-")),
        ("Started", format_time(run.started_at, console)),
        ("Ended", format_time(run.ended_at, console) if run.ended_at else Text("running", style="cpumon.warn")),
        ("Duration", format_duration(run.duration_s()) + ("" if run.ended_at else " so far")),
        ("Interval", "-" if run.interval_s is None else format_seconds(run.interval_s)),
    ]
    summary = run.summary
    if summary is not None:
        above = time_above_text(summary.time_above_threshold_s, summary.first_sample_at, summary.last_sample_at)
        rows += [
            ("Samples", f"{summary.sample_count:,}"),
            ("First sample", format_time(summary.first_sample_at, console) if summary.first_sample_at else "-"),
            ("Last sample", format_time(summary.last_sample_at, console) if summary.last_sample_at else "-"),
            ("Average CPU", format_percent(summary.avg_percent)),
            ("Min CPU", format_percent(summary.min_percent)),
            ("Max CPU", hot_percent(summary.max_percent, summary.threshold_percent)),
            ("Threshold", format_percent(summary.threshold_percent)),
            ("Time above threshold", Text(above, style=hot_style(summary.time_above_threshold_s > 0))),
        ]
        if summary.has_breakdown:
            rows += [
                ("Breakdown (avg)", breakdown_text(summary)),
                ("Hottest core (max)", format_percent(summary.max_core_percent)),
            ]
    return summary_table(f"run {run.name}", rows)
