"""The outbox: bounded memory, spill to disk, one batch in flight, nothing lost or repeated."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from cpumon.outbox import Batch, Outbox
from cpumon.sample import Sample
from cpumon.spool import RunMeta, RunSpool

from .conftest import CollectedNotices, at, samples

RUN = "01a20000-0000-7000-8000-000000000002"


def make(tmp_path: Path, *, batch_size: int = 3, queue_size: int = 5) -> tuple[Outbox, CollectedNotices]:
    notices = CollectedNotices()
    meta = RunMeta(RUN, "http://api.test", "ada", "run", at(0), None)
    outbox = Outbox(
        meta=meta, spool=RunSpool(tmp_path, RUN), batch_size=batch_size, queue_size=queue_size, notices=notices
    )
    return outbox, notices


def drain(outbox: Outbox) -> list[int]:
    """Send (and confirm) everything; the seqs in the order they went out."""
    sent: list[int] = []
    while (batch := outbox.next_batch()) is not None:
        sent.extend(sample.seq for sample in batch.samples)
        outbox.acknowledge(batch)
    return sent


def test_batches_come_oldest_first_and_at_most_batch_size(tmp_path: Path) -> None:
    outbox, _ = make(tmp_path)
    for sample in samples([1, 2, 3, 4, 5]):
        outbox.add(sample)
    first = outbox.next_batch()
    assert first is not None
    assert [s.seq for s in first.samples] == [0, 1, 2]
    outbox.acknowledge(first)
    assert drain(outbox) == [3, 4]
    assert outbox.stored == 5
    assert outbox.is_empty()


def test_a_failed_batch_is_offered_again_unchanged(tmp_path: Path) -> None:
    outbox, _ = make(tmp_path)
    for sample in samples([1, 2, 3, 4]):
        outbox.add(sample)
    batch = outbox.next_batch()
    assert outbox.next_batch() is batch  # not acknowledged: retried as it is
    assert outbox.pending == 4
    assert outbox.has_backlog


def test_past_the_queue_size_the_oldest_spill_to_disk(tmp_path: Path) -> None:
    outbox, notices = make(tmp_path, batch_size=3, queue_size=5)
    for sample in samples([float(i) for i in range(12)]):
        outbox.add(sample)
    assert len(outbox.memory) <= 5
    assert outbox.on_disk == 12 - len(outbox.memory)
    assert outbox.pending == 12
    assert outbox.spool.read_meta().run_id == RUN  # the run can be recovered from disk alone
    assert drain(outbox) == list(range(12))  # disk (older) first, then memory
    assert outbox.spool.segments() == []  # delivered segments are deleted
    assert notices.warnings == []


def test_the_in_flight_batch_is_never_spilled_as_well(tmp_path: Path) -> None:
    outbox, _ = make(tmp_path, batch_size=2, queue_size=2)
    for sample in samples([1, 2]):
        outbox.add(sample)
    in_flight = outbox.next_batch()
    assert in_flight is not None
    for sample in samples([3, 4, 5, 6, 7], first_seq=2):
        outbox.add(sample)
    outbox.acknowledge(in_flight)
    assert sorted([0, 1, *drain(outbox)]) == list(range(7))


def test_keep_for_later_writes_everything_not_stored(tmp_path: Path) -> None:
    outbox, _ = make(tmp_path, batch_size=3, queue_size=4)
    for sample in samples([float(i) for i in range(10)]):
        outbox.add(sample)
    stored = outbox.next_batch()  # from disk: seqs 0-2
    assert stored is not None
    outbox.acknowledge(stored)
    failing = outbox.next_batch()  # in flight, unconfirmed
    assert failing is not None
    ended = RunMeta(RUN, "http://api.test", "ada", "run", at(0), at(99))
    assert outbox.keep_for_later(ended) is None
    assert (outbox.on_disk, outbox.in_memory) == (7, 0)
    spool = RunSpool(tmp_path, RUN)
    assert spool.read_meta().ended_at == at(99)
    on_disk = [s.seq for path in spool.segments() for s in spool.read_segment(path)]
    assert sorted(on_disk) == list(range(3, 10))


def test_a_damaged_segment_is_skipped_reported_and_the_rest_delivered(tmp_path: Path) -> None:
    outbox, notices = make(tmp_path, batch_size=2, queue_size=2)
    for sample in samples([float(i) for i in range(8)]):
        outbox.add(sample)
    damaged = outbox.segments[1]
    damaged.write_bytes(damaged.read_bytes()[:10])
    sent = drain(outbox)
    assert len(notices.warnings) == 1
    assert "damaged spool file" in notices.warnings[0]
    assert sorted(sent) == [s for s in range(8) if s not in (2, 3)]
    assert (tmp_path / "corrupt").is_dir()


def test_recovered_outbox_delivers_the_spooled_segments(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    meta = RunMeta(RUN, "http://api.test", "ada", "run", at(0), at(50))
    spool.write_meta(meta)
    spool.write_segment(samples([5.0, 6.0], first_seq=4))
    spool.write_segment(samples([1.0, 2.0, 3.0, 4.0]))
    outbox = Outbox.recovered(meta, spool, batch_size=100, notices=CollectedNotices())
    assert outbox.pending == 6
    assert drain(outbox) == [0, 1, 2, 3, 4, 5]
    assert outbox.last_stored_at == at(5)


def test_when_the_disk_refuses_samples_stay_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the spool dir should be")
    notices = CollectedNotices()
    meta = RunMeta(RUN, "http://api.test", "ada", "run", at(0), None)
    outbox = Outbox(meta=meta, spool=RunSpool(blocker, RUN), batch_size=2, queue_size=2, notices=notices)
    for sample in samples([float(i) for i in range(6)]):
        outbox.add(sample)
    assert len(notices.warnings) == 1
    assert "cannot write to the spool" in notices.warnings[0]
    assert drain(outbox) == list(range(6))


def test_only_the_batch_in_flight_can_be_acknowledged(tmp_path: Path) -> None:
    outbox, _ = make(tmp_path)
    outbox.add(Sample(0, at(0), 1.0))
    with pytest.raises(ValueError, match="in flight"):
        outbox.acknowledge(Batch([Sample(0, at(0), 1.0)]))


class FullDisk:
    """A RunSpool.write_segment that takes `room` more segments, then fails with ENOSPC until freed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, room: int) -> None:
        self.room = room
        self.refused = 0
        real = RunSpool.write_segment

        def write_segment(spool: RunSpool, chunk: list[Sample]) -> Path:
            if self.room <= 0:
                self.refused += 1
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= 1
            return real(spool, chunk)

        monkeypatch.setattr(RunSpool, "write_segment", write_segment)


