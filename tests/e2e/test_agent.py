"""`cpumon` against the real `cpumon-server`: what the report says is what the database holds."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cpumon.spool import RunSpool, Spool
from tests.support.server import free_port

from .conftest import AgentProcess, ServerProcess, agent_env, wait_for

pytestmark = pytest.mark.e2e

StartAgent = Callable[[dict[str, str]], AgentProcess]
ESCAPE = re.compile(r"\x1b\[")


def count(text: str) -> int:
    return int(text.replace(",", ""))


def percent(text: str) -> float:
    return float(text.removesuffix("%").strip())


def seconds(text: str) -> float:
    """'~ 1.2 s (40% of the run)' or '1 min 02.5 s' -> seconds."""
    match = re.search(r"(?:(\d+) min )?([\d.]+) s", text)
    assert match, text
    return int(match.group(1) or 0) * 60 + float(match.group(2))


def utc(text: str) -> dt.datetime:
    """A time in the report (piped: ISO-8601 UTC, whole seconds)."""
    return dt.datetime.fromisoformat(text)


def assert_every_seq_once(samples: list[dict[str, Any]], count: int) -> None:
    seqs = [item["seq"] for item in samples]
    assert len(seqs) == count
    assert sorted(seqs) == list(range(count))


def assert_report_agrees(report: dict[str, str], run: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    """The report's figures against the run and rows the API serves."""
    summary = run["summary"]
    taken = count(report["Samples taken"])
    assert int(report["Samples stored"]) == taken == summary["sample_count"]
    assert report["Kept for later"] == "0"
    assert_every_seq_once(samples, taken)
    assert percent(report["Average CPU"]) == pytest.approx(summary["avg_percent"], abs=0.051)
    assert percent(report["Max CPU"]) == pytest.approx(summary["max_percent"], abs=0.051)
    assert percent(report["Threshold"]) == run["threshold_percent"]
    assert seconds(report["Time above threshold"]) == pytest.approx(summary["time_above_threshold_s"], abs=0.051)
    assert report["Run state"] == "finished"
    assert run["ended_at"] is not None
    ended = dt.datetime.fromisoformat(run["ended_at"])
    assert utc(report["Ended"]) == ended.replace(microsecond=0)


