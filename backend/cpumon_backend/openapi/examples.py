"""Examples for the document: one real load test, seen through every request and answer.

A run of a checkout load test on `web-01`, sampled once a second. Looked up by the component schema
an answer or body refers to, else by (operation id, status); errors by status code. tests/backend/
test_openapi.py validates every example against its schema, so they cannot drift from the API.
"""

from __future__ import annotations

from typing import Any

from cpumon.wire import EVENTS_PER_RUN_MAX
from cpumon_backend.events.service import TooManyEventsError

RUN_ID = "0195f3a2-7c4e-7d1a-9b2f-3c8d5e6f7a81"
STARTED = "2026-03-02T14:00:00Z"
ENDED = "2026-03-02T14:30:00Z"


def _sample(seq: int, cpu_percent: float) -> dict[str, Any]:
    """A sample as the agent sends it: total CPU, its breakdown, and the busiest core (on 8 cores)."""
    user = round(cpu_percent * 0.7, 2)
    return {
        "seq": seq,
        "recorded_at": f"2026-03-02T14:00:{seq:02d}Z",
        "cpu_percent": cpu_percent,
        "user_percent": user,
        "system_percent": round(cpu_percent - user - 1.0, 2),
        "iowait_percent": 0.75,
        "steal_percent": 0.25,
        "max_core_percent": min(100.0, round(cpu_percent * 1.6, 2)),
    }


SAMPLE = _sample(0, 37.5)
BATCH = [_sample(seq, pct) for seq, pct in enumerate([37.5, 42.0, 88.25, 91.5, 64.0])]

RUN = {
    "id": RUN_ID,
    "name": "checkout load test",
    "hostname": "web-01",
    "interval_s": 1.0,
    "threshold_percent": 80.0,
    "started_at": STARTED,
    "ended_at": None,
    "created_at": STARTED,
    "updated_at": STARTED,
}
SUMMARY = {
    "sample_count": 1800,
    "avg_percent": 63.4,
    "min_percent": 12.0,
    "max_percent": 97.5,
    "first_sample_at": "2026-03-02T14:00:00Z",
    "last_sample_at": "2026-03-02T14:29:59Z",
    "threshold_percent": 80.0,
    "time_above_threshold_s": 412.0,
    "avg_user_percent": 44.1,
    "avg_system_percent": 17.6,
    "avg_iowait_percent": 1.2,
    "avg_steal_percent": 0.5,
    "max_core_percent": 100.0,
}
SAMPLES_READ = [{"id": 1 + i, **sample} for i, sample in enumerate(BATCH[:3])]
SERIES = [
    {"start": "2026-03-02T14:00:00Z", "count": 60, "min_percent": 12.0, "avg_percent": 41.2, "max_percent": 58.0}
    | {"max_core_percent": 92.5},
    {"start": "2026-03-02T14:01:00Z", "count": 60, "min_percent": 55.5, "avg_percent": 86.9, "max_percent": 97.5}
    | {"max_core_percent": 100.0},
]
EVENTS = [
    {"id": 1, "at": STARTED, "kind": "load", "text": "test start", "created_at": STARTED},
    {"id": 2, "at": "2026-03-02T14:05:00Z", "kind": "load", "text": "users 10 -> 50"}
    | {"created_at": "2026-03-02T14:05:00.2Z"},
    {"id": 3, "at": ENDED, "kind": "load", "text": "test stop", "created_at": "2026-03-02T14:30:00.1Z"},
]

