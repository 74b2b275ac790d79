"""Run a command with its stdout and stderr on a pseudo-terminal, as a user at a terminal would see it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

DEFAULT_WITHIN_S = 120.0


class TerminalTimeoutError(AssertionError):
    """The command did not finish in time."""


def run_on_terminal(
    command: list[str], env: dict[str, str], cwd: Path, *, within: float = DEFAULT_WITHIN_S
) -> tuple[int, str]:
    """Its exit code and everything it wrote to the terminal (stdin is /dev/null)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=cwd)
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        else:
            raise TerminalTimeoutError(f"{command} did not finish within {within:g} s")
        return process.wait(timeout=within), output.decode(errors="replace")
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
