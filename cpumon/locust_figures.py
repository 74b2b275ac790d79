"""Pure logic of the Locust plugin (`cpumon.locust`): per-host figures from the API's window summaries.

No I/O, and no Locust import (which would monkey-patch its importer): the plugin fetches and writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cpumon.wire import RunSummary

COLUMNS = (
    ("host", "Host"),
    ("runs", "Runs"),
    ("samples", "Samples"),
    ("current_percent", "Current %"),
    ("avg_percent", "Avg %"),
    ("max_percent", "Max %"),
    ("threshold_percent", "Threshold %"),
    ("above_s", "Above threshold (s)"),
)


@dataclass(frozen=True)
class RunWindow:
    """One run's summary over the test window, plus its latest sample (the host's current CPU)."""

    hostname: str
    summary: RunSummary
    latest_percent: float | None
    interval_s: float | None = None
    running: bool = False


@dataclass(frozen=True)
class HostFigures:
    host: str
    runs: int
    samples: int
    current_percent: float | None
    avg_percent: float | None
    max_percent: float | None
    threshold_percent: float
    above_s: float

    def row(self) -> dict[str, str]:
        """The figures as shown in every table (the web tab, the console, the HTML report, the CSV)."""
        return {
            "host": self.host or "(no host name)",
            "runs": str(self.runs),
            "samples": str(self.samples),
            "current_percent": _percent(self.current_percent),
            "avg_percent": _percent(self.avg_percent),
            "max_percent": _percent(self.max_percent),
            "threshold_percent": _percent(self.threshold_percent),
            "above_s": f"{self.above_s:.1f}",
        }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def combine(windows: Iterable[RunWindow]) -> list[HostFigures]:
    """Per host, the runs' window summaries added up: samples and time above summed, avg weighted by samples.

    A host recorded by several runs in the window (an agent restarted during the test) counts them all;
    its current CPU is the latest sample of any of them, its threshold that of the latest run.
    """
    by_host: dict[str, list[RunWindow]] = {}
    for window in windows:
        by_host.setdefault(window.hostname, []).append(window)
    return [_host(host, runs) for host, runs in sorted(by_host.items())]


def _host(host: str, runs: Sequence[RunWindow]) -> HostFigures:
    sampled = [run for run in runs if run.summary.sample_count]
    samples = sum(run.summary.sample_count for run in sampled)
    latest = max(
        sampled, key=lambda run: run.summary.last_sample_at or dt.datetime.min.replace(tzinfo=dt.UTC), default=None
    )
    avg = sum((run.summary.avg_percent or 0.0) * run.summary.sample_count for run in sampled)
    return HostFigures(
        host=host,
        runs=len(runs),
        samples=samples,
        current_percent=latest.latest_percent if latest else None,
        avg_percent=avg / samples if samples else None,
        max_percent=max((run.summary.max_percent or 0.0 for run in sampled), default=None),
        threshold_percent=(latest or runs[-1]).summary.threshold_percent,
        above_s=round(sum(run.summary.time_above_threshold_s for run in runs), 6),
    )


def settled(windows: Iterable[RunWindow], end: dt.datetime) -> bool:
    """True when every running run has stored its samples up to `end` (its last one is within an interval).

    Agents upload in batches: right after a test, the last second may still be on its way.
    """
    for window in windows:
        if not window.running or not window.interval_s:
            continue
        last = window.summary.last_sample_at
        if last is None or last < end - dt.timedelta(seconds=window.interval_s):
            return False
    return True


def newly_above(previous: Mapping[str, bool], hosts: Iterable[HostFigures]) -> tuple[dict[str, bool], list[str]]:
    """Which hosts are above their threshold now, and a warning line for each that just went above."""
    now: dict[str, bool] = {}
    warnings = []
    for figures in hosts:
        above = figures.current_percent is not None and figures.current_percent > figures.threshold_percent
        now[figures.host] = above
        if above and not previous.get(figures.host, False):
            warnings.append(
                f"cpumon: {figures.host} is at {figures.current_percent:.1f}% CPU, "
                f"above its threshold of {figures.threshold_percent:g}%"
            )
    return now, warnings


def too_hot(hosts: Iterable[HostFigures], max_above_s: float | None) -> list[str]:
    """One line per host that spent more than `max_above_s` above its threshold (the CI gate)."""
    if max_above_s is None:
        return []
    return [
        f"cpumon: {h.host} spent {h.above_s:.1f} s above {h.threshold_percent:g}% CPU "
        f"(more than --cpumon-max-above {max_above_s:g} s)"
        for h in hosts
        if h.above_s > max_above_s
    ]


def text_table(hosts: Sequence[HostFigures], start: dt.datetime, end: dt.datetime) -> str:
    """The end-of-test table, aligned like Locust's own summary tables."""
    titles = [title for _, title in COLUMNS]
    rows = [[figures.row()[key] for key, _ in COLUMNS] for figures in hosts]
    widths = [max(len(cell) for cell in column) for column in zip(titles, *rows, strict=False)]
    line = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))])

    head = f"System under test (cpumon), {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC"
    body = [render(row) for row in rows] or ["(no cpumon run was recording on these hosts during the test)"]
    return "\n".join([head, render(titles), line, *body, line])


def csv_text(hosts: Sequence[HostFigures], start: dt.datetime, end: dt.datetime) -> str:
    """The table as CSV, each row with the exact window it covers (to ask the API for the same figures)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(key for key, _ in COLUMNS), "window_from", "window_to"])
    for figures in hosts:
        writer.writerow([*(figures.row()[key] for key, _ in COLUMNS), start.isoformat(), end.isoformat()])
    return buffer.getvalue()


def html_section(hosts: Sequence[HostFigures], start: dt.datetime, end: dt.datetime) -> str:
    """The table as a self-contained HTML section for Locust's report (escaped; no script, no outside style)."""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(figures.row()[key])}</td>" for key, _ in COLUMNS) + "</tr>"
        for figures in hosts
    )
    period = f"{start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC"
    return (
        '<section id="cpumon" style="font-family:sans-serif;max-width:1200px;margin:2em auto">'
        f"<h2>System under test (cpumon)</h2><p>{html.escape(period)}</p>"
        '<table border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def insert_before_body_end(document: str, section: str) -> str:
    """`section` placed at the end of the page's body (Locust's report has no extension point for tables)."""
    at = document.lower().rfind("</body>")
    return document + section if at < 0 else document[:at] + section + document[at:]
