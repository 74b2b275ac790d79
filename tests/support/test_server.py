"""The server helper itself: a start that fails says why, in time, and leaves no process behind."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.server import ServerProcess, ServerStartError, answers_health, free_ports

# A "server" that never answers: it prints its pid and its child's (a worker in its process group),
# ignores SIGTERM (as a hung supervisor would), and sleeps.
NEVER_ANSWERS = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("pids", __import__("os").getpid(), child.pid, flush=True)
time.sleep(600)
"""


@dataclass(kw_only=True)
class MuteServer(ServerProcess):
    """Never ready; its first check waits until the process printed its pids, so they are in the log."""

    def ready(self) -> bool:
        deadline = time.monotonic() + 60.0  # a cold interpreter start on two busy cores
        while "pids " not in self.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        return False


def gone(pid: int) -> bool:
    """No such process, or only its zombie (an orphan waits for init to reap it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pids_in(log: str) -> list[int]:
    line = next(line for line in log.splitlines() if line.startswith("pids "))
    return [int(pid) for pid in line.split()[1:]]


def wait_gone(pids: list[int], within: float) -> list[int]:
    """The pids still alive after `within` s (polled: SIGKILL takes effect when the victim is scheduled)."""
    deadline = time.monotonic() + within
    while (alive := [pid for pid in pids if not gone(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def test_a_server_that_never_answers_fails_at_the_deadline_and_is_killed_with_its_children(tmp_path: Path) -> None:
    server = MuteServer(
        command=[sys.executable, "-c", NEVER_ANSWERS], log_path=tmp_path / "never.log", name="mute", stop_grace=1.0
    )
    began = time.monotonic()
    with pytest.raises(ServerStartError) as failed:
        server.start(within=3.0)
    elapsed = time.monotonic() - began
    message = str(failed.value)
    assert f"mute at {server.url} did not answer /health within 3 s (stopped)" in message
    assert "pids " in message  # the tail of its output
    assert 3.0 <= elapsed < 60.0 + 1.0 + 30.0  # the deadline (or the wait for the pids), the grace, and room
    assert server.process is None
    assert wait_gone(pids_in(server.log()), within=30.0) == []


def test_a_server_that_exits_at_once_fails_early_with_its_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('cannot use the database: nope', file=sys.stderr); sys.exit(3)"]
    server = ServerProcess(command=command, log_path=tmp_path / "exits.log", name="quitter")
    began = time.monotonic()
    with pytest.raises(ServerStartError) as failed:
        server.start(within=600.0)
    assert time.monotonic() - began < 60.0  # far before the deadline: the exit is noticed
    assert "quitter exited (3) before answering /health" in str(failed.value)
    assert "cannot use the database: nope" in str(failed.value)
    assert server.process is None


def test_a_server_that_answers_is_ready_then_stopped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "health").write_text("ok")  # http.server answers GET /health with this file: 200
    port = free_ports(1)[0]
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    with ServerProcess(command=command, port=port, log_path=tmp_path / "http.log") as server:
        process = server.process
        assert process is not None
        assert answers_health(port)
    assert process.poll() is not None  # stopped and reaped on leaving the block
    assert wait_gone([process.pid], within=30.0) == []
    assert not answers_health(port)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(1024 <= port < 65536 for port in ports)
