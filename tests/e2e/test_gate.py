"""The CI gate against the real server: --duration, --threshold-on core, --max-above and --report-json."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import AgentProcess, ServerProcess, agent_env

pytestmark = pytest.mark.e2e

StartAgent = Callable[[dict[str, str]], AgentProcess]
BURN = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def cpu_burst() -> Iterator[subprocess.Popen[bytes]]:
    """One core at 100 % for as long as the test runs."""
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    yield burner
    burner.kill()
    burner.wait(timeout=10)


def gate_env(server: ServerProcess, tmp_path: Path, *, threshold: str) -> dict[str, str]:
    return agent_env(
        server.url,
        tmp_path / "spool",
        CPUMON_DURATION="3",
        CPUMON_THRESHOLD=threshold,
        CPUMON_THRESHOLD_ON="core",
        CPUMON_MAX_ABOVE="0.5",
        CPUMON_REPORT_JSON=str(tmp_path / "report.json"),
    )


def test_a_real_cpu_burst_fails_the_gate_with_exit_5(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path, cpu_burst: subprocess.Popen[bytes]
) -> None:
    agent = start_agent(gate_env(cpumon_server, tmp_path, threshold="50"))
    assert agent.wait_exit(within=90) == 5, agent.stdout + agent.stderr  # --duration: no signal needed
    lines = agent.stderr.splitlines()
    assert len(lines) == 1
    assert "exceeds --max-above 0.5 s" in lines[0]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["gate_failed"] is True
    assert report["threshold_on"] == "core"
    assert report["time_above_s"] > 0.5
    assert report["max_core_percent"] > 50
    assert report["finished"] is True
    run = cpumon_server.client().run(report["run_id"])
    assert run["ended_at"] is not None
    assert run["summary"]["sample_count"] == report["samples_taken"] == report["samples_stored"]
    assert run["summary"]["max_core_percent"] == report["max_core_percent"]
    assert run["summary"]["avg_user_percent"] == pytest.approx(report["avg_user_percent"])
    assert "Gate" in agent.report()


def test_the_gate_passes_when_the_hottest_core_stays_under(
    cpumon_server: ServerProcess, start_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_agent(gate_env(cpumon_server, tmp_path, threshold="100"))  # nothing is above 100 %
    assert agent.wait_exit(within=90) == 0, agent.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["gate_failed"], report["time_above_s"]) == (False, 0.0)
    assert "is within --max-above" in agent.report()["Gate"]
