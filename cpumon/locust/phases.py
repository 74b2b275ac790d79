"""The load's phases as events on each monitored host's running run: "test start", "users 10 -> 50",
"test stop". Each is timed when it happens and queued (bounded); the plugin's poller greenlet posts
the queue on its next round, so the API is only ever called from one greenlet and a slow or absent
API never holds up the load test. A failure is one warning, as the plugin's others.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence

from cpumon.api import ApiError
from cpumon.errors import CpumonError
from cpumon.locust.client import CpumonApi
from cpumon.locust.timeline import running_ids
from cpumon.locust_chart import Marker
from cpumon.wire import EVENTS_SUFFIX, RUNS_PATH

KIND = "load"
TEST_START, TEST_STOP = "test start", "test stop"
MAX_PENDING = 100  # events waiting for the next round; a test changes its user count far less often


class PhaseEvents:
    """Records each phase locally (the chart's markers) and posts it to the runs recording at the test's start."""

    def __init__(self, api: CpumonApi, hosts: Sequence[str] | None, warn: Callable[[str], None]) -> None:
        self.api = api
        self.hosts = hosts
        self.warn = warn
        self.pending: deque[Marker] = deque()
        self.markers: list[Marker] = []
        self.users = 0
        self.run_ids: list[str] = []

    def test_start(self) -> None:
        self.markers, self.users = [], 0
        self._add(TEST_START)

    def users_changed(self, count: int) -> None:
        if count != self.users:
            self._add(f"users {self.users} -> {count}")
            self.users = count

    def test_stop(self) -> None:
        self._add(TEST_STOP)

    def post_pending(self) -> None:
        """Post what happened since the last round (in order); on failure, warn and drop the rest."""
        try:
            while self.pending:
                self._post(self.pending[0])
                self.pending.popleft()
        except (CpumonError, ApiError) as exc:
            self.pending.clear()
            self.warn(exc.message)

    def _add(self, text: str) -> None:
        marker = Marker(dt.datetime.now(dt.UTC), text)
        self.markers.append(marker)
        if len(self.pending) >= MAX_PENDING:
            self.warn(f"more than {MAX_PENDING} load events waiting for the API: {text!r} not recorded")
            return
        self.pending.append(marker)

    def _post(self, marker: Marker) -> None:
        if marker.text == TEST_START:  # the runs recording now get this test's events
            self.run_ids = running_ids(self.api, self.hosts, marker.at)
        body = {"text": marker.text, "at": marker.at.isoformat(), "kind": KIND}
        for run_id in self.run_ids:
            self.api.post(f"{RUNS_PATH}/{run_id}{EVENTS_SUFFIX}", body)
