"""The locustfile of the plugin's tests: one line brings cpumon in, as the README shows."""

from __future__ import annotations

from locust import HttpUser, constant, task

import cpumon.locust  # noqa: F401 - registers the --cpumon-* options and listeners


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def home(self) -> None:
        self.client.get("/")
