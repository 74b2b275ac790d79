"""An in-process stand-in for the cpumon API behind httpx.MockTransport, with scripted faults.

Only for unit tests of the uploader's retry logic; the end-to-end tests use the real server.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

# Scripted outcomes for the next requests, one per request:
#   "ok"              answer normally
#   "503"             answer 503 without doing anything
#   "down"            no connection (httpx.ConnectError)
#   "401"             answer 401 (session expired)
#   "stored-then-503" store the samples (or create the run), then answer 503 as if the answer was lost
Fault = str


@dataclass
class FakeApi:
    password: str = "pw"
    faults: deque[Fault] = field(default_factory=deque)
    stored: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    logins: int = 0
    requests: list[str] = field(default_factory=list)
    closed_runs: set[str] = field(default_factory=set)  # runs that answer 409
    failing_suffixes: set[str] = field(default_factory=set)  # paths ending so answer 503
    runs_created: list[dict[str, Any]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911, PLR0912 - one branch per route
        path = request.url.path
        self.requests.append(f"{request.method} {path}")
        fault = self.faults.popleft() if self.faults else "ok"
        if any(path.endswith(suffix) for suffix in self.failing_suffixes):
            fault = "503"
        if fault == "down":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if fault == "503":
            return httpx.Response(503, json={"status_code": 503, "detail": "database unavailable"})
        if fault == "401" and not path.endswith("/login"):
            return httpx.Response(401, json={"status_code": 401, "detail": "not logged in"})
        body: Any = json.loads(request.content) if request.content else None
        if path == "/api/auth/login":
            self.logins += 1
            if body["password"] != self.password:
                return httpx.Response(401, json={"status_code": 401, "detail": "invalid username or password"})
            return httpx.Response(200, json={"id": 1, "username": body["username"]})
        if path == "/api/auth/me":
            return httpx.Response(200, json={"id": 1, "username": "ada"})
        if path == "/api/test-runs" and request.method == "GET":
            name = request.url.params.get("name", "")
            items = [run for run in reversed(self.runs_created) if name.lower() in run["name"].lower()]
            return httpx.Response(200, json={"items": items, "total": len(items)})
        if path == "/api/test-runs":
            run = {**body, "id": f"01a30000-0000-7000-8000-{len(self.runs_created):012d}", "ended_at": None}
            self.runs_created.append(run)
            if fault == "stored-then-503":
                return httpx.Response(503, json={"status_code": 503, "detail": "lost answer"})
            return httpx.Response(201, json=run)
        if path.endswith("/cpu-usage"):
            run_id = path.split("/")[3]
            if run_id in self.closed_runs:
                return httpx.Response(409, json={"status_code": 409, "detail": "run is finished"})
            rows = self.stored.setdefault(run_id, {})
            inserted = 0
            for item in body:
                if item["seq"] not in rows:
                    rows[item["seq"]] = item
                    inserted += 1
            if fault == "stored-then-503":
                return httpx.Response(503, json={"status_code": 503, "detail": "lost answer"})
            return httpx.Response(201, json={"inserted": inserted, "duplicates": len(body) - inserted})
        if path.endswith("/finish"):
            run_id = path.split("/")[3]
            self.finished.setdefault(run_id, body["ended_at"])
            return httpx.Response(200, json={"id": run_id, "ended_at": self.finished[run_id]})
        return httpx.Response(404, json={"status_code": 404, "detail": "not found"})

    def seqs(self, run_id: str) -> list[int]:
        return sorted(self.stored.get(run_id, {}))
