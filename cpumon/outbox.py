"""The samples of one run that the API has not stored yet.

Newest samples wait in memory, up to `queue_size`; past that the oldest spill to the
run's spool directory in batch-sized segment files, so an API outage of any length costs
disk, not memory. The uploader takes one batch at a time (oldest first) and keeps it as
"in flight" until the API confirms it: a failed batch is retried as it is, and since every
sample keeps its seq, a retry of a batch the server had in fact stored is skipped there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cpumon.batching import chunked
from cpumon.notices import Notices
from cpumon.sample import Sample
from cpumon.spool import RunMeta, RunSpool, SpoolCorruptionError, segment_seqs


@dataclass
class Batch:
    samples: list[Sample]
    segment: Path | None = None  # the spool file holding these samples, removed once they are stored


@dataclass
class Outbox:
    meta: RunMeta
    spool: RunSpool
    batch_size: int
    queue_size: int
    notices: Notices
    memory: deque[Sample] = field(default_factory=deque)
    segments: deque[Path] = field(default_factory=deque)
    in_flight: Batch | None = None
    stored: int = 0  # samples the API confirmed
    last_stored_at: dt.datetime | None = None  # newest sample the API confirmed
    meta_lost: bool = False  # recovered from a damaged run.json: only the run id is known
    #: While uploads fail, samples wait in memory at most this many (one flush interval's worth) before
    #: they are spilled, so a crash during an outage loses no more than that. None: only queue_size.
    crash_window: int | None = None
    uploads_failing: bool = False  # set by the uploader
    _spool_ready: bool = False
    #: After a failed write, memory size at which to try the disk again (one batch later): None while writes work.
    _retry_spill_at: int | None = None

    @classmethod
    def recovered(cls, meta: RunMeta, spool: RunSpool, *, batch_size: int, notices: Notices) -> Outbox:
        """An outbox for a run left in the spool by an earlier start (its lock already taken)."""
        outbox = cls(meta=meta, spool=spool, batch_size=batch_size, queue_size=batch_size, notices=notices)
        outbox.segments.extend(spool.segments())
        outbox._spool_ready = True
        return outbox

    # -- counts ---------------------------------------------------------------------------
    @property
    def on_disk(self) -> int:
        total = 0
        for path in self.segments:
            seqs = segment_seqs(path)
            if seqs:
                total += seqs[1] - seqs[0] + 1
        if self.in_flight is not None and self.in_flight.segment is not None:
            total += len(self.in_flight.samples)
        return total

    @property
    def in_memory(self) -> int:
        in_flight = self.in_flight
        return len(self.memory) + (len(in_flight.samples) if in_flight and in_flight.segment is None else 0)

    @property
    def pending(self) -> int:
        return self.in_memory + self.on_disk

    @property
    def has_backlog(self) -> bool:
        """Older samples than those in memory wait: a failed batch or spilled segments."""
        return self.in_flight is not None or bool(self.segments)

    def is_empty(self) -> bool:
        return self.in_flight is None and not self.segments and not self.memory

    def created(self, api_id: str) -> OSError | None:
        """The API created the run as `api_id`: batches go there, and the spool says so (else the error)."""
        self.meta = dataclasses.replace(self.meta, create=None, created_as=api_id)
        if not self._spool_ready:
            return None
        try:
            self.spool.write_meta(self.meta)
        except OSError as exc:
            # The next start finds the run by its name, host and start instead of creating it twice.
            return exc
        return None

    # -- flow -----------------------------------------------------------------------------
    def add(self, sample: Sample) -> None:
        self.memory.append(sample)
        if len(self.memory) > self.queue_size:
            self._spill(min(self.batch_size, self.queue_size))
        elif self.uploads_failing and self.crash_window is not None and len(self.memory) >= self.crash_window:
            self._spill(min(self.batch_size, len(self.memory)))

    def next_batch(self) -> Batch | None:
        """The batch to send now: the one that failed last, else the oldest waiting."""
        if self.in_flight is not None:
            return self.in_flight
        while self.segments:
            path = self.segments.popleft()
            try:
                samples = self.spool.read_segment(path)
            except SpoolCorruptionError as exc:
                self._quarantine(path, exc.reason)
                continue
            self.in_flight = Batch(samples, segment=path)
            return self.in_flight
        if self.memory:
            count = min(self.batch_size, len(self.memory))
            self.in_flight = Batch([self.memory.popleft() for _ in range(count)])
            return self.in_flight
        return None

    def acknowledge(self, batch: Batch) -> None:
        """The API stored `batch` (or already had it)."""
        if batch is not self.in_flight:
            raise ValueError("only the batch in flight can be acknowledged")
        self.in_flight = None
        self.stored += len(batch.samples)
        newest = max(sample.recorded_at for sample in batch.samples)
        if self.last_stored_at is None or newest > self.last_stored_at:
            self.last_stored_at = newest
        if batch.segment is not None:
            self.spool.remove_segment(batch.segment)

    def persist_in_flight(self) -> None:
        """Write the batch in flight to the spool if only memory holds it.

        Called when its upload failed: a retry can take as long as the outage, and a batch that
        waits in memory all that time would be lost by a crash (SIGKILL, power) while the newer
        samples, spilled behind it, survive. Once written, acknowledging the batch removes the file.
        """
        batch = self.in_flight
        if batch is None or batch.segment is not None or self._waiting_to_retry_spill():
            return
        try:
            self._ensure_spool()
            batch.segment = self.spool.write_segment(batch.samples)
        except OSError as exc:
            self._spill_refused(exc)
            return
        self._spill_worked()

    def keep_for_later(self, meta: RunMeta) -> OSError | None:
        """Write every sample not yet stored, and `meta` (with its end time), to the spool.

        Afterwards `on_disk` is exactly what the spool holds for the run, and `in_memory` what
        could not be written (lost when cpumon exits); the error that stopped the writing, if any.
        Samples already in segment files stay there; those in memory go in batch-sized segments,
        oldest first, each written whole or not at all.
        """
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is not None and in_flight.segment is None:
            self.memory.extendleft(reversed(in_flight.samples))
        elif in_flight is not None and in_flight.segment is not None:
            self.segments.appendleft(in_flight.segment)
        self.meta = meta
        try:
            # The samples first: segments without run.json are still delivered to their run by the next start.
            for chunk in chunked(list(self.memory), self.batch_size):
                self.segments.append(self.spool.write_segment(chunk))
                for _ in chunk:
                    self.memory.popleft()
            self.spool.write_meta(meta)
        except OSError as exc:
            return exc
        return None

    # -- internals ------------------------------------------------------------------------
    def _spill(self, count: int) -> None:
        if self._waiting_to_retry_spill():
            return  # keep samples in memory rather than lose them; the disk is tried again a batch later
        oldest = [self.memory[i] for i in range(count)]
        try:
            self._ensure_spool()
            path = self.spool.write_segment(oldest)
        except OSError as exc:
            self._spill_refused(exc)
            return
        self._spill_worked()
        for _ in range(count):
            self.memory.popleft()
        self.segments.append(path)

    def _waiting_to_retry_spill(self) -> bool:
        return self._retry_spill_at is not None and len(self.memory) < self._retry_spill_at

    def _spill_refused(self, exc: OSError) -> None:
        if self._retry_spill_at is None:
            self.notices.warn(
                f"cannot write to the spool {self.spool.path} ({exc.strerror or exc}); "
                "keeping samples in memory and trying the disk again every batch"
            )
        self._retry_spill_at = len(self.memory) + self.batch_size

    def _spill_worked(self) -> None:
        if self._retry_spill_at is not None:
            self.notices.info(f"the spool {self.spool.path} takes samples again")
        self._retry_spill_at = None

    def _ensure_spool(self) -> None:
        if not self._spool_ready:
            self.spool.lock()
            self.spool.write_meta(self.meta)
            self._spool_ready = True

    def _quarantine(self, path: Path, reason: str) -> None:
        try:
            where = self.spool.quarantine(path)
        except OSError:
            where = path
        self.notices.warn(
            f"skipped damaged spool file {path.name} of run {self.meta.run_id} ({reason}); kept as {where}"
        )
