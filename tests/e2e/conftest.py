"""End-to-end fixtures: the real `cpumon-server` and the real `cpumon`, each as a subprocess.

The server runs on a free loopback port over an SQLite file in a temp dir; the agent is
`python -m cpumon` with its settings in the environment and stdout in a file (so it is
not a terminal: plain lines, which the tests read). Everything waits by polling with a
deadline, never by sleeping a fixed time, so the suite passes on two busy cores.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import tests.support.server as support
from cpumon.sample import Sample
from cpumon.spool import NewRun, RunMeta, RunSpool, Spool, local_run_id
from tests.support.server import START_DEADLINE_S, clean_environ, server_command

USERNAME = "e2e"
PASSWORD = "e2e-password-1"
T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], *, within: float, what: str, every: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:g} s waiting for {what}", pytrace=False)
        time.sleep(every)


@dataclass(kw_only=True)
class ServerProcess(support.ServerProcess):
    """One `cpumon-server` over an SQLite file on a fixed port; it can be killed and started again on the same port."""

    database: Path
    readers: list[ApiReader] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = clean_environ(CPUMON_DATABASE_URL=f"sqlite+aiosqlite:///{self.database}", CPUMON_LOG_LEVEL="warning")

    def client(self, username: str = USERNAME, password: str = PASSWORD) -> ApiReader:
        """A logged-in reader; closed when the fixture ends."""
        reader = ApiReader(self.url, username, password)
        self.readers.append(reader)
        return reader

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.stop()


class ApiReader:
    """What the API has stored, read through the API itself (the contract, not the tables)."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10.0)
        response = self.http.post("/api/auth/login", json={"username": username, "password": password})
        response.raise_for_status()

    def close(self) -> None:
        self.http.close()

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/test-runs/{run_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            response = self.http.get(f"/api/test-runs/{run_id}/cpu-usage", params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def stored_count(self, run_id: str) -> int:
        return int(self.run(run_id)["summary"]["sample_count"])


@pytest.fixture(scope="session")
def server_database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A migrated database with the test user, made once per run and copied for each server.

    Once per run, not per xdist worker: the workers share their base temp folder's parent, and the
    first to need the template makes it under a lock while the others wait (two subprocesses each
    worker saves). A run without xdist keeps it in its own base temp folder.
    """
    base = tmp_path_factory.getbasetemp()
    # An xdist worker has `workerinput` (PYTEST_XDIST_WORKER would also be set in a pytest its tests started).
    shared = base.parent if hasattr(request.config, "workerinput") else base
    path = shared / "server-template" / "cpumon.db"
    path.parent.mkdir(exist_ok=True)
    with (shared / "server-template.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not path.exists():
            _make_template(path.with_suffix(".partial"))
            path.with_suffix(".partial").rename(path)  # a worker that failed midway leaves no half template
    return path


def _make_template(path: Path) -> None:
    path.unlink(missing_ok=True)
    env = clean_environ(CPUMON_DATABASE_URL=f"sqlite+aiosqlite:///{path}", CPUMON_BCRYPT_ROUNDS="4")
    subprocess.run(server_command("migrate"), env=env, check=True, capture_output=True, timeout=120)
    create_user(env, USERNAME, PASSWORD)


def create_user(env: dict[str, str], username: str, password: str) -> None:
    """`cpumon-server create-user NAME` with the password on stdin, as a script would."""
    command = server_command("create-user", username)
    subprocess.run(command, env=env, input=f"{password}\n".encode(), check=True, capture_output=True, timeout=120)


@contextmanager
def server_over_copy(template: Path, folder: Path, *users: tuple[str, str]) -> Iterator[ServerProcess]:
    """A running server in `folder` over a copy of the template database (plus `users`); closed after."""
    folder.mkdir(exist_ok=True)
    database = folder / "cpumon.db"
    shutil.copyfile(template, database)
    server = ServerProcess(database=database, log_path=folder / "server.log")
    for username, password in users:
        create_user(server.env, username, password)
    server.start()  # a failed start stops its process itself
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cpumon_server(tmp_path: Path, server_database: Path) -> Iterator[ServerProcess]:
    """A running server of this test's own, over a copy of the template database."""
    with server_over_copy(server_database, tmp_path / "server") as server:
        yield server


# -- the agent --------------------------------------------------------------------------


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_output(self, pattern: str, *, within: float = START_DEADLINE_S) -> re.Match[str]:
        """Wait until stdout matches `pattern`; fail early if the agent exits first."""

        def seen() -> re.Match[str] | None:
            match = re.search(pattern, self.stdout, re.MULTILINE)
            if match is None and self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"cpumon exited ({code}) before {pattern!r}:\n{self.stdout}{self.stderr}")
            return match

        return wait_for(seen, within=within, what=f"{pattern!r} in cpumon's output")

    def run_id(self) -> str:
        """The id of the run the agent records (it prints it as it starts)."""
        return self.wait_output(r"recording run .* \(([0-9a-f-]{36})\)").group(1)

    def lose_the_api(self, server: ServerProcess, *, stored: int, within: float, kill: bool = False) -> str:
        """Once `stored` samples of the agent's run are in, take the API away (stop it, or SIGKILL it with
        `kill`) and wait until the agent sees an upload fail. The run's id."""
        run_id = self.run_id()
        api = server.client()
        wait_for(lambda: api.stored_count(run_id) >= stored, within=within, what=f"{stored} stored samples")
        if kill:
            server.kill()
        else:
            server.stop()
        self.wait_output(r"WARNING  upload failed")
        return run_id

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def stop_keeping_unsent(self, *, within: float = START_DEADLINE_S) -> int:
        """Ctrl-C, and a second one as the last upload starts: the agent exits without waiting, what it
        could not send stays in the spool. Its exit code."""
        self.interrupt()
        self.wait_output(r"stopping: uploading the last \d+ samples?")
        self.interrupt()
        return self.wait_exit(within=within)

    def wait_exit(self, *, within: float = START_DEADLINE_S) -> int:
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"cpumon did not exit within {within:g} s:\n{self.stdout}{self.stderr}", pytrace=False)

    def report(self) -> dict[str, str]:
        """The report table's rows, label -> value (the table is plain text: stdout is a file)."""
        return report_rows(self.stdout)


