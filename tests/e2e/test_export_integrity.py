"""An export that cannot finish never looks complete, and the CSV reads as documented.

Server side: a run deleted while its CSV streams ends the stream without its final chunk (checked on
the raw bytes of the HTTP/1.1 chunked answer). Client side: `cpumon export` exits non-zero, says how
many rows it received, and leaves no file, against the real server (the run deleted mid-stream, the
stream held by a proxy meanwhile) and against a server that breaks the CSV off.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cpumon.review.export import CSV_COLUMNS
from cpumon_backend.runs.export import CSV_HEADER
from tests.support.terminal import run_on_terminal

from .conftest import PASSWORD, USERNAME, ServerProcess, agent_env, wait_for
from .lying_api import lying_api
from .test_login_once import cpumon

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SAMPLES = 60_000  # about 3 MB of CSV: far more than the socket buffers a held stream fills
SMALL_WINDOW = 4096  # receive buffer of the held connections: the server's sends stall soon
COMMAND_TIMEOUT_S = 120
LAST_CHUNK = b"\r\n0\r\n\r\n"


def seeded_run(http: httpx.Client, samples: int = SAMPLES, **run: object) -> str:
    run_id: str = http.post("/api/test-runs", json={"name": "exported", **run}).raise_for_status().json()["id"]
    for first in range(0, samples, 10_000):
        batch = [{"seq": seq, "cpu_percent": 12.5} for seq in range(first, min(samples, first + 10_000))]
        http.post(f"/api/test-runs/{run_id}/cpu-usage", json=batch).raise_for_status()
    return run_id


@contextlib.contextmanager
def logged_in(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as http:
        http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD}).raise_for_status()
        yield http


def review_env(url: str, tmp_path: Path) -> dict[str, str]:
    """The review commands' settings, with timeouts for two busy cores (a slow answer is not under test here)."""
    return agent_env(url, tmp_path / "spool", CPUMON_CONNECT_TIMEOUT="30", CPUMON_REQUEST_TIMEOUT="60")


def test_a_run_deleted_during_its_export_leaves_the_stream_without_its_final_chunk(
    cpumon_server: ServerProcess,
) -> None:
    with logged_in(cpumon_server) as http:
        run_id = seeded_run(http)
        held = socket.socket()
        held.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_WINDOW)
        held.connect(("127.0.0.1", cpumon_server.port))
        cookie = http.cookies["cpumon_session"]
        path = f"/api/test-runs/{run_id}/cpu-usage.csv"
        held.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: cpumon_session={cookie}\r\n\r\n".encode())
        held.settimeout(60)
        received = held.recv(65536)  # the answer has started: the export is under way
        assert received.startswith(b"HTTP/1.1 200"), received[:200]
        http.delete(f"/api/test-runs/{run_id}").raise_for_status()
    with held:
        while chunk := held.recv(65536):  # the rest, until the server closes the connection
            received += chunk
    assert not received.endswith(LAST_CHUNK), "an aborted export must not end like a complete one"
    assert received.count(b"+00:00,12.5,") < SAMPLES
    log = cpumon_server.log()
    assert "CSV export aborted" in log, log[-2000:]
    assert "was deleted during its export" in log
    assert "Traceback" not in log, log[-3000:]


