"""The wire contract between the API server and its clients: limits both sides must agree on.

Dependency-free, so the agent-only install carries it too. The server validates with these numbers
(`cpumon_backend.runs`, `cpumon_backend.auth`), and the agent and review commands size their requests with the same
ones: a batch the agent builds is never refused for its size, a name it sends is never too long.
"""

from __future__ import annotations

from typing import Final

#: Samples in one ingest request (one sample or a list of at most this many); also the largest page of samples.
MAX_BATCH: Final = 10_000
#: Characters in a run's name.
NAME_MAX: Final = 200
#: Characters in a run's host name.
HOSTNAME_MAX: Final = 255
#: Characters in a username.
USERNAME_MAX: Final = 64
#: Runs in one page of `GET /api/test-runs`.
RUNS_PAGE_MAX: Final = 500
#: Points in one `series` answer.
SERIES_POINTS_MAX: Final = 10_000

#: Where the API lives under its base URL.
API_PREFIX: Final = "/api"
RUNS_PATH: Final = f"{API_PREFIX}/test-runs"
LOGIN_PATH: Final = f"{API_PREFIX}/auth/login"
