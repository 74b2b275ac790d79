"""Run with the python of a venv holding only the bare `cpumon` wheel: the agent's install must not
bring the web framework, the ORM or a database driver."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SERVER_PACKAGES = ("litestar", "sqlalchemy", "advanced_alchemy", "asyncmy", "aiosqlite", "alembic", "uvicorn", "redis")

installed = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is not None]
if installed:
    sys.exit(f"server packages in the agent-only install: {installed}")
print("agent-only install: none of the server packages is installed")

# The bare install ships the `cpumon-server` command too: it must say what to install, in one line.
server_command = Path(sys.executable).with_name("cpumon-server")
result = subprocess.run([str(server_command)], capture_output=True, text=True, check=False, timeout=60)
if result.returncode == 0 or "cpumon[server]" not in result.stderr or result.stderr.count("\n") != 1:
    sys.exit(f"cpumon-server in the agent-only install: exit {result.returncode}, stderr {result.stderr!r}")
print("agent-only install: cpumon-server says to install cpumon[server]")
