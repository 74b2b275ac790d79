"""A controlled load step for the capacity test: few users, many users, few again, then the test stops."""

from __future__ import annotations

from locust import HttpUser, LoadTestShape, constant, task

import cpumon.locust  # noqa: F401 - registers the --cpumon-* options and listeners

#: (until this many seconds into the test, users)
STEPS = ((4, 2), (8, 10), (12, 2), (16, 10))


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self) -> None:
        self.client.get("/")


class Step(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        for until, users in STEPS:
            if elapsed < until:
                return users, 100.0
        return None
