"""The workflow every generated client drives, as data both drivers share: sizes and expected counts."""

from __future__ import annotations

import datetime as dt

BASE_TIME = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
BATCH = 1_000  # samples with seq 1..1000, after one single sample with seq 0
PAGE = 300  # listing page size: 1,001 samples come in 4 pages
SAMPLES = BATCH + 1
PAGES = -(-SAMPLES // PAGE)
SERIES_POINTS = 10
THRESHOLD = 50.0
#: Events added to the finished run, out of time order; listed back in time order.
EVENTS = [("test stop", 60), ("test start", 0), ("users 10 -> 50", 30)]
EVENTS_IN_ORDER = ["test start", "users 10 -> 50", "test stop"]


def cpu_percent(seq: int) -> float:
    """A saw-tooth 0-99 %: a known share of samples above the threshold."""
    return float(seq % 100)
