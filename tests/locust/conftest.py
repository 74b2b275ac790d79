"""Fixtures of the Locust plugin's tests: a real server, a real agent recording this machine, a small
HTTP target, and real Locust processes running tests/locust/locustfile.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import browser, browser_page  # noqa: F401 - fixtures
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    USERNAME,
    AgentProcess,
    ApiReader,
    ServerProcess,
    agent_env,
    cpumon_server,
    server_database,
    start_agent,
    wait_for,
)
from tests.support.server import clean_environ, free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST_DEADLINE_S = 90.0  # start-up, a few seconds of load and the end of test, on two busy cores


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the load would fill the test's output."""


@pytest.fixture
def target() -> Iterator[str]:
    """The system under load: a tiny HTTP server on a free port, in a thread of the test process."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass
class Recording:
    """An agent recording this machine under a host name of its own, and a reader of the same API."""

    server: ServerProcess
    agent: AgentProcess
    hostname: str
    reader: ApiReader

    def runs(self) -> list[dict[str, Any]]:
        response = self.reader.http.get("/api/test-runs", params={"summary": "true"})
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def recording(cpumon_server: ServerProcess, start_agent: Any, tmp_path: Path) -> Iterator[Recording]:  # noqa: F811
    hostname = f"sut-{uuid.uuid4().hex[:8]}"
    env = agent_env(cpumon_server.url, tmp_path / "spool", CPUMON_HOSTNAME=hostname, CPUMON_INTERVAL="0.1")
    agent: AgentProcess = start_agent(env)
    recording = Recording(cpumon_server, agent, hostname, cpumon_server.client())

    def sampled() -> bool:
        return any(run["hostname"] == hostname and run["summary"]["sample_count"] > 0 for run in recording.runs())

    wait_for(sampled, within=30.0, what="the agent's first stored samples", every=0.1)
    yield recording
    agent.interrupt()
    agent.wait_exit()


class CountingProxy:
    """A pass-through in front of the cpumon server that notes each request's method and path."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def logins(self) -> int:
        with self._lock:
            return sum(1 for method, path in self.requests if (method, path) == ("POST", "/api/auth/login"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            def forward(self) -> None:
                with proxy._lock:
                    proxy.requests.append((self.command, self.path.split("?")[0]))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                skipped = {"host", "content-length", "connection"}
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in skipped]
                answer = httpx.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body, timeout=30.0
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in {*skipped, "transfer-encoding", "content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:  # the plugin only reads and logs in
                self.forward()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the requests are kept in `proxy.requests`."""

        return Forward

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def counting_proxy(recording: Recording) -> Iterator[CountingProxy]:
    with CountingProxy(recording.server.url) as proxy:
        yield proxy


@dataclass
class LocustRun:
    returncode: int
    output: str


def locust_command(target_url: str, server_url: str, *args: str) -> list[str]:
    return bare_locust_command(target_url, "--cpumon-url", server_url, "--cpumon-username", USERNAME, *args)


def bare_locust_command(target_url: str, *args: str) -> list[str]:
    """Locust with the test's locustfile and load, and no --cpumon-* option unless in `args`."""
    load = ["--host", target_url, "--users", "2", "--spawn-rate", "2", "--only-summary"]
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *load, *args]


def locust_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No CPUMON_* of the caller; the password as a user gives it; no user config file."""
    return clean_environ(CPUMON_PASSWORD=PASSWORD, XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), **extra)


def run_locust(command: list[str], env: dict[str, str], cwd: Path) -> LocustRun:
    done = subprocess.run(
        command, check=False, env=env, cwd=cwd, capture_output=True, timeout=LOCUST_DEADLINE_S, stdin=subprocess.DEVNULL
    )
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    return LocustRun(done.returncode, output)


__all__ = [
    "USERNAME",
    "CountingProxy",
    "LocustRun",
    "Recording",
    "bare_locust_command",
    "free_port",
    "locust_command",
    "locust_env",
    "run_locust",
    "wait_for",
]
