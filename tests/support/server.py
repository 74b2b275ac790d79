"""A real server process on a free loopback port: start it, wait for /health, always stop it.

One helper for every suite that runs `cpumon-server` (or another command) as a subprocess: the
end-to-end, web, reliability, Locust and cluster tests, and `python -m bench`. Stdlib only, so
whatever imports it needs nothing more than the checkout.

Why each choice:
- the server runs in its own process group (a new session), so stopping it also reaches the uvicorn
  workers it spawned, even when the supervisor died first;
- the wait polls /health with a deadline (never a fixed sleep) and fails at once, with the tail of
  the server's log, when the process exits, so a broken start says why instead of timing out;
- a start that fails, for whatever reason (deadline, exit, Ctrl-C), stops the process before the
  error leaves `start()`: a caller's `try/finally` placed after `start()` never leaks it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

START_DEADLINE_S = 240.0  # generous: a cold start on loaded CI cores (imports took 2 min with 8 suites on 2 cores)
STOP_GRACE_S = 15.0  # SIGTERM lets uvicorn finish its requests and flush its log; then SIGKILL
POLL_S = 0.1
LOG_TAIL_CHARS = 3000


class ServerStartError(RuntimeError):
    """The server exited or did not answer /health in time; the message carries its log's tail."""


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together so none is handed out twice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any CPUMON_* variable, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CPUMON_")}
    env.update(extra)
    return env


def cpumon_command(*args: str) -> list[str]:
    """`cpumon ARGS` run by this interpreter from the checkout."""
    return [sys.executable, "-m", "cpumon", *args]


def run_cpumon(env: dict[str, str], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`cpumon ARGS` as a script runs it: its output captured as text, and a stdin that is not a terminal
    (nothing can be typed, so nothing is asked)."""
    command = cpumon_command(*args)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
    )


def server_command(*args: str) -> list[str]:
    """`cpumon-server ARGS` run by this interpreter from the checkout (no console script needed)."""
    return [sys.executable, "-c", "import sys; from cpumon_backend.cli import main; sys.exit(main())", *args]


def answers_health(port: int, *, timeout: float = 2.0) -> bool:
    """GET /health on 127.0.0.1:`port` answers 200 (plain http.client: no proxy settings apply)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def stop_process(process: subprocess.Popen[bytes], *, grace: float = STOP_GRACE_S, group: bool = False) -> None:
    """SIGTERM, SIGKILL after `grace` s; with `group` (a session leader) its whole group is SIGKILLed last.

    SIGTERM goes to the leader only: uvicorn's supervisor stops its own workers gracefully. The final
    SIGKILL of the group takes whatever is left (workers of a supervisor that died or hung).
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill(process, group=group)
            process.wait(timeout=10)
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _kill(process: subprocess.Popen[bytes], *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()


@dataclass(kw_only=True)
class ServerProcess:
    """One server on a fixed free port: start (and wait for /health), stop or kill, start again.

    `env` is the whole environment of the process; CPUMON_HOST and CPUMON_PORT are set from `port`.
    Subclasses may fill `command` and `env` in `__post_init__` and extend `ready()`.
    """

    log_path: Path
    command: list[str] = field(default_factory=server_command)
    env: dict[str, str] = field(default_factory=clean_environ)
    name: str = "cpumon-server"
    port: int = field(default_factory=free_port)
    stop_grace: float = STOP_GRACE_S
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ready(self) -> bool:
        """Whether the started server serves; the default is /health answering 200."""
        return answers_health(self.port)

    def start(self, within: float = START_DEADLINE_S) -> Self:
        """Start the process and wait until `ready()`; on any failure the process is stopped first."""
        assert self.process is None, f"{self.name} is already running"
        env = {**self.env, "CPUMON_HOST": "127.0.0.1", "CPUMON_PORT": str(self.port)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready(within)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, within: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + within
        while True:
            code = self.process.poll()
            if code is not None:
                msg = f"{self.name} exited ({code}) before answering /health; its output ends:\n{self._tail()}"
                raise ServerStartError(msg)
            if self.ready():
                return
            if time.monotonic() > deadline:
                msg = (
                    f"{self.name} at {self.url} did not answer /health within {within:g} s (stopped); "
                    f"its output ends:\n{self._tail()}"
                )
                raise ServerStartError(msg)
            time.sleep(POLL_S)

    def _tail(self) -> str:
        return self.log()[-LOG_TAIL_CHARS:] or "(nothing)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; leftovers of its process group are killed too."""
        if self.process is not None:
            process, self.process = self.process, None
            stop_process(process, grace=self.stop_grace, group=True)

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean shutdown, as in a crash."""
        if self.process is not None:
            process, self.process = self.process, None
            _kill(process, group=True)
            process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
