"""The plugin's view of the cpumon API: the agent's settings and login rules over a synchronous httpx client.

Synchronous on purpose: Locust runs on gevent, which makes blocking sockets cooperative, while an
asyncio loop inside a greenlet would stall every simulated user while it waits.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from cpumon import __version__
from cpumon.api import ApiError, ApiUnauthorizedError, answer, transport_failure
from cpumon.errors import SettingsError
from cpumon.locust_figures import RunWindow
from cpumon.login import login_failure
from cpumon.settings import AgentSettings, env_var, load_settings, resolve_config_file
from cpumon.wire import LOGIN_PATH, RUN_ROUTE, RUNS_PATH, RunSummary, run_path

MAX_RUNS = 500  # runs of the hosts in one test window: far more than a load test watches


def plugin_settings(url: str | None, username: str | None) -> tuple[AgentSettings, SecretStr]:
    """The agent's settings (env > config file > defaults) with the plugin's --cpumon-url/-username on top.

    The password comes only from CPUMON_PASSWORD or the config file: never from a flag.
    """
    flags = {name: value for name, value in (("api_url", url), ("username", username)) if value}
    settings = load_settings(flags, config_file=resolve_config_file(None, os.environ))
    if settings.username is None:
        where = f"--cpumon-username, {env_var('username')} or `username` in the config file"
        raise SettingsError(f"no username: set {where}")
    if settings.password is None:
        raise SettingsError(f"no password: set {env_var('password')} or `password` in the config file")
    return settings, settings.password


class CpumonApi:
    """Logs in once, again after a 401, and reads the figures of hosts over a time window."""

    def __init__(self, settings: AgentSettings, password: SecretStr, transport: httpx.BaseTransport | None = None):
        self.base_url = settings.api_url
        self.username = settings.username or ""
        self._password = password
        self._limits = (settings.connect_timeout, settings.request_timeout)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            headers={"User-Agent": f"cpumon-locust/{__version__}"},
            transport=transport,
        )
        self._logged_in = False

    def close(self) -> None:
        self._client.close()

    def login(self) -> None:
        """Start a session; a CpumonError with the agent's one-line explanation if it cannot."""
        payload = {"username": self.username, "password": self._password.get_secret_value()}
        try:
            self._call("POST", LOGIN_PATH, json=payload)
        except ApiError as exc:
            raise login_failure(self.base_url, self.username, exc) from None
        self._logged_in = True

    def windows(
        self, hosts: Sequence[str] | None, start: dt.datetime, end: dt.datetime, threshold: float | None
    ) -> list[RunWindow]:
        """Each run of the hosts (all hosts when None) active in [start, end], summarised over that window."""
        params: dict[str, Any] = {"active_from": start.isoformat(), "active_to": end.isoformat(), "limit": MAX_RUNS}
        if hosts:
            params["host"] = ",".join(hosts)
        runs = self._get(RUNS_PATH, params)["items"]
        return [self._window(run, start, end, threshold) for run in runs]

    def _window(
        self, run: Mapping[str, Any], start: dt.datetime, end: dt.datetime, threshold: float | None
    ) -> RunWindow:
        path = run_path(RUN_ROUTE, str(run["id"]))
        limit = {} if threshold is None else {"threshold": threshold}
        summary = self._summary(path, {"from": start.isoformat(), "to": end.isoformat(), **limit})
        latest = None
        if summary.last_sample_at:
            last = summary.last_sample_at.isoformat()
            latest = self._summary(path, {"from": last, "to": last}).avg_percent
        return RunWindow(
            hostname=str(run["hostname"]),
            summary=summary,
            latest_percent=latest,
            interval_s=run.get("interval_s"),
            running=run.get("ended_at") is None,
        )

    def _summary(self, path: str, params: Mapping[str, Any]) -> RunSummary:
        """A run's summary (GET one run), over the window the params give."""
        return RunSummary.from_json(self._get(path, params)["summary"])

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET `path` as the logged-in user: its JSON (ApiError/CpumonError as the other reads)."""
        return self._get(path, params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST `body` as JSON to `path` as the logged-in user (logs in again once after a 401)."""
        if not self._logged_in:
            self.login()
        try:
            return self._call("POST", path, json=body)
        except ApiUnauthorizedError:
            self.login()
            return self._call("POST", path, json=body)

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        if not self._logged_in:
            self.login()
        try:
            return self._call("GET", path, params=params)
        except ApiUnauthorizedError:  # the session expired: log in again, once
            self.login()
            return self._call("GET", path, params=params)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise transport_failure(self.base_url, exc, *self._limits) from None
        return answer(method, path, response)
