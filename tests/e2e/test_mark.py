"""`cpumon mark` against a real server, beside a real agent recording this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from cpumon.wire import EVENT_TEXT_MAX
from tests.e2e.conftest import AgentProcess, ServerProcess, agent_env, wait_for
from tests.support.server import free_port, run_cpumon

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]  # a dozen cpumon starts on two busy cores


def mark(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cpumon(env, "mark", *args)


def events(server: ServerProcess, run_id: str) -> list[dict[str, Any]]:
    response = server.client().http.get(f"/api/test-runs/{run_id}/events")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_mark_adds_an_event_to_the_run_this_machine_is_recording(
    cpumon_server: ServerProcess, start_agent: Any, tmp_path: Path
) -> None:
    env = agent_env(cpumon_server.url, tmp_path / "spool")
    agent: AgentProcess = start_agent(env)
    run_id = agent.run_id()

    def marked() -> subprocess.CompletedProcess[str] | None:
        result = mark(env, "deployed v2")  # exit 1 until the agent has published its run
        return result if result.returncode == 0 else None

    done = wait_for(marked, within=30.0, what="the agent to publish its run", every=0.2)
    assert done.stdout.startswith("marked run "), done.stdout
    assert f"({run_id})" in done.stdout
    assert done.stdout.rstrip().endswith(": deployed v2")
    agent.interrupt()
    assert agent.wait_exit() == 0
    (event,) = events(cpumon_server, run_id)
    assert (event["text"], event["kind"]) == ("deployed v2", "note")

    # The agent has stopped: nothing is recording here any more.
    after = mark(env, "too late")
    assert after.returncode == 1, after.stderr
    assert "cpumon is not recording a run here" in after.stderr
    assert "--run RUN" in after.stderr
    # A finished run takes events when named, with a kind and a time of their own.
    named = mark(env, "reviewed", "--run", run_id[:13], "--kind", "review", "--at", "2026-03-02T14:05:00Z")
    assert named.returncode == 0, named.stderr
    first, second = events(cpumon_server, run_id)  # in time order: the given time comes first
    assert (first["text"], first["kind"], first["at"]) == ("reviewed", "review", "2026-03-02T14:05:00Z")
    assert second == event


def test_mark_fails_with_the_review_commands_codes(cpumon_server: ServerProcess, tmp_path: Path) -> None:
    env = agent_env(cpumon_server.url, tmp_path / "spool")
    run_id = cpumon_server.client().http.post("/api/test-runs", json={"name": "x"}).json()["id"]

    too_long = mark(env, "x" * (EVENT_TEXT_MAX + 1), "--run", run_id)
    assert too_long.returncode == 2
    assert f"at most {EVENT_TEXT_MAX}" in too_long.stderr
    assert mark(env, "   ", "--run", run_id).returncode == 2
    assert mark(env, "x", "--run", run_id, "--kind", "two words").returncode == 2

    missing = mark(env, "x", "--run", "0" * 8 + "-0000-7000-8000-" + "0" * 12)
    assert missing.returncode == 1
    assert "among your runs" in missing.stderr

    no_saved_login = {**env, "XDG_STATE_HOME": str(tmp_path / "other-state"), "CPUMON_PASSWORD": "wrong password"}
    refused = mark(no_saved_login, "x", "--run", run_id)
    assert refused.returncode == 3, refused.stderr
    nowhere = mark({**env, "CPUMON_API_URL": f"http://127.0.0.1:{free_port()}"}, "x", "--run", run_id)
    assert nowhere.returncode == 4, nowhere.stderr
    assert events(cpumon_server, run_id) == []
    for result in (too_long, missing, refused, nowhere):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
