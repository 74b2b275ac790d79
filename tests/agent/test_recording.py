"""Which runs this machine is recording: the monitor's files and how `cpumon mark` reads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cpumon.errors import CpumonError
from cpumon.recording import MAX_FILE_BYTES, ActiveRunFile, active_runs
from cpumon.review.mark import recorded_here
from cpumon.settings import AgentSettings

URL, USER = "http://api.example:8000", "alice"


def alive_only(*pids: int) -> Callable[[int], bool]:
    return lambda pid: pid in pids


def test_a_run_is_published_once_the_api_has_it_and_removed_at_the_end(tmp_path: Path) -> None:
    mine = ActiveRunFile(URL, USER, tmp_path, pid=101)
    mine.publish(None, "not created yet")
    assert active_runs(URL, USER, tmp_path, alive_only(101)) == []
    mine.publish("run-1", "load test")
    (run,) = active_runs(URL, USER, tmp_path, alive_only(101))
    assert (run.run_id, run.name, run.pid) == ("run-1", "load test", 101)
    assert mine.path.stat().st_mode & 0o777 == 0o600
    mine.remove()
    assert active_runs(URL, USER, tmp_path, alive_only(101)) == []


def test_files_of_dead_monitors_are_ignored_and_removed(tmp_path: Path) -> None:
    ActiveRunFile(URL, USER, tmp_path, pid=201).publish("killed", "x")
    ActiveRunFile(URL, USER, tmp_path, pid=202).publish("running", "y")
    assert [run.run_id for run in active_runs(URL, USER, tmp_path, alive_only(202))] == ["running"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["202.json"]


def test_only_the_runs_of_this_api_and_user_count(tmp_path: Path) -> None:
    ActiveRunFile(URL, "bob", tmp_path, pid=301).publish("bobs", "x")
    ActiveRunFile("http://other:8000", USER, tmp_path, pid=302).publish("other api", "x")
    ActiveRunFile(URL, USER, tmp_path, pid=303).publish("mine", "x")
    found = active_runs(URL, USER, tmp_path, alive_only(301, 302, 303))
    assert [run.run_id for run in found] == ["mine"]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"api_url": 1}', b" " * (MAX_FILE_BYTES + 10), b"\xff\xfe"])
def test_a_damaged_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "401.json").write_bytes(content)
    assert active_runs(URL, USER, tmp_path, alive_only(401)) == []


def test_a_file_naming_another_process_than_its_own_is_ignored(tmp_path: Path) -> None:
    ActiveRunFile(URL, USER, tmp_path, pid=501).publish("run", "x")
    (tmp_path / "501.json").rename(tmp_path / "502.json")
    assert active_runs(URL, USER, tmp_path, alive_only(501, 502)) == []


def test_mark_needs_exactly_one_recording_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = AgentSettings(api_url=URL, username=USER)
    with pytest.raises(CpumonError, match="cpumon is not recording a run here for 'alice'"):
        recorded_here(settings)
    first, second = ActiveRunFile(URL, USER), ActiveRunFile(URL, USER, pid=1)  # pid 1 is always alive
    first.publish("run-a", "a")
    assert recorded_here(settings).run_id == "run-a"
    second.publish("run-b", "b")
    with pytest.raises(CpumonError, match=r"2 runs are being recorded here: .*run-a.*run-b|run-b.*run-a"):
        recorded_here(settings)
