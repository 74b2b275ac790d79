"""The end-of-run report: its figures (pure) and its Rich table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from cpumon.formats import (
    above_share,
    breakdown_text,
    format_duration,
    format_percent,
    format_when,
    hot_percent,
    time_above_text,
)
from cpumon.stats import RunStats
from cpumon.threshold import ThresholdOn


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
    samples_lost: int = 0  # neither stored nor kept: the spool could not be written
    threshold_on: ThresholdOn = ThresholdOn.TOTAL
    avg_user_percent: float | None = None
    avg_system_percent: float | None = None
    avg_iowait_percent: float | None = None
    avg_steal_percent: float | None = None
    max_core_percent: float | None = None
    max_above_s: float | None = None  # the gate (--max-above), when one was set
    first_sample_at: dt.datetime | None = None
    last_sample_at: dt.datetime | None = None

    @property
    def gate_failed(self) -> bool:
        """The time above the threshold exceeded --max-above (exit code 5)."""
        return self.max_above_s is not None and self.time_above_s > self.max_above_s

    @property
    def gate_text(self) -> str | None:
        row = self.gate_row
        return None if row is None else f"time above threshold {format_duration(self.time_above_s)} {row}"

    @property
    def gate_row(self) -> str | None:
        """The report's Gate row: the verdict alone (the row above shows the time), one line in 80 columns."""
        if self.max_above_s is None:
            return None
        verdict = "exceeds" if self.gate_failed else "is within"
        return f"{verdict} --max-above {format_duration(self.max_above_s)}"

    @property
    def total_s(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def above_share(self) -> float | None:
        return above_share(self.time_above_s, self.first_sample_at, self.last_sample_at)


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
    max_above_s: float | None = None,
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
        samples_lost=max(0, stats.count - stored - kept),
        threshold_on=stats.on,
        avg_user_percent=stats.average_of("user_percent"),
        avg_system_percent=stats.average_of("system_percent"),
        avg_iowait_percent=stats.average_of("iowait_percent"),
        avg_steal_percent=stats.average_of("steal_percent"),
        max_core_percent=stats.hottest_core.max,
        max_above_s=max_above_s,
        first_sample_at=stats.first_at,
        last_sample_at=stats.last_at,
    )


def report_json(figures: ReportFigures) -> dict[str, Any]:
    """Every figure of the report, for scripts: times in ISO-8601 UTC, durations in seconds."""
    body: dict[str, Any] = {}
    for item in dataclasses.fields(figures):
        value = getattr(figures, item.name)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat()
        elif isinstance(value, Path | ThresholdOn):
            value = str(value)
        body[item.name] = value
    body["total_s"] = figures.total_s
    body["above_share"] = figures.above_share
    body["gate_failed"] = figures.gate_failed
    return body


def write_report_json(figures: ReportFigures, path: Path) -> None:
    path.write_text(json.dumps(report_json(figures), indent=2) + "\n", encoding="utf-8")


def report_table(figures: ReportFigures, *, local: bool = False) -> Table:
    above_text = time_above_text(figures.time_above_s, figures.first_sample_at, figures.last_sample_at)

    rows: list[tuple[str, Text | str]] = [
        ("Run", figures.run_id),
        ("Name", Text(figures.run_name)),
        ("Started", format_when(figures.started_at, local=local)),
        ("Ended", format_when(figures.ended_at, local=local)),
        ("Total time", format_duration(figures.total_s)),
        ("Samples taken", f"{figures.samples_taken:,}"),
        ("Samples stored", f"{figures.samples_stored:,}"),
        ("Kept for later", _kept_text(figures)),
        ("Average CPU", format_percent(figures.avg_percent)),
        ("Max CPU", hot_percent(figures.max_percent, figures.threshold)),
        ("Breakdown (avg)", breakdown_text(figures)),
        ("Hottest core (max)", format_percent(figures.max_core_percent)),
        ("Threshold", format_percent(figures.threshold) + _watching(figures.threshold_on)),
        ("Time above threshold", above_text),
        ("Alerts", Text(f"{figures.alerts:,}", style="cpumon.warn" if figures.alerts else "")),
        ("Run state", _state_text(figures)),
    ]
    if figures.samples_lost:
        rows.insert(8, ("Lost", Text(f"{figures.samples_lost:,}", style="cpumon.error")))
    if figures.spool_path is not None:
        # The run's spool id on a line of its own: a long folder folds at 80 columns, the id never does.
        rows.append(("Spool", f"{figures.spool_path.name}\nin {figures.spool_path.parent}"))
    if figures.gate_row is not None:
        rows.append(("Gate", Text(figures.gate_row, style="cpumon.error" if figures.gate_failed else "cpumon.ok")))
    return summary_table("cpumon run report", rows)


def summary_table(title: str, rows: list[tuple[str, Text | str]]) -> Table:
    """A run's figures as labelled rows: the one table of the end-of-run report and `cpumon show`."""
    table = Table(title=title, box=box.ROUNDED, show_header=False, title_justify="left")
    table.add_column("what", style="cpumon.label", no_wrap=True)
    table.add_column("value", overflow="fold")  # a long spool path folds rather than losing its end
    for label, value in rows:
        table.add_row(label, value)
    return table


def _watching(on: ThresholdOn) -> str:
    return " (hottest core)" if on is ThresholdOn.CORE else ""


def _kept_text(figures: ReportFigures) -> Text:
    return Text(f"{figures.samples_kept:,}", style="cpumon.warn" if figures.samples_kept else "")


def _state_text(figures: ReportFigures) -> Text:
    if figures.finished:
        return Text("finished", style="cpumon.ok")
    return Text("open: `cpumon sync` or the next start delivers its samples and finishes it", style="cpumon.warn")
