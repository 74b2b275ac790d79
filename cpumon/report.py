"""The end-of-run report: its figures (pure) and its Rich table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich import box
from rich.table import Table
from rich.text import Text

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
        if self.max_above_s is None:
            return None
        verdict = "exceeds" if self.gate_failed else "is within"
        return (
            f"time above threshold {format_duration(self.time_above_s)} {verdict} "
            f"--max-above {format_duration(self.max_above_s)}"
        )

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


def above_share(time_above_s: float, first: dt.datetime | None, last: dt.datetime | None) -> float | None:
    """Time above threshold as a fraction of the sampled time (first to last sample): the one
    definition the report and `cpumon show` use, since time above is only ever measured between samples."""
    covered = (last - first).total_seconds() if first is not None and last is not None else 0.0
    return time_above_s / covered if covered > 0 else None


def time_above_text(time_above_s: float, first: dt.datetime | None, last: dt.datetime | None) -> str:
    """12.0 s (40 % of the sampled time)."""
    text = format_duration(time_above_s)
    share = above_share(time_above_s, first, last)
    return text if share is None else f"{text} ({share * 100:.0f} % of the sampled time)"


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


def local_time(when: dt.datetime, *, date: bool = False) -> str:
    """Local time with its zone, the one convention on a terminal: 14:03:07 CET."""
    return when.astimezone().strftime(("%Y-%m-%d " if date else "") + "%H:%M:%S %Z")


def format_when(when: dt.datetime, *, local: bool) -> str:
    """Local time with its zone on a terminal; ISO-8601 UTC when piped."""
    if local:
        return local_time(when, date=True)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def report_table(figures: ReportFigures, *, local: bool = False) -> Table:
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
        ("Max CPU", Text(format_percent(figures.max_percent), style="red" if above_threshold else "")),
        ("Breakdown (avg)", breakdown_text(figures)),
        ("Hottest core (max)", format_percent(figures.max_core_percent)),
        ("Threshold", format_percent(figures.threshold) + _watching(figures.threshold_on)),
        ("Time above threshold", above_text),
        ("Alerts", Text(f"{figures.alerts:,}", style="yellow" if figures.alerts else "")),
        ("Run state", _state_text(figures)),
    ]
    if figures.samples_lost:
        rows.insert(8, ("Lost", Text(f"{figures.samples_lost:,}", style="bold red")))
    if figures.spool_path is not None:
        rows.append(("Spool", str(figures.spool_path)))
    if figures.gate_text is not None:
        rows.append(("Gate", Text(figures.gate_text, style="bold red" if figures.gate_failed else "green")))
    for label, value in rows:
        table.add_row(label, value)
    return table


class Breakdown(Protocol):
    """The breakdown's averages: a run's report figures, or a stored run's summary (`cpumon show`)."""

    @property
    def avg_user_percent(self) -> float | None: ...
    @property
    def avg_system_percent(self) -> float | None: ...
    @property
    def avg_iowait_percent(self) -> float | None: ...
    @property
    def avg_steal_percent(self) -> float | None: ...


def breakdown_text(figures: Breakdown) -> str:
    """user 30.1 %, system 5.2 %, iowait 0.1 %, steal 0.0 % (the parts this platform measures)."""
    parts = [
        ("user", figures.avg_user_percent),
        ("system", figures.avg_system_percent),
        ("iowait", figures.avg_iowait_percent),
        ("steal", figures.avg_steal_percent),
    ]
    shown = [f"{label} {format_percent(value)}" for label, value in parts if value is not None]
    return ", ".join(shown) or "-"


def _watching(on: ThresholdOn) -> str:
    return " (hottest core)" if on is ThresholdOn.CORE else ""


def _kept_text(figures: ReportFigures) -> Text:
    return Text(f"{figures.samples_kept:,}", style="yellow" if figures.samples_kept else "")


def _state_text(figures: ReportFigures) -> Text:
    if figures.finished:
        return Text("finished", style="green")
    return Text("open: `cpumon sync` or the next start delivers its samples and finishes it", style="yellow")
