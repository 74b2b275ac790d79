"""Spool files: written atomically, checked on reading; a damaged file is detected, not trusted."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from cpumon.spool import (
    CORRUPT_DIR,
    LOCK_NAME,
    META_NAME,
    RunMeta,
    RunSpool,
    Spool,
    SpoolCorruptionError,
    encode_file,
    segment_seqs,
)

from .conftest import at, samples

RUN = "01a20000-0000-7000-8000-000000000001"


def meta(ended: bool = True) -> RunMeta:
    return RunMeta(
        run_id=RUN,
        api_url="http://api.test",
        username="ada",
        name="load test",
        started_at=at(0),
        ended_at=at(60) if ended else None,
    )


def test_meta_round_trip(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    spool.write_meta(meta())
    assert spool.read_meta() == meta()
    spool.write_meta(meta(ended=False))
    assert spool.read_meta().ended_at is None


def test_segment_round_trip_and_name(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    items = samples([1.5, 99.9, 0.0], first_seq=10)
    path = spool.write_segment(items)
    assert segment_seqs(path) == (10, 12)
    assert spool.read_segment(path) == items
    assert spool.segments() == [path]


def test_segments_are_listed_oldest_first(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    late = spool.write_segment(samples([1.0], first_seq=1000))
    early = spool.write_segment(samples([1.0, 2.0], first_seq=2))
    assert spool.segments() == [early, late]


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    spool.write_meta(meta())
    spool.write_segment(samples([1.0]))
    assert spool.leftovers() == []
    assert sorted(p.name for p in spool.path.iterdir()) == ["run.json", "seg-000000000000-000000000000.json"]


def test_a_truncated_segment_is_detected(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    path = spool.write_segment(samples([1.0, 2.0, 3.0]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpoolCorruptionError, match="not valid JSON"):
        spool.read_segment(path)


def test_an_edited_segment_fails_its_checksum(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    path = spool.write_segment(samples([1.0, 2.0]))
    path.write_text(path.read_text().replace("2.0", "3.0"))
    with pytest.raises(SpoolCorruptionError, match="checksum"):
        spool.read_segment(path)


def test_garbage_and_empty_files_are_detected(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    path = spool.write_segment(samples([1.0]))
    for content in (b"", b"\x00\xff\xfe garbage", b"[1, 2, 3]", b'{"format": 99, "body": {}}'):
        path.write_bytes(content)
        with pytest.raises(SpoolCorruptionError):
            spool.read_segment(path)


def test_a_segment_of_another_run_is_refused(tmp_path: Path) -> None:
    other = RunSpool(tmp_path, "other-run")
    path = other.write_segment(samples([1.0]))
    mine = RunSpool(tmp_path, RUN)
    mine.path.mkdir()
    moved = path.rename(mine.path / path.name)
    with pytest.raises(SpoolCorruptionError, match="another run"):
        mine.read_segment(moved)


def test_a_segment_whose_name_lies_is_refused(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    path = spool.write_segment(samples([1.0, 2.0]))
    renamed = path.rename(path.with_name("seg-000000000005-000000000006.json"))
    with pytest.raises(SpoolCorruptionError, match="name does not match"):
        spool.read_segment(renamed)


def test_bad_samples_inside_a_valid_envelope_are_refused(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    spool.path.mkdir()
    path = spool.path / "seg-000000000000-000000000000.json"
    body = {"run_id": RUN, "samples": [[0, "2025-01-01T00:00:00", 10.0]]}  # naive time
    path.write_bytes(encode_file("samples", body))
    with pytest.raises(SpoolCorruptionError, match="no time zone"):
        spool.read_segment(path)


def test_damaged_meta_is_detected(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    spool.write_meta(meta())
    path = spool.path / "run.json"
    envelope = json.loads(path.read_text())
    envelope["body"]["api_url"] = "http://evil.test"
    path.write_text(json.dumps(envelope))
    with pytest.raises(SpoolCorruptionError, match="checksum"):
        spool.read_meta()


def test_quarantine_moves_a_file_aside_without_overwriting(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    first = spool.quarantine(spool.write_segment(samples([1.0])))
    second = spool.quarantine(spool.write_segment(samples([1.0])))
    assert first.parent == second.parent == tmp_path / CORRUPT_DIR
    assert first != second
    assert first.exists()
    assert second.exists()


def test_half_written_temporaries_show_as_leftovers(tmp_path: Path) -> None:
    spool = RunSpool(tmp_path, RUN)
    spool.write_meta(meta())
    (spool.path / ".seg-000000000000-000000000009.json.123.tmp").write_bytes(b'{"form')
    assert [p.name for p in spool.leftovers()] == [".seg-000000000000-000000000009.json.123.tmp"]


def test_lock_is_exclusive_between_holders(tmp_path: Path) -> None:
    first, second = RunSpool(tmp_path, RUN), RunSpool(tmp_path, RUN)
    assert first.lock()
    assert not second.lock()
    first.unlock()
    assert second.lock()
    second.unlock()


def test_run_dirs_skip_corrupt_and_rejected(tmp_path: Path) -> None:
    RunSpool(tmp_path, "b-run").write_meta(RunMeta(**{**meta().__dict__, "run_id": "b-run"}))
    RunSpool(tmp_path, "a-run").write_meta(RunMeta(**{**meta().__dict__, "run_id": "a-run"}))
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "rejected").mkdir()
    assert [s.run_id for s in Spool(tmp_path).run_dirs()] == ["a-run", "b-run"]
    assert list(Spool(tmp_path / "missing").run_dirs()) == []


def test_spool_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        spool = RunSpool(tmp_path / "spool", RUN)
        assert spool.lock()
        spool.write_meta(RunMeta(RUN, "http://api.test", "ada", "run", at(0), None))
        segment = spool.write_segment(samples([1.0]))
        rejected = spool.move_to_rejected()
    finally:
        os.umask(old)
        spool.unlock()
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert stat.S_IMODE(rejected.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o700
    for name in (META_NAME, LOCK_NAME, segment.name):
        assert stat.S_IMODE((rejected / name).stat().st_mode) == 0o600, name


def test_an_existing_open_spool_dir_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    RunSpool(root, RUN).write_segment(samples([1.0]))
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    spool = RunSpool(tmp_path, RUN)
    with pytest.raises(OSError, match="No space"):
        spool.write_segment(samples([1.0]))
    assert list(spool.path.iterdir()) == []
