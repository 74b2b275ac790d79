"""A terminal chart of CPU usage over time, drawn with Rich text (no plotting dependency).

One column per time bucket of the run (the API downsamples in SQL, so a run of any length costs
one small request): a solid area up to the bucket's average, a dot at its maximum (so a short
spike still shows in a long run), a dashed mark at its hottest core's maximum when the samples
carry it (a single-threaded bottleneck hides in the total), and the threshold as a line across. Empty columns
between buckets take the next bucket's value — a sample stands for the interval that ends at
it, the rule the API's time above threshold uses — unless the gap is much longer than the usual
(median) spacing of the buckets (the agent was stopped): that stays blank.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from cpumon.formats import compact_duration, hot_style
from cpumon.review.client import Bucket

EIGHTHS = " ▁▂▃▄▅▆▇█"
PEAK = "·"
CORE = "╌"
AXIS_LABEL_WIDTH = 4
MARGIN = AXIS_LABEL_WIDTH + 2  # "100 ┤"
MIN_WIDTH = 10
DEFAULT_HEIGHT = 10
GAP_FACTOR = 3.0  # a gap over 3x the usual sample spacing is shown as a gap


@dataclass(frozen=True)
class Column:
    count: int
    min_percent: float
    avg_percent: float
    max_percent: float
    max_core_percent: float | None = None

    def merged(self, other: Column) -> Column:
        count = self.count + other.count
        avg = (self.avg_percent * self.count + other.avg_percent * other.count) / count if count else 0.0
        return Column(
            count=count,
            min_percent=min(self.min_percent, other.min_percent),
            avg_percent=avg,
            max_percent=max(self.max_percent, other.max_percent),
            max_core_percent=_max_or_none(self.max_core_percent, other.max_core_percent),
        )


def _max_or_none(a: float | None, b: float | None) -> float | None:
    known = [value for value in (a, b) if value is not None]
    return max(known) if known else None


def columns(buckets: Sequence[Bucket], *, first: dt.datetime, last: dt.datetime, width: int) -> list[Column | None]:
    """The buckets placed on `width` columns of equal time, gaps filled as the module says."""
    span = max(0.0, (last - first).total_seconds())
    step = span / width if span > 0 else 1.0
    placed: list[Column | None] = [None] * width
    for bucket in buckets:
        index = min(width - 1, max(0, int((bucket.start - first).total_seconds() / step)))
        column = Column(
            bucket.count, bucket.min_percent, bucket.avg_percent, bucket.max_percent, bucket.max_core_percent
        )
        existing = placed[index]
        placed[index] = column if existing is None else existing.merged(column)
    gaps = sorted((b.start - a.start).total_seconds() for a, b in itertools.pairwise(buckets))
    usual = gaps[len(gaps) // 2] if gaps else span
    longest_fill = max(2 * step, GAP_FACTOR * usual)
    filled = [index for index, column in enumerate(placed) if column is not None]
    for before, after in itertools.pairwise(filled):
        if (after - before) * step <= longest_fill:
            placed[before + 1 : after] = [placed[after]] * (after - before - 1)
    return placed


def render(
    buckets: Sequence[Bucket],
    *,
    first: dt.datetime,
    last: dt.datetime,
    threshold: float,
    width: int,
    height: int = DEFAULT_HEIGHT,
) -> list[Text]:
    """The chart as lines of styled text, `width` columns of plot plus the axis labels."""
    width = max(MIN_WIDTH, width)
    cols = columns(buckets, first=first, last=last, width=width)
    row_size = 100.0 / height
    threshold_row = min(height - 1, int(threshold / row_size))
    threshold_char = _threshold_char((threshold - threshold_row * row_size) / row_size)
    labels = _y_labels(height, row_size, threshold, threshold_row)
    lines: list[Text] = []
    for row in range(height - 1, -1, -1):
        line = Text()
        label = labels.get(row, "")
        axis_style = "cpumon.threshold" if row == threshold_row and label else "cpumon.muted"
        line.append(f"{label:>{AXIS_LABEL_WIDTH}} ", style=axis_style)
        line.append("┤" if label else "│", style="cpumon.muted")
        for column in cols:
            char, style = _cell(column, row, height, threshold, threshold_row)
            if char in {" ", PEAK} and column is not None and _in_row(column.max_core_percent, row, height):
                # The hottest core above the area: a single-threaded bottleneck hides in the total.
                char, style = CORE, "cpumon.core"
            if char == " " and row == threshold_row:
                char, style = threshold_char, "cpumon.threshold"
            line.append(char, style=style)
        lines.append(line)
    lines.append(Text(" " * (AXIS_LABEL_WIDTH + 1) + "└" + "─" * width, style="cpumon.muted"))
    span = max(0.0, (last - first).total_seconds())
    lines.append(Text(" " * MARGIN + _x_labels(width, span), style="cpumon.muted"))
    return lines


def _in_row(percent: float | None, row: int, rows: int) -> bool:
    if percent is None:
        return False
    row_size = 100.0 / rows
    return row == min(rows - 1, int(percent / row_size))


def legend(
    *,
    threshold: float,
    width: int,
    first: dt.datetime,
    last: dt.datetime,
    height: int = DEFAULT_HEIGHT,
    hottest_core: bool = False,
) -> Text:
    span = max(0.0, (last - first).total_seconds())
    per_column = span / max(MIN_WIDTH, width)
    row_size = 100.0 / height
    text = Text(" " * MARGIN, style="cpumon.muted")
    text.append("█", style="cpumon.usage")
    text.append(" average  ", style="cpumon.muted")
    text.append(PEAK, style="cpumon.usage")
    text.append(" max  ", style="cpumon.muted")
    if hottest_core:
        text.append(CORE, style="cpumon.core")
        text.append(" hottest core  ", style="cpumon.muted")
    threshold_row = min(height - 1, int(threshold / row_size))
    text.append(_threshold_char((threshold - threshold_row * row_size) / row_size), style="cpumon.threshold")
    text.append(f" threshold {threshold:g} %", style="cpumon.muted")
    if span > 0:
        text.append(f"  1 column ≈ {compact_duration(per_column)}", style="cpumon.muted")
    return text


def _cell(column: Column | None, row: int, rows: int, threshold: float, threshold_row: int) -> tuple[str, str]:
    row_size = 100.0 / rows
    if column is None:
        return " ", ""
    bottom, top = row * row_size, (row + 1) * row_size
    hot = column.avg_percent > threshold and row >= threshold_row
    fill = hot_style(hot, "cpumon.usage")
    if column.avg_percent >= top:
        return "█", fill
    if column.avg_percent > bottom:
        eighths = round((column.avg_percent - bottom) / row_size * 8)
        if eighths > 0:
            return EIGHTHS[eighths], fill
    above_average = column.max_percent > column.avg_percent
    if above_average and bottom < column.max_percent and (column.max_percent < top or row == rows - 1):
        # The maximum, as a dot in its row: a short spike still shows in a long run.
        return PEAK, hot_style(column.max_percent > threshold, "cpumon.usage")
    return " ", ""


def _threshold_char(fraction: float) -> str:
    if fraction < 1 / 3:
        return "▁"
    if fraction < 2 / 3:
        return "─"
    return "▔"


def _y_labels(height: int, row_size: float, threshold: float, threshold_row: int) -> dict[int, str]:
    labels = {height - 1: "100", 0: "0"}
    middle = min(height - 1, int(50 / row_size))
    if abs(middle - threshold_row) > 1:
        labels[middle] = "50"
    if threshold_row in {0, height - 1}:
        labels = {row: text for row, text in labels.items() if row != threshold_row}
    labels[threshold_row] = f"{threshold:g}"[:AXIS_LABEL_WIDTH]
    return labels


def _x_labels(width: int, span_s: float) -> str:
    """Elapsed time under the start and the end of the axis, and under its quarters where they fit."""

    def label(position: int) -> str:
        return compact_duration(span_s * position / max(1, width - 1)) if span_s > 0 else "0 s"

    chars = [" "] * width
    end = label(width - 1)
    end_start = max(0, width - len(end))
    chars[end_start:] = end[: width - end_start]
    free_from = 0
    for position in (0, width // 4, width // 2, 3 * width // 4):
        text = label(position)
        if position < free_from or position + len(text) >= end_start:
            continue
        chars[position : position + len(text)] = text
        free_from = position + len(text) + 1
    return "".join(chars)
