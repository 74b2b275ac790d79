"""A tiny HTTP server on a free loopback port that answers like a cpumon API, except where told to lie.

For the clients' tests (agent, review commands): what they do when the API answers 400 MB, drips its
answer a byte at a time, answers something that is not JSON, answers 404/501 (another server at that
URL), or breaks a CSV export off. It runs in a thread of the test process; the client under test is a
real `cpumon` process. A lie is chosen per request by a regular expression on "METHOD /path".
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cpumon.wire import RunSummary

RUN_ID = "01a30000-0000-7000-8000-00000000c0de"
HUGE_BYTES = 400 * 1024 * 1024
CHUNK = 1024 * 1024
DRIP_EVERY_S = 0.1
CSV_HEADER = "id,seq,recorded_at,cpu_percent,user_percent,system_percent,iowait_percent,steal_percent,max_core_percent"

# What a lie can be:
#   "huge"        200, JSON type, 400 MB of blanks sent as fast as the client takes them
#   "drip"        200, JSON type, then one byte every DRIP_EVERY_S (a valid `{}` padded: it never ends in time)
#   "not-json"    200 with an HTML page
#   "empty-json"  200 with `{}` (JSON, but not what the API answers)
#   "404", "501"  that status with an HTML page, as http.server answers
#   "cut-csv:N"   the CSV export's header and N rows, chunked, then the connection closed without the last chunk
Lie = str


@dataclass
class LyingApi:
    lies: dict[str, Lie] = field(default_factory=dict)
    csv_rows: int = 0  # rows of the run an honest export answers (and its summary counts)
    seen: Counter[str] = field(default_factory=Counter)  # "METHOD /path" -> requests
    stored: int = 0  # samples taken by an honest POST .../cpu-usage
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lie_for(self, request_line: str) -> Lie | None:
        return next((lie for pattern, lie in self.lies.items() if re.search(pattern, request_line)), None)

    def run_body(self) -> dict[str, Any]:
        return {
            "id": RUN_ID,
            "name": "lied to",
            "hostname": "liar",
            "interval_s": 1.0,
            "threshold_percent": 80.0,
            "started_at": "2026-03-01T12:00:00+00:00",
            "ended_at": None,
            "created_at": "2026-03-01T12:00:00+00:00",
            "updated_at": "2026-03-01T12:00:00+00:00",
            "summary": {
                **dict.fromkeys(field.name for field in fields(RunSummary)),
                "sample_count": self.csv_rows,
                "threshold_percent": 80.0,
                "time_above_threshold_s": 0.0,
            },
        }


def csv_row(k: int) -> str:
    return f"{k + 1},{k},2026-03-01T12:00:{k % 60:02d}+00:00,12.5,,,,,"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read what the client says."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        api = self.server.api
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        line = f"{self.command} {path}"
        api.seen[line] += 1
        lie = api.lie_for(line)
        if lie is None:
            self._honest(path, body)
        elif lie.startswith("cut-csv:"):
            self._cut_csv(int(lie.split(":", 1)[1]))
        else:
            self._lie(lie)

    # -- honest answers -------------------------------------------------------------------
    def _honest(self, path: str, body: bytes) -> None:  # noqa: PLR0911 - one branch per route
        api = self.server.api
        if path == "/api/auth/login":
            return self._json(200, {"id": 1, "username": json.loads(body)["username"]}, cookie=True)
        if path == "/api/auth/me":
            if "cpumon_session=" not in (self.headers.get("Cookie") or ""):
                return self._json(401, {"status_code": 401, "detail": "not logged in"})
            return self._json(200, {"id": 1, "username": "e2e"})
        if path == "/api/test-runs" and self.command == "POST":
            return self._json(201, {**api.run_body(), **json.loads(body)})
        if path == "/api/test-runs":
            return self._json(200, {"items": [api.run_body()], "total": 1})
        if path.endswith("/cpu-usage") and self.command == "POST":
            batch = json.loads(body)
            api.stored += len(batch)
            return self._json(201, {"inserted": len(batch), "duplicates": 0})
        if path.endswith("/cpu-usage.csv"):
            return self._csv(api.csv_rows)
        if path.startswith("/api/test-runs/"):
            return self._json(200, api.run_body())
        return self._json(404, {"status_code": 404, "detail": "not found"})

    def _json(self, status: int, body: Any, *, cookie: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", "cpumon_session=lied; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(data)

    def _csv(self, rows: int) -> None:
        data = "".join(f"{line}\n" for line in [CSV_HEADER, *(csv_row(k) for k in range(rows))]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- lies -----------------------------------------------------------------------------
    def _lie(self, lie: Lie) -> None:
        if lie in {"404", "501"}:
            page = f"<html><body><h1>Error {lie}</h1></body></html>".encode()
            return self._raw(int(lie), "text/html", page)
        if lie == "not-json":
            return self._raw(200, "text/html", b"<html><body>It works!</body></html>")
        if lie == "empty-json":
            return self._raw(200, "application/json", b"{}")
        if lie == "huge":
            return self._stream(HUGE_BYTES, lambda sent: b" " * min(CHUNK, HUGE_BYTES - sent))
        if lie == "drip":
            return self._stream(1_000_000, self._drip)
        raise ValueError(f"unknown lie {lie!r}")

    def _raw(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drip(self, sent: int) -> bytes:
        self.server.api.stopping.wait(DRIP_EVERY_S)
        return b"{" if sent == 0 else b" "

    def _stream(self, size: int, next_part: Any) -> None:
        """`size` bytes announced, sent part by part until done, the client leaves or the server stops."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < size and not self.server.api.stopping.is_set():
                part = next_part(sent)
                self.wfile.write(part)
                self.wfile.flush()
                sent += len(part)
        except OSError:
            pass  # the client gave up: what a bounded client does
        self.close_connection = True

    def _cut_csv(self, rows: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in [CSV_HEADER, *(csv_row(k) for k in range(rows))]:
            data = f"{line}\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.close_connection = True  # no "0\r\n\r\n": the export broke off


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LyingApi


@contextmanager
def lying_api(lies: dict[str, Lie] | None = None, *, csv_rows: int = 0) -> Iterator[LyingApi]:
    """A `LyingApi` serving on a free loopback port for the block."""
    api = LyingApi(lies or {}, csv_rows=csv_rows)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_pid(pid: int, *, within: float) -> tuple[int | None, int]:
    """Wait for child `pid` to exit: its exit code (None if it did not within `within` s) and peak RSS in KiB.

    The peak is the kernel's high-water mark of the process's own memory (VmHWM), polled while it runs:
    not wait4's ru_maxrss, which also counts the memory of this (big) test process that the child
    inherited before its exec.
    """
    deadline = time.monotonic() + within
    peak = 0
    while time.monotonic() < deadline:
        peak = max(peak, _high_water_kib(pid))
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), peak
        time.sleep(0.02)
    return None, peak


def _high_water_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0
