"""Run with the python of a venv holding only the bare `cpumon` wheel: the agent's install must not
bring the web framework, the ORM or a database driver."""

from __future__ import annotations

import importlib.util
import sys

SERVER_PACKAGES = ("litestar", "sqlalchemy", "advanced_alchemy", "aiomysql", "aiosqlite", "alembic", "uvicorn", "redis")

installed = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is not None]
if installed:
    sys.exit(f"server packages in the agent-only install: {installed}")
print("agent-only install: none of the server packages is installed")
