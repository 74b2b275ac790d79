"""Finding spooled runs at start: which are delivered, which are left alone, which are set aside."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cpumon.recovery import recoverable_runs
from cpumon.spool import CORRUPT_DIR, RunMeta, RunSpool, Spool

from .conftest import CollectedNotices, at, samples

API = "http://api.test"
META = RunMeta("01a10000-0000-7000-8000-000000000001", API, "ada", "old", at(0), at(30))


def spool_run(root: Path, meta: RunMeta = META, percents: tuple[float, ...] = (1.0, 2.0)) -> RunSpool:
    spool = RunSpool(root, meta.run_id)
    spool.write_meta(meta)
    spool.write_segment(samples(list(percents)))
    return spool


def find(root: Path) -> tuple[list[str], CollectedNotices]:
    notices = CollectedNotices()
    outboxes = recoverable_runs(Spool(root), api_url=API, username="ada", batch_size=10, notices=notices)
    ids = [outbox.meta.run_id for outbox in outboxes]
    for outbox in outboxes:
        outbox.spool.unlock()
    return ids, notices


def test_finds_runs_of_this_api_and_user_oldest_first(tmp_path: Path) -> None:
    newer = dataclasses.replace(META, run_id="01a20000-0000-7000-8000-000000000002")
    spool_run(tmp_path, newer)
    spool_run(tmp_path)
    ids, notices = find(tmp_path)
    assert ids == [META.run_id, newer.run_id]
    assert notices.warnings == []


def test_runs_of_another_api_or_user_are_left_in_place(tmp_path: Path) -> None:
    other_api = spool_run(tmp_path, dataclasses.replace(META, api_url="http://other.test"))
    ids, notices = find(tmp_path)
    assert ids == []
    assert other_api.path.is_dir()
    assert "http://other.test" in notices.infos[0]


def test_a_run_being_recorded_by_another_process_is_skipped(tmp_path: Path) -> None:
    busy = spool_run(tmp_path)
    assert busy.lock()
    ids, notices = find(tmp_path)
    busy.unlock()
    assert ids == []
    assert notices.warnings == notices.infos == []


def test_a_run_with_damaged_metadata_and_no_samples_is_moved_aside_in_one_line(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, META.run_id)
    spool.write_meta(META)
    (spool.path / "run.json").write_bytes(b'{"format": 1, "kind": "run", "sha')
    ids, notices = find(tmp_path)
    assert ids == []
    assert len(notices.warnings) == 1
    assert "is damaged" in notices.warnings[0]
    assert (tmp_path / CORRUPT_DIR / META.run_id / "run.json").exists()


def test_half_written_files_are_set_aside_and_the_rest_recovered(tmp_path: Path) -> None:
    spool = spool_run(tmp_path)
    (spool.path / ".seg-000000000002-000000000003.json.99.tmp").write_bytes(b'{"format":1,"ki')
    ids, notices = find(tmp_path)
    assert ids == [META.run_id]
    assert len(notices.warnings) == 1
    assert "half-written" in notices.warnings[0]
    assert spool.leftovers() == []


def test_an_empty_run_directory_is_removed_quietly(tmp_path: Path) -> None:
    (tmp_path / META.run_id).mkdir()
    ids, notices = find(tmp_path)
    assert ids == []
    assert notices.warnings == notices.infos == []
    assert not (tmp_path / META.run_id).exists()


def test_a_run_left_open_by_a_crash_is_recovered_with_a_warning(tmp_path: Path) -> None:
    spool_run(tmp_path, dataclasses.replace(META, ended_at=None))
    ids, notices = find(tmp_path)
    assert ids == [META.run_id]
    assert "did not stop cleanly" in notices.warnings[0]


def test_damaged_details_with_intact_samples_still_deliver_them(tmp_path: Path) -> None:
    spool = spool_run(tmp_path)
    (spool.path / "run.json").write_bytes(b"\x00\x00\x00")
    notices = CollectedNotices()
    outboxes = recoverable_runs(Spool(tmp_path), api_url=API, username="ada", batch_size=10, notices=notices)
    assert [o.meta.run_id for o in outboxes] == [META.run_id]
    assert outboxes[0].meta_lost
    assert outboxes[0].pending == 2
    assert "details of spooled run" in notices.warnings[0]
    assert len(list((tmp_path / CORRUPT_DIR).iterdir())) == 1  # the damaged run.json, kept aside
    outboxes[0].spool.unlock()


def test_a_crashed_run_with_nothing_spooled_is_dropped_from_the_spool(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, META.run_id)
    spool.write_meta(dataclasses.replace(META, ended_at=None))
    ids, notices = find(tmp_path)
    assert ids == []
    assert "stays open" in notices.warnings[0]
    assert not spool.path.exists()