def test_a_full_disk_at_exit_reports_exactly_what_was_kept_and_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox, _ = make(tmp_path, batch_size=100, queue_size=10_000)
    for sample in samples([1.0] * 506):
        outbox.add(sample)
    FullDisk(monkeypatch, room=3)
    error = outbox.keep_for_later(RunMeta(RUN, "http://api.test", "ada", "run", at(0), at(600)))
    assert isinstance(error, OSError)
    assert (outbox.on_disk, outbox.in_memory) == (300, 206)  # not "506 lost"
    spool = RunSpool(tmp_path, RUN)
    kept = [s.seq for path in spool.segments() for s in spool.read_segment(path)]
    assert kept == list(range(300))  # the oldest, whole segments, deliverable by the next start
    assert spool.leftovers() == []  # no half-written temporaries on the full disk


def test_spilling_is_retried_once_the_disk_has_room_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox, notices = make(tmp_path, batch_size=2, queue_size=2)
    disk = FullDisk(monkeypatch, room=0)
    for sample in samples([1.0] * 8):
        outbox.add(sample)
    assert len(outbox.memory) == 8
    assert disk.refused == 3  # once, then once per batch more: not on every sample
    disk.room = 100
    for sample in samples([1.0] * 4, first_seq=8):
        outbox.add(sample)
    assert len(outbox.memory) <= 10
    assert outbox.on_disk >= 2
    assert len(notices.warnings) == 1
    assert "takes samples again" in notices.infos[0]
    assert drain(outbox) == list(range(12))