#: Keyed by the component schema a body or answer refers to.
BY_SCHEMA: dict[str, dict[str, Any]] = {
    "LoginRequest": {"credentials": {"username": "alice", "password": "correct horse battery staple"}},
    "UserRead": {"alice": {"id": 1, "username": "alice"}},
    "RunCreate": {
        "a named run": {"name": "checkout load test", "hostname": "web-01", "interval_s": 1.0, "threshold_percent": 80},
        "all defaults": {},
    },
    "RunFinish": {"ended now": {}, "ended at a given time": {"ended_at": ENDED}},
    "RunRead": {"a running run": RUN, "a finished run": {**RUN, "ended_at": ENDED, "updated_at": ENDED}},
    "RunDetail": {"with its summary": {**RUN, "ended_at": ENDED, "updated_at": ENDED, "summary": SUMMARY}},
    "RunPage": {
        "first page": {"items": [{**RUN, "summary": SUMMARY}], "total": 1, "limit": 50, "offset": 0},
    },
    "IngestResult": {
        "a batch stored": {"inserted": 5, "duplicates": 0},
        "a re-sent batch": {"inserted": 0, "duplicates": 5},
    },
    "SamplePage": {
        "a page with more to come": {"items": SAMPLES_READ, "next_cursor": "63908056802000000.3"},
        "the last page": {"items": SAMPLES_READ[:1], "next_cursor": None},
    },
    "Series": {"two one-minute buckets": {"items": SERIES}},
    "EventCreate": {
        "a note now": {"text": "deployed v2"},
        "a load phase at a given time": {"text": "users 10 -> 50", "at": "2026-03-02T14:05:00Z", "kind": "load"},
    },
    "EventRead": {"a load phase": EVENTS[1]},
    "EventList": {"a load test's phases": {"items": EVENTS}},
}

#: Keyed by (operation id, "request" or status code): bodies and answers without a component schema of their own.
BY_OPERATION: dict[tuple[str, str], dict[str, Any]] = {
    ("ingestSamples", "request"): {"one sample": SAMPLE, "a batch": BATCH},
    ("exportCsv", "200"): {
        "three samples": (
            "id,seq,recorded_at,cpu_percent,user_percent,system_percent,iowait_percent,steal_percent,max_core_percent\n"
            "1,0,2026-03-02T14:00:00+00:00,37.5,26.25,10.25,0.75,0.25,60.0\n"
            "2,1,2026-03-02T14:00:01+00:00,42.0,29.4,11.6,0.75,0.25,67.2\n"
            "3,2,2026-03-02T14:00:02+00:00,88.25,61.77,25.48,0.75,0.25,100.0\n"
        )
    },
    ("live", "200"): {"a stream": 'retry: 3000\nevent: ready\ndata: {}\n\nevent: samples\ndata: {"items": [...]}\n\n'},
    ("health", "200"): {"alive": {"status": "ok"}},
    ("ready", "200"): {"ready": {"status": "ready"}},
}

#: One error body per status code; every error answer of every operation uses the `Error` schema.
ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid input: the body, a path or a query parameter",
        {
            "status_code": 400,
            "detail": "invalid body at $[3].cpu_percent: Expected `float` <= 100.0",
            "extra": [
                {
                    "message": "Expected `float` <= 100.0",
                    "path": "$[3].cpu_percent",
                    "source": "body",
                    "index": 3,
                    "field": "cpu_percent",
                }
            ],
        },
    ),
    401: (
        "Not logged in, or wrong credentials at login",
        {"status_code": 401, "detail": "not logged in: POST /api/auth/login first"},
    ),
    404: ("No such test run (or not the caller's)", {"status_code": 404, "detail": "no such test run"}),
    409: ("The run is finished", {"status_code": 409, "detail": "the run is finished: start a new run"}),
    413: ("The body is larger than the server accepts", {"status_code": 413, "detail": "Request Entity Too Large"}),
    415: (
        "The body is not application/json",
        {"status_code": 415, "detail": "Unsupported Media Type: send Content-Type: application/json"},
    ),
    429: (
        "Too many failed logins: wait Retry-After seconds",
        {"status_code": 429, "detail": "too many failed logins: try again in 240 s"},
    ),
    503: (
        "The database or session store is unavailable or busy: retry after Retry-After seconds",
        {"status_code": 503, "detail": "database unavailable: try again in a few seconds"},
    ),
}

#: Error answers whose meaning differs on one operation, keyed by (operation id, status code).
OPERATION_ERRORS: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {
    ("addEvent", 409): (
        f"The run already has the most events a run keeps ({EVENTS_PER_RUN_MAX:,}): nothing was added",
        {"status_code": 409, "detail": TooManyEventsError().detail},
    ),
}