class HoldingProxy:
    """Forwards a port to the server; once an answer has passed `hold_after` bytes, holds it until `release()`.

    Its upstream sockets have a small receive window, so a held answer soon stalls the server's sends too.
    """

    def __init__(self, port: int, hold_after: int) -> None:
        self.target = ("127.0.0.1", port)
        self.hold_after = hold_after
        self.holding = threading.Event()
        self._released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.socket()
                upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_WINDOW)
                upstream.connect(self.target)
                threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        passed = 0
        try:
            while data := source.recv(SMALL_WINDOW):
                if answers and passed + len(data) > self.hold_after and not self._released.is_set():
                    self.holding.set()
                    self._released.wait()
                sink.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def test_cpumon_export_of_a_run_deleted_meanwhile_fails_says_what_it_got_and_writes_no_file(
    cpumon_server: ServerProcess, tmp_path: Path
) -> None:
    with logged_in(cpumon_server) as http:
        run_id = seeded_run(http)  # open: no expected count would tell the export was short
        proxy = HoldingProxy(cpumon_server.port, hold_after=100_000)
        try:
            env = review_env(f"http://127.0.0.1:{proxy.port}", tmp_path)
            command = [sys.executable, "-m", "cpumon", "export", run_id, "-o", "out.csv"]
            with subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            ) as export:
                wait_for(proxy.holding.is_set, within=COMMAND_TIMEOUT_S, what="the export to be under way")
                http.delete(f"/api/test-runs/{run_id}").raise_for_status()
                proxy.release()
                _, stderr = export.communicate(timeout=COMMAND_TIMEOUT_S)
        finally:
            proxy.close()
    assert export.returncode != 0
    (line,) = stderr.splitlines()
    assert "the export broke off" in line, line
    assert "out.csv was not written" in line
    said = re.search(r" after ([\d,]+) of ([\d,]+) rows", line)
    assert said, line
    assert int(said.group(2).replace(",", "")) == SAMPLES
    rows = int(said.group(1).replace(",", ""))
    # The server checks the run is still there before its final chunk: a delete landing after the last
    # rows were read (loopback buffers can hold them all) still breaks the export off, after every row.
    assert 0 < rows <= SAMPLES
    assert list(tmp_path.glob("*.csv*")) == [], "no file, and no temporary file left behind"


@pytest.mark.parametrize("to_file", [True, False], ids=["file", "stdout"])
def test_an_export_broken_off_says_how_many_rows_came_and_exits_4(to_file: bool, tmp_path: Path) -> None:
    with lying_api({r"\.csv$": "cut-csv:1234"}, csv_rows=2000) as api:
        env = review_env(api.url, tmp_path)
        result = cpumon(env, "export", "01a30000", *(["-o", str(tmp_path / "out.csv")] if to_file else []))
    assert result.returncode == 4, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert "the export broke off" in line, line
    assert "after 1,234 of 2,000 rows" in line
    if to_file:
        assert "out.csv was not written" in line
        assert list(tmp_path.glob("*.csv*")) == []
    else:
        assert "the CSV on stdout is incomplete" in line
        assert len(result.stdout.splitlines()) == 1 + 1234


def test_the_csv_has_the_documented_columns_and_one_decimal(cpumon_server: ServerProcess, tmp_path: Path) -> None:
    assert tuple(name for name, _ in CSV_COLUMNS) == CSV_HEADER
    with logged_in(cpumon_server) as http:
        run_id = http.post("/api/test-runs", json={"name": "precise"}).raise_for_status().json()["id"]
        sample = {
            "seq": 0,
            "cpu_percent": 29.99999999999825,
            "user_percent": 12.345,
            "system_percent": 0.04,
            "max_core_percent": 100.0,
        }
        http.post(f"/api/test-runs/{run_id}/cpu-usage", json=sample).raise_for_status()
    env = review_env(cpumon_server.url, tmp_path)
    result = cpumon(env, "export", run_id)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header == ",".join(CSV_HEADER)
    assert row.split(",")[3:] == ["30.0", "12.3", "0.0", "", "", "100.0"]
    listed = cpumon({**env, "COLUMNS": "80"}, "export", "--help").stdout
    assert max(len(line) for line in listed.splitlines()) <= 80
    for name, meaning in CSV_COLUMNS:
        assert f"  {name}" in listed
        assert meaning in " ".join(listed.split())
    written = cpumon(env, "export", run_id, "-o", str(tmp_path / "one.csv"))
    assert f"wrote 1 samples of run precise to {tmp_path / 'one.csv'} (" in written.stderr
    assert re.search(r"\(\d+ B\)", written.stderr), written.stderr


def test_no_progress_bar_among_csv_lines_on_a_terminal(tmp_path: Path) -> None:
    with lying_api(csv_rows=3000) as api:
        env = {**review_env(api.url, tmp_path), "COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"}
        code, output = run_on_terminal([sys.executable, "-m", "cpumon", "export", "01a30000"], env, tmp_path)
    assert code == 0, output
    assert "\x1b" not in output  # no bar, no cursor movement: only the CSV
    lines = output.replace("\r\n", "\n").splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert len(lines) == 1 + 3000
