"""Pure logic of the plugin's chart: a host's CPU over the test above Locust's requests/s and p95 response
time, on one time axis, as inline SVG (no script, no outside file: Locust's HTML report stays one
self-contained file that opens offline). Also the capacity table and the report's section around both.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cpumon import locust_capacity
from cpumon.locust_capacity import Capacity
from cpumon.locust_load import LoadInterval

WIDTH, LEFT, RIGHT = 880, 64, 16
PANEL_H, GAP, TOP, BOTTOM = 110, 26, 50, 30
PLOT_W = WIDTH - LEFT - RIGHT
COLOURS = {"cpu": "#d9480f", "rps": "#1971c2", "p95": "#7048e8", "threshold": "#c92a2a", "event": "#495057"}
NICE_STEPS_S = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True)
class Marker:
    """An event on the chart's time axis."""

    at: dt.datetime
    text: str


@dataclass(frozen=True)
class Panel:
    title: str
    colour: str
    values: list[float | None]
    top: float  # the value at the panel's top edge
    line: float | None = None  # a dashed horizontal line (the threshold)


def host_chart(
    host: str,
    intervals: Sequence[LoadInterval],
    threshold: float,
    markers: Sequence[Marker] = (),
    span: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """One SVG: the host's CPU %, then requests/s, then p95 ms, each a point per interval, events as lines."""
    start, end = span or ((intervals[0].start, intervals[-1].end) if intervals else (_epoch(), _epoch()))
    seconds = max((end - start).total_seconds(), 1e-9)

    def x_of(when: dt.datetime) -> float:
        return LEFT + PLOT_W * min(max((when - start).total_seconds() / seconds, 0.0), 1.0)

    xs = [x_of(i.start + (i.end - i.start) / 2) for i in intervals]
    cpu = [None if (share := i.cpu.get(host)) is None else share.avg_percent for i in intervals]
    rps = [i.rps for i in intervals]
    p95 = [i.p95_ms for i in intervals]
    panels = [
        Panel("CPU %", COLOURS["cpu"], list(cpu), 100.0, threshold),
        Panel("requests/s", COLOURS["rps"], list(rps), _headroom(rps)),
        Panel("p95 response time (ms)", COLOURS["p95"], list(p95), _headroom(p95)),
    ]
    height = TOP + len(panels) * (PANEL_H + GAP) - GAP + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" font-family="sans-serif" font-size="11" data-host="{_e(host)}">',
        f"<title>{_e(f'{host}: CPU, requests/s and p95 response time over the test')}</title>",
        f'<text x="{LEFT}" y="14" font-size="13" font-weight="bold">{_e(host)}</text>',
        f'<text x="{WIDTH - RIGHT}" y="14" text-anchor="end" fill="#666">{_e(_period(start, end))}</text>',
    ]
    for k, panel in enumerate(panels):
        parts += _panel(panel, xs, TOP + k * (PANEL_H + GAP))
    parts += _markers(markers, x_of, height)
    parts += _time_axis(seconds, height - BOTTOM)
    parts.append("</svg>")
    return "".join(parts)


def _panel(panel: Panel, xs: Sequence[float], top: float) -> list[str]:
    def y_of(value: float) -> float:
        return top + PANEL_H * (1 - min(max(value / panel.top, 0.0), 1.0))

    bottom = top + PANEL_H
    parts = [
        f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{PANEL_H}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="{LEFT + 4}" y="{top + 12}" fill="{panel.colour}" font-weight="bold">{_e(panel.title)}</text>',
        f'<text x="{LEFT - 4}" y="{top + 4}" text-anchor="end" fill="#666">{_number(panel.top)}</text>',
        f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end" fill="#666">0</text>',
    ]
    if panel.line is not None:
        y = y_of(panel.line)
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{COLOURS["threshold"]}" stroke-dasharray="5 3"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{COLOURS["threshold"]}">'
            f"{_number(panel.line)}</text>"
        )
    for segment in _segments(xs, panel.values):
        points = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in segment)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{panel.colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y_of(v):.1f}" r="2" fill="{panel.colour}"/>' for x, v in segment]
    return parts


def _segments(xs: Sequence[float], values: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """Runs of points with a value: an interval without one (no sample) leaves a gap in the line."""
    segments: list[list[tuple[float, float]]] = [[]]
    for x, value in zip(xs, values, strict=True):
        if value is None:
            segments.append([])
        else:
            segments[-1].append((x, value))
    return [s for s in segments if s]


def _markers(markers: Sequence[Marker], x_of: Callable[[dt.datetime], float], height: float) -> list[str]:
    parts = []
    for k, marker in enumerate(markers):
        x = x_of(marker.at)
        y = TOP - 4 - 12 * (k % 2)  # alternate heights: labels of close events overlap less
        # In the right half a label ends at its line, so the last one ("test stop") stays inside the chart.
        label = f'x="{x - 3:.1f}" text-anchor="end"' if x > LEFT + PLOT_W / 2 else f'x="{x + 3:.1f}"'
        parts.append(
            f'<g class="event"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 2}" y2="{height - BOTTOM}" '
            f'stroke="{COLOURS["event"]}" stroke-dasharray="2 3"/>'
            f'<text {label} y="{y}" fill="{COLOURS["event"]}">{_e(marker.text)}</text></g>'
        )
    return parts


def _time_axis(seconds: float, y: float) -> list[str]:
    step = next((s for s in NICE_STEPS_S if seconds / s <= 8), NICE_STEPS_S[-1])
    parts = []
    tick = 0
    while tick <= seconds + 1e-6:
        x = LEFT + PLOT_W * tick / seconds
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}" stroke="#666"/>'
            f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle" fill="#666">{_clock(tick)}</text>'
        )
        tick += step
    return parts


def _headroom(values: Sequence[float | None]) -> float:
    peak = max((v for v in values if v is not None), default=0.0)
    return peak * 1.1 if peak > 0 else 1.0


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _clock(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _period(start: dt.datetime, end: dt.datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC (time since the test's start)"


def _epoch() -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def capacity_table(capacities: Sequence[Capacity]) -> str:
    """The capacity figures as an HTML table (escaped)."""
    head = "<th>Host</th>" + "".join(f"<th>{_e(title)}</th>" for _, title in locust_capacity.COLUMNS)
    rows = "".join(
        f"<tr><td>{_e(c.host)}</td>"
        + "".join(f"<td>{_e(c.row()[key])}</td>" for key, _ in locust_capacity.COLUMNS)
        + "</tr>"
        for c in capacities
    )
    return (
        '<table class="cpumon-capacity" border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def capacity_section(capacities: Sequence[Capacity], charts: Sequence[str]) -> str:
    """The report's capacity table and one chart per host, as a self-contained HTML section."""
    method = (
        "Each point is one interval of the test: its requests/s and the host's average CPU. "
        "A least-squares line through them gives the CPU per 1,000 requests/s and the requests/s at which "
        "CPU would reach the threshold; r² says how well the line fits (1 is perfect)."
    )
    return (
        '<section id="cpumon-capacity" style="font-family:sans-serif;max-width:1200px;margin:2em auto">'
        f"<h2>Capacity (cpumon)</h2><p>{_e(method)}</p>{capacity_table(capacities)}"
        + "".join(f'<div class="cpumon-chart" style="margin:1em 0">{chart}</div>' for chart in charts)
        + "</section>"
    )