def report_rows(stdout: str) -> dict[str, str]:
    """The rows of the report table in an agent's plain output, label -> value."""
    return {
        match.group(1).strip(): match.group(2).strip()
        for match in re.finditer(r"^│ ([A-Z][A-Za-z ]+?) +│ (.*?) *│$", stdout, re.MULTILINE)
    }


def agent_env(url: str, spool_dir: Path, **overrides: str) -> dict[str, str]:
    settings = {
        "CPUMON_API_URL": url,
        "CPUMON_USERNAME": USERNAME,
        "CPUMON_PASSWORD": PASSWORD,
        "CPUMON_INTERVAL": "0.05",
        "CPUMON_PRINT_INTERVAL": "1",
        "CPUMON_FLUSH_INTERVAL": "0.2",
        "CPUMON_BATCH_SIZE": "50",
        "CPUMON_SPOOL_DIR": str(spool_dir),
        "CPUMON_CONNECT_TIMEOUT": "3",
        "CPUMON_REQUEST_TIMEOUT": "3",
        "CPUMON_RETRY_MAX_DELAY": "0.5",
        "CPUMON_FLUSH_TIMEOUT": "15",
        # Keep the user's own config file out of the test.
        "XDG_CONFIG_HOME": str(spool_dir.parent / "xdg-config"),
    }
    settings.update(overrides)
    return clean_environ(**settings)


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start `python -m cpumon` with the given environment; each start gets its own output files."""
    started: list[AgentProcess] = []

    def start(env: dict[str, str]) -> AgentProcess:
        n = len(started)
        out, err = tmp_path / f"agent-{n}.out", tmp_path / f"agent-{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "cpumon"], env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
            )
        agent = AgentProcess(process, out, err)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(timeout=10)


def spool_a_run(spool_dir: Path, api_url: str, samples: int) -> RunSpool:
    """A run an earlier start left in the spool for `api_url` and the e2e user."""
    spooled = Spool(spool_dir).run(local_run_id())
    started = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    new = NewRun(hostname="here", interval_s=1.0, threshold_percent=80.0)
    spooled.write_meta(RunMeta(spooled.run_id, api_url, USERNAME, "earlier", started, None, create=new))
    spooled.write_segment([Sample(k, started + dt.timedelta(seconds=k), 10.0) for k in range(samples)])
    return spooled
