"""`cpumon sync`, the "waiting here" mark of `cpumon runs`, and `cpumon delete` against the real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from cpumon.spool import Spool

from .conftest import ServerProcess, agent_env, wait_for
from .test_agent import StartAgent, assert_every_seq_once, count
from .test_login_once import cpumon

# Several cpumon processes and server starts each: on two busy cores that outlasts the default 120 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_runs_marks_spooled_samples_and_sync_delivers_them(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    env = agent_env(cpumon_server.url, spool_dir, CPUMON_FLUSH_TIMEOUT="60", CPUMON_RUN_NAME="cut short")
    agent = start_agent(env)
    run_id = agent.lose_the_api(cpumon_server, stored=5, within=60)
    assert agent.stop_keeping_unsent() == 0, agent.stderr
    report = agent.report()
    taken, kept = count(report["Samples taken"]), count(report["Kept for later"])
    assert kept > 0

    cpumon_server.start()
    listed = cpumon(env, "runs")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if "cut short" in line]
    waiting = re.search(r"([\d,]+) samples? waiting here", row)
    assert waiting, row
    assert count(waiting.group(1)) == kept
    assert "running" not in row
    as_json = json.loads(cpumon(env, "runs", "--json").stdout)
    assert [run["samples_waiting_here"] for run in as_json] == [kept]

    synced = cpumon(env, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert re.search(rf"run {run_id} \(cut short\) completed: {kept:,} kept samples? delivered", synced.stdout)
    api = cpumon_server.client()
    assert api.run(run_id)["ended_at"] is not None
    assert_every_seq_once(api.samples(run_id), taken)
    assert list(Spool(spool_dir).run_dirs()) == []
    assert "waiting here" not in cpumon(env, "runs").stdout
    again = cpumon(env, "sync")
    assert again.returncode == 0
    assert again.stdout.startswith("nothing waits")


def test_sync_with_the_api_down_exits_4_and_keeps_the_spool(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    env = agent_env(cpumon_server.url, spool_dir, CPUMON_FLUSH_TIMEOUT="0")
    cpumon_server.stop()
    agent = start_agent(env)
    agent.wait_output(r"recording anyway")
    wait_for(lambda: any(spool_dir.glob("*/seg-*.json")), within=60, what="samples spilled to the spool")
    agent.interrupt()
    assert agent.wait_exit() == 0, agent.stderr
    result = cpumon(env, "sync")
    assert result.returncode == 4
    assert cpumon_server.url in result.stderr
    (left,) = Spool(spool_dir).run_dirs()
    assert left.read_meta().api_id is None  # still to be created, by a later sync or start
    assert left.run_id in agent.stdout  # the report's Spool row: the only id the user was shown

    cpumon_server.start()
    synced = cpumon(env, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert list(Spool(spool_dir).run_dirs()) == []
    # The API gave the run its own id: said beside the one the spool showed.
    said = re.search(rf"run {left.run_id} \((.+)\) created at \S+ as ([0-9a-f-]{{36}})", synced.stdout)
    assert said, synced.stdout
    name, new_id = said.groups()
    assert f"run {new_id} ({name}) completed" in synced.stdout
    assert cpumon_server.client().stored_count(new_id) > 0


def test_delete_needs_yes_off_a_terminal(cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path) -> None:
    env = agent_env(cpumon_server.url, tmp_path / "spool", CPUMON_DURATION="1", CPUMON_RUN_NAME="to delete")
    agent = start_agent(env)
    run_id = agent.run_id()
    assert agent.wait_exit() == 0, agent.stderr

    refused = cpumon(env, "delete", run_id[:8])
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    api = cpumon_server.client()
    assert api.run(run_id)["name"] == "to delete"

    deleted = cpumon(env, "delete", run_id[:8], "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted run to delete ({run_id})" in deleted.stdout
    with pytest.raises(httpx.HTTPStatusError):
        api.run(run_id)
    assert cpumon(env, "delete", run_id, "--yes").returncode == 1  # gone: one line, exit 1


def test_runs_and_show_carry_the_breakdown_and_the_hottest_core(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    env = agent_env(cpumon_server.url, tmp_path / "spool", CPUMON_DURATION="1.5", CPUMON_RUN_NAME="broken down")
    agent = start_agent(env)
    run_id = agent.run_id()
    assert agent.wait_exit() == 0, agent.stderr
    summary = cpumon_server.client().run(run_id)["summary"]
    assert summary["max_core_percent"] is not None

    listed = cpumon(env, "runs")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert "core max" in header
    assert "usr/sys/io/st %" in header
    assert f"{summary['max_core_percent']:.1f} %" in row
    assert re.search(r"\d+/\d+/(\d+|-)/(\d+|-)$", row.rstrip())

    shown = cpumon(env, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"│ Hottest core \(max\) +│ {summary['max_core_percent']:.1f} %", shown.stdout)
    assert "│ Breakdown (avg)" in shown.stdout
    assert "╌ hottest core" in shown.stdout  # the mark itself is drawn above the average (tests/review/test_chart)
