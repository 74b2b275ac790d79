"""When to upload and how to cut samples into batches (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` cut into consecutive slices of at most `size`."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [items[start : start + size] for start in range(0, len(items), size)]


def next_upload_at(
    *,
    now: float,
    waiting: int,
    backlog: bool,
    batch_size: int,
    last_upload: float,
    flush_interval: float,
    draining: bool,
) -> float | None:
    """The monotonic time of the next upload, `now` if it is due, or None with nothing to send.

    `waiting` counts samples in memory; `backlog` says older samples wait on disk or in a
    failed batch. A full batch, a backlog or the final drain go at once, so catching up
    after an outage runs at the API's pace; otherwise samples go every `flush_interval`.
    """
    if waiting == 0 and not backlog:
        return None
    if draining or backlog or waiting >= batch_size:
        return now
    return max(now, last_upload + flush_interval)