def test_report_agrees_with_the_database(cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    # A threshold of 1 % makes alerts and time above threshold likely, so they are compared for real.
    agent = start_agent(agent_env(cpumon_server.url, spool, CPUMON_THRESHOLD="1", CPUMON_RUN_NAME="e2e happy"))
    run_id = agent.run_id()
    api = cpumon_server.client()
    wait_for(lambda: api.stored_count(run_id) >= 30, within=30, what="30 stored samples")
    agent.interrupt()
    assert agent.wait_exit() == 0, agent.stderr

    report = agent.report()
    assert report["Run"] == run_id
    assert report["Name"] == "e2e happy"
    run = api.run(run_id)
    assert run["name"] == "e2e happy"
    assert run["interval_s"] == 0.05
    assert_report_agrees(report, run, api.samples(run_id))
    assert int(report["Alerts"]) >= 0
    assert not ESCAPE.search(agent.stdout)  # stdout is a file: plain text
    assert agent.stderr == ""
    assert list(Spool(spool).run_dirs()) == []  # nothing left for later


def test_server_killed_mid_run_loses_and_repeats_nothing(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_agent(agent_env(cpumon_server.url, tmp_path / "spool"))
    run_id = agent.run_id()
    api = cpumon_server.client()
    wait_for(lambda: api.stored_count(run_id) >= 10, within=30, what="10 stored samples")

    cpumon_server.kill()
    agent.wait_output(r"WARNING  upload failed")
    cpumon_server.start()  # same port, same database
    agent.wait_output(r"uploads resumed")
    api = cpumon_server.client()  # sessions live in the database: a fresh login is simplest
    stored_after_restart = api.stored_count(run_id)
    wait_for(lambda: api.stored_count(run_id) > stored_after_restart, within=30, what="uploads after the restart")
    agent.interrupt()
    assert agent.wait_exit() == 0, agent.stderr

    assert_report_agrees(agent.report(), api.run(run_id), api.samples(run_id))


def test_server_down_at_exit_then_next_start_delivers_and_finishes(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    env = agent_env(cpumon_server.url, spool_dir, CPUMON_FLUSH_TIMEOUT="60")
    first = start_agent(env)
    old_run = first.lose_the_api(cpumon_server, stored=5, within=30)
    assert first.stop_keeping_unsent(within=20) == 0, first.stderr  # the second Ctrl-C skips the 60 s wait
    report = first.report()
    taken, stored, kept = (count(report[k]) for k in ("Samples taken", "Samples stored", "Kept for later"))
    assert kept > 0
    assert stored + kept == taken
    assert report["Run state"].startswith("open")

    # The spool holds exactly the samples the API did not confirm, and the run's end time.
    spooled = RunSpool(spool_dir, old_run)
    meta = spooled.read_meta()
    assert meta.ended_at is not None
    assert meta.ended_at.replace(microsecond=0) == utc(report["Ended"])
    spooled_seqs = sorted(s.seq for path in spooled.segments() for s in spooled.read_segment(path))
    assert len(spooled_seqs) == kept
    assert spooled_seqs[-1] == taken - 1

    cpumon_server.start()
    second = start_agent(env)
    new_run = second.run_id()
    second.wait_output(rf"run {old_run} \(.*\) completed: {kept} kept samples? delivered")
    second.process.send_signal(signal.SIGTERM)  # SIGTERM stops as Ctrl-C does
    assert second.wait_exit() == 0, second.stderr

    api = cpumon_server.client()
    old = api.run(old_run)
    assert old["summary"]["sample_count"] == taken
    assert_every_seq_once(api.samples(old_run), taken)
    assert dt.datetime.fromisoformat(old["ended_at"]) == meta.ended_at  # the saved end time, not "now"
    assert not spooled.path.exists()
    assert second.report()["Run state"] == "finished"
    assert api.run(new_run)["ended_at"] is not None


def test_wrong_password_exits_3_with_one_line(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_agent(agent_env(cpumon_server.url, tmp_path / "spool", CPUMON_PASSWORD="wrong"))
    assert agent.wait_exit() == 3
    lines = agent.stderr.splitlines()
    assert len(lines) == 1
    assert "refused the username and password" in lines[0]
    assert "CPUMON_PASSWORD" in lines[0]
    assert "wrong" not in lines[0]  # the password itself is never shown
    assert agent.stdout == ""


def test_unreachable_api_exits_4_with_one_line_with_require_api(start_agent: StartAgent, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    agent = start_agent(agent_env(url, tmp_path / "spool", CPUMON_REQUIRE_API="true"))
    assert agent.wait_exit() == 4
    lines = agent.stderr.splitlines()
    assert len(lines) == 1
    assert url in lines[0]
    assert "CPUMON_API_URL" in lines[0]
    assert agent.stdout == ""


def test_started_while_the_api_is_down_the_run_is_complete_once_it_is_up(
    server_database: Path, start_agent: StartAgent, tmp_path: Path
) -> None:
    database = tmp_path / "server" / "cpumon.db"
    database.parent.mkdir()
    shutil.copyfile(server_database, database)
    server = ServerProcess(database=database, log_path=tmp_path / "server" / "server.log")  # a free port, not started
    spool_dir = tmp_path / "spool"
    agent = start_agent(agent_env(server.url, spool_dir, CPUMON_RUN_NAME="started offline", CPUMON_QUEUE_SIZE="20"))
    try:
        agent.wait_output(r"recording run started offline \(not created at the API yet\)")
        away = rf"WARNING  the API does not answer \(cannot connect to {re.escape(server.url)}.*recording anyway"
        agent.wait_output(away)
        # Samples pile up past the memory queue: some wait on disk before the API is there.
        wait_for(lambda: any(spool_dir.glob("*/seg-*.json")), within=60, what="samples spilled to the spool")
        server.start()
        run_id = agent.wait_output(r"run [0-9a-f-]{36} \(started offline\) created at \S+ as ([0-9a-f-]{36})").group(1)
        api = server.client()
        wait_for(lambda: api.stored_count(run_id) >= 60, within=60, what="60 stored samples")
        agent.interrupt()
        assert agent.wait_exit() == 0, agent.stderr
        run = api.run(run_id)
        assert_report_agrees(agent.report(), run, api.samples(run_id))
        assert agent.report()["Run"] == run_id
        assert run["name"] == "started offline"
        assert agent.stdout.count("recording anyway") == 1
        assert list(Spool(spool_dir).run_dirs()) == []
    finally:
        server.close()
