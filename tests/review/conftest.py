"""Review-command fixtures: one real `cpumon-server` for the whole folder, seeded once through the API.

The server and its template database come from the end-to-end fixtures (tests/e2e/conftest.py).
`cpumon runs|show|export` run as subprocesses with stdout on a pipe, as a script would run them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, USERNAME, ServerProcess, server_database
from tests.support.server import clean_environ, cpumon_command, run_cpumon

__all__ = ["cpumon_command", "run_cpumon", "server_database"]  # server_database: the session fixture, for pytest

BATCH = 10_000
UPLOADS_IN_FLIGHT = 2
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SeededRun:
    id: str
    name: str
    threshold: float
    started_at: dt.datetime
    interval_s: float
    values: list[float]
    ended_at: dt.datetime | None

    def recorded_at(self, k: int) -> dt.datetime:
        return self.started_at + dt.timedelta(microseconds=round(k * self.interval_s * 1_000_000))

    @property
    def time_above_s(self) -> float:
        return self.time_above(self.threshold)

    def time_above(self, threshold: float) -> float:
        """The design's rule: each sample above the threshold stands for the interval since the one before."""
        return sum(
            (self.recorded_at(k) - self.recorded_at(k - 1)).total_seconds()
            for k in range(1, len(self.values))
            if self.values[k] > threshold
        )


@dataclass
class Seeded:
    server: ServerProcess
    runs: dict[str, SeededRun] = field(default_factory=dict)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        env = clean_environ(
            CPUMON_API_URL=self.server.url,
            CPUMON_USERNAME=USERNAME,
            CPUMON_PASSWORD=PASSWORD,
            XDG_CONFIG_HOME=str(home / "xdg-config"),  # keep the user's own config file out
            # A colourful terminal type: output must still be plain because stdout is a pipe.
            TERM="xterm-256color",
            COLORTERM="truecolor",
            **extra,
        )
        for forcing in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
            env.pop(forcing, None)
        return env


def _seed(http: httpx.Client, name: str, values: list[float], **run: Any) -> SeededRun:
    started_at: dt.datetime = run.pop("started_at")
    interval_s: float = run.pop("interval_s", 1.0)
    threshold: float = run.pop("threshold", 80.0)
    finish: bool = run.pop("finish", True)
    created = http.post(
        "/api/test-runs",
        json={
            "name": name,
            "hostname": "review-host",
            "interval_s": interval_s,
            "threshold_percent": threshold,
            "started_at": started_at.isoformat(),
        },
    )
    created.raise_for_status()
    seeded = SeededRun(
        id=created.json()["id"],
        name=name,
        threshold=threshold,
        started_at=started_at,
        interval_s=interval_s,
        values=values,
        ended_at=None,
    )

    def post(first: int) -> None:
        batch = [
            {"seq": k, "recorded_at": seeded.recorded_at(k).isoformat(), "cpu_percent": values[k]}
            for k in range(first, min(len(values), first + BATCH))
        ]
        response = http.post(f"/api/test-runs/{seeded.id}/cpu-usage", json=batch)
        response.raise_for_status()
        assert response.json()["inserted"] == len(batch)

    # A few batches in flight: the server decodes one while SQLite writes another.
    with ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT) as pool:
        list(pool.map(post, range(0, len(values), BATCH)))
    if not finish:
        return seeded
    ended_at = started_at + dt.timedelta(seconds=len(values) * interval_s)
    http.post(f"/api/test-runs/{seeded.id}/finish", json={"ended_at": ended_at.isoformat()}).raise_for_status()
    return SeededRun(**{**seeded.__dict__, "ended_at": ended_at})


KNOWN_VALUES = [12.5, 20.0, 35.0, 60.0, 75.0, 90.0, 55.0, 40.0, 30.0, 10.0]
BIG_SAMPLES = 200_000
SMALL_SAMPLES = 1_000


def big_values(n: int) -> list[float]:
    """Deterministic, spread over 0-99.9 %, with tenths."""
    return [((k * 7919) % 1000) / 10 for k in range(n)]


@contextlib.contextmanager
def _server(root: Path, template: Path) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    """A server over a copy of the template database, and a client logged in to it."""
    database = root / "cpumon.db"
    database.write_bytes(template.read_bytes())
    server = ServerProcess(database=database, log_path=root / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60.0) as http:
            http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD}).raise_for_status()
            yield server, http
    finally:
        server.close()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, server_database: Path) -> Iterator[Seeded]:
    """A server with four runs of known samples (newest first): open, known, empty, small."""
    with _server(tmp_path_factory.mktemp("review-server"), server_database) as (server, http):
        result = Seeded(server)
        day = dt.timedelta(days=1)
        result.runs["small"] = _seed(
            http, "small", big_values(SMALL_SAMPLES), started_at=T0 + day, interval_s=0.01, threshold=75.0
        )
        result.runs["empty"] = _seed(http, "empty", [], started_at=T0 + 2 * day)
        result.runs["known"] = _seed(http, "known", KNOWN_VALUES, started_at=T0 + 3 * day, threshold=50.0)
        result.runs["open"] = _seed(
            http, "still open", [85.0, 95.0, 20.0], started_at=T0 + 4 * day, threshold=80.0, finish=False
        )
        yield result


@pytest.fixture(scope="session")
def big_seeded(tmp_path_factory: pytest.TempPathFactory, server_database: Path) -> Iterator[Seeded]:
    """A server of its own with one 200,000-sample run ("big") and one of 1,000 ("small").

    Its own, so that only the tests that need the big run pay for it (about 10-20 s of uploads);
    they carry the xdist group "review-big" so that `--dist loadgroup` seeds it once.
    """
    with _server(tmp_path_factory.mktemp("review-big-server"), server_database) as (server, http):
        result = Seeded(server)
        result.runs["big"] = _seed(http, "big", big_values(BIG_SAMPLES), started_at=T0, interval_s=0.01, threshold=75.0)
        result.runs["small"] = _seed(
            http, "small", big_values(SMALL_SAMPLES), started_at=T0 + dt.timedelta(days=1), interval_s=0.01
        )
        yield result


@pytest.fixture
def env(seeded: Seeded, tmp_path: Path) -> dict[str, str]:
    return seeded.env(tmp_path)


@pytest.fixture
def big_env(big_seeded: Seeded, tmp_path: Path) -> dict[str, str]:
    return big_seeded.env(tmp_path)


def peak_rss_kib(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """Run `command`; its exit code and its peak resident set size in KiB (from wait4's rusage: exact, no polling)."""
    with (cwd / "stdout").open("wb") as out, (cwd / "stderr").open("wb") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    return process.returncode, usage.ru_maxrss
