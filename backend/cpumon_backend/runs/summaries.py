"""Run summaries from the roll-ups: which pieces of a window come from buckets, which from raw samples.

A window [start, end] (either side open) is cut into the whole buckets inside it, read from the
roll-ups, and the partial minutes at its edges, read raw: so the cost follows the window (and the
number of buckets), never the number of samples. A threshold other than the run's own cannot use
the roll-ups (they count time above the run's own): that slower path reads the raw samples of the
window, bounded by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from cpumon.wire import RunSummary
from cpumon_backend.runs.models import TestRun
from cpumon_backend.runs.rollups import cut_window, raw_piece, rollup_piece, summed
from cpumon_backend.runs.window import Window


def summary_statement(runs: Sequence[TestRun], threshold: float | None, window: Window | None) -> Select[Any]:
    """One statement: per run, the partial sums (rollups.PIECE_COLUMNS) of its samples in `window`.

    Each run is measured against `threshold`, or its own threshold when that is None.
    """
    whole_runs = [run.id for run in runs if _own(run, threshold) and window is None]
    pieces = rollup_piece(whole_runs, (None, None), None) if whole_runs else []
    for run in runs:
        if run.id in whole_runs:
            continue
        if threshold is None or _own(run, threshold):
            pieces += _window_pieces(run, window or Window())
        else:  # the slower path: another threshold, raw samples of the window
            span = Window() if window is None else window
            pieces.append(raw_piece(run.id, (span.start, span.end, True), span.start, threshold))
    return summed(pieces)


def _own(run: TestRun, threshold: float | None) -> bool:
    return threshold is None or threshold == run.threshold_percent


def _window_pieces(run: TestRun, window: Window) -> list[Select[Any]]:
    cut = cut_window(window.start, window.end)
    pieces = [] if cut.buckets is None else rollup_piece([run.id], cut.buckets, window.start)
    return pieces + [raw_piece(run.id, bounds, window.start, run.threshold_percent) for bounds in cut.raw]


def summaries_from_rows(rows: Sequence[Any], limits: dict[uuid.UUID, float]) -> dict[uuid.UUID, RunSummary]:
    """Each run's summary from its summed row; a run without samples (or rows) gets the empty summary."""
    found = {run_id: empty_summary(limit) for run_id, limit in limits.items()}
    for row in rows:
        run_id, count, cpu_sum, low, high, first, last, above_us, *breakdown, hottest = row
        if not count:
            continue
        averages = [
            None if not n else float(total) / int(n) for total, n in zip(breakdown[::2], breakdown[1::2], strict=True)
        ]
        found[run_id] = RunSummary(
            sample_count=int(count),
            avg_percent=float(cpu_sum) / int(count),
            min_percent=low,
            max_percent=high,
            first_sample_at=first,
            last_sample_at=last,
            threshold_percent=limits[run_id],
            time_above_threshold_s=round(int(above_us) / 1_000_000, 6),
            avg_user_percent=averages[0],
            avg_system_percent=averages[1],
            avg_iowait_percent=averages[2],
            avg_steal_percent=averages[3],
            max_core_percent=hottest,
        )
    return found


def empty_summary(threshold: float) -> RunSummary:
    nothing = dict.fromkeys(("avg_percent", "min_percent", "max_percent", "first_sample_at", "last_sample_at"))
    return RunSummary(sample_count=0, threshold_percent=threshold, time_above_threshold_s=0.0, **nothing)
