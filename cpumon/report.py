"""The end-of-run report: its figures (pure) and its Rich table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from cpumon.stats import RunStats


@dataclass(frozen=True)
class ReportFigures:
    run_id: str
    run_name: str
    started_at: dt.datetime
    ended_at: dt.datetime
    samples_taken: int
    samples_stored: int
    samples_kept: int
    avg_percent: float | None
    max_percent: float | None
    threshold: float
    time_above_s: float
    alerts: int
    finished: bool  # the API has the run as finished
    spool_path: Path | None = None  # where kept samples wait, when there are any

    @property
    def total_s(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def above_share(self) -> float | None:
        """Time above threshold as a fraction of the time covered by samples."""
        return self.time_above_s / self.total_s if self.total_s > 0 else None


def build_report(
    *,
    run_id: str,
    run_name: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    stats: RunStats,
    alerts: int,
    stored: int,
    kept: int,
    finished: bool,
    spool_path: Path | None = None,
) -> ReportFigures:
    return ReportFigures(
        run_id=run_id,
        run_name=run_name,
        started_at=started_at,
        ended_at=ended_at,
        samples_taken=stats.count,
        samples_stored=stored,
        samples_kept=kept,
        avg_percent=stats.avg_percent,
        max_percent=stats.max_percent,
        threshold=stats.threshold,
        time_above_s=stats.time_above_s,
        alerts=alerts,
        finished=finished,
        spool_path=spool_path if kept or not finished else None,
    )


def format_duration(seconds: float) -> str:
    """12.3 s, 4 min 05.0 s, 2 h 03 min 04 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)} min {rest:04.1f} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def format_percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def format_utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_table(figures: ReportFigures) -> Table:
    table = Table(
        title="cpumon run report",
        box=box.ROUNDED,
        show_header=False,
        title_justify="left",
        pad_edge=True,
    )
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")  # a long spool path folds rather than losing its end

    above_threshold = figures.max_percent is not None and figures.max_percent > figures.threshold
    share = figures.above_share
    above_text = f"~ {format_duration(figures.time_above_s)}"
    if share is not None:
        above_text += f" ({share:.0%} of the run)"

    rows: list[tuple[str, Text | str]] = [
        ("Run", figures.run_id),
        ("Name", Text(figures.run_name)),
        ("Started", format_utc(figures.started_at)),
        ("Ended", format_utc(figures.ended_at)),
        ("Total time", format_duration(figures.total_s)),
        ("Samples taken", str(figures.samples_taken)),
        ("Samples stored", str(figures.samples_stored)),
        ("Kept for later", _kept_text(figures)),
        ("Average CPU", format_percent(figures.avg_percent)),
        ("Max CPU", Text(format_percent(figures.max_percent), style="red" if above_threshold else "")),
        ("Threshold", format_percent(figures.threshold)),
        ("Time above threshold", above_text),
        ("Alerts", Text(str(figures.alerts), style="yellow" if figures.alerts else "")),
        ("Run state", _state_text(figures)),
    ]
    if figures.spool_path is not None:
        rows.append(("Spool", str(figures.spool_path)))
    for label, value in rows:
        table.add_row(label, value)
    return table


def _kept_text(figures: ReportFigures) -> Text:
    return Text(str(figures.samples_kept), style="yellow" if figures.samples_kept else "")


def _state_text(figures: ReportFigures) -> Text:
    if figures.finished:
        return Text("finished", style="green")
    return Text("open: the next start of cpumon delivers its samples and finishes it", style="yellow")
