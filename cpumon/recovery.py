"""Finding the runs an earlier start of cpumon left in the spool."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cpumon.notices import Notices
from cpumon.outbox import Outbox
from cpumon.spool import (
    CORRUPT_DIR,
    META_NAME,
    RunMeta,
    RunSpool,
    Spool,
    SpoolCorruptionError,
    free_name,
    private_dir,
    segment_seqs,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def recoverable_runs(spool: Spool, *, api_url: str, username: str, batch_size: int, notices: Notices) -> list[Outbox]:
    """Outboxes for the spooled runs of this API and user, oldest first, each locked for us.

    A run another cpumon process is recording (its lock is held) is left alone, and so is
    a run of another API or user: it waits for a start of cpumon with those settings.
    """
    outboxes: list[Outbox] = []
    for run_spool in spool.run_dirs():
        outbox = _recover(run_spool, spool.root, (api_url, username), batch_size, notices)
        if outbox is not None:
            outboxes.append(outbox)
    return outboxes


def _recover(
    run_spool: RunSpool, root: Path, owner: tuple[str, str], batch_size: int, notices: Notices
) -> Outbox | None:
    """One spooled run's outbox, locked for us; None when it is not ours to deliver now, or nothing waits."""
    if not _lock(run_spool, notices):
        return None
    if not (run_spool.path / META_NAME).exists() and not run_spool.segments():
        run_spool.unlock()
        run_spool.remove()  # an empty directory from a start that never spooled anything
        return None
    found = _meta_or_salvage(run_spool, root, owner, notices)
    if found is None:
        return None
    meta, meta_lost = found
    if (meta.api_url, meta.username) != owner:
        run_spool.unlock()
        notices.info(
            f"the spool holds samples of run {meta.run_id} for {meta.username} at {meta.api_url}; "
            "they will be delivered by a cpumon started with that API and user"
        )
        return None
    for leftover in run_spool.leftovers():
        where = run_spool.quarantine(leftover)
        notices.warn(
            f"skipped a half-written or unknown spool file {leftover.name} of run {meta.run_id}; kept as {where}"
        )
    if meta.ended_at is None and not meta_lost:
        left_open = f"run {meta.run_id} ({meta.name}) was left open by a cpumon that did not stop cleanly; "
        if not run_spool.segments():
            run_spool.unlock()
            run_spool.remove()
            notices.warn(left_open + "nothing of it waits in the spool, so it stays open")
            return None
        notices.warn(left_open + "delivering its spooled samples and finishing it at its last sample")
    outbox = Outbox.recovered(meta, run_spool, batch_size=batch_size, notices=notices)
    outbox.meta_lost = meta_lost
    return outbox


def _lock(run_spool: RunSpool, notices: Notices) -> bool:
    """True when this process now holds the run's lock (False: another cpumon has it, or it cannot be opened)."""
    try:
        return run_spool.lock()
    except OSError as exc:
        notices.warn(f"cannot open spooled run {run_spool.path} ({exc.strerror or exc}); skipped")
        return False


def _meta_or_salvage(
    run_spool: RunSpool, root: Path, owner: tuple[str, str], notices: Notices
) -> tuple[RunMeta, bool] | None:
    """(the run's details, whether they were lost); None when the whole run was moved aside as damaged."""
    try:
        return run_spool.read_meta(), False
    except SpoolCorruptionError as exc:
        if not run_spool.segments():
            run_spool.unlock()
            target = free_name(root / CORRUPT_DIR / run_spool.run_id)
            private_dir(target.parent)
            run_spool.path.replace(target)
            notices.warn(f"spooled run {run_spool.run_id} is damaged ({exc.reason}); moved to {target}")
            return None
        # The samples are intact and name their run: deliver them to that run here. If it is
        # not this API's or this user's, the API answers 404 and they are set aside, not lost.
        if exc.path.exists():
            run_spool.quarantine(exc.path)
        notices.warn(
            f"the details of spooled run {run_spool.run_id} are damaged ({exc.reason}); "
            "delivering its samples to that run and finishing it at its last sample"
        )
        return RunMeta(run_spool.run_id, *owner, "(details lost)", _EPOCH, None), True


def waiting_here(spool: Spool, *, api_url: str, username: str) -> dict[str | None, int]:
    """Samples this machine's spool holds per run id at the API (None: runs not created there yet).

    Read without taking locks, for display only: a run being recorded shows what it has spilled.
    A run whose samples are all stored but whose end is still to be sent counts 0.
    """
    waiting: dict[str | None, int] = {}
    for run_spool in spool.run_dirs():
        try:
            meta = run_spool.read_meta()
        except SpoolCorruptionError:
            continue
        if meta.api_url != api_url or meta.username != username:
            continue
        count = 0
        for path in run_spool.segments():
            seqs = segment_seqs(path)
            if seqs is not None:
                count += seqs[1] - seqs[0] + 1
        waiting[meta.api_id] = waiting.get(meta.api_id, 0) + count
    return waiting
