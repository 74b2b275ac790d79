"""The API calls of the review commands, on top of the agent's `ApiClient` (same login, same errors).

Every API failure becomes a one-line `CpumonError` here, so the commands only deal with data:
a run that is not there (or is another user's) is exit 1, an API that does not answer is exit 4,
a refused login is exit 3 — the monitor's codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from cpumon.api import ApiClient, ApiRejectedError, ApiTransientError, ApiUnauthorizedError
from cpumon.credentials import Credentials
from cpumon.errors import ApiUnavailableError, AuthenticationError, CpumonError
from cpumon.login import log_in, refusal, unavailable
from cpumon.settings import AgentSettings
from cpumon.wire import (
    CSV_ROUTE,
    EVENTS_SUFFIX,
    RUN_ROUTE,
    RUNS_PAGE_MAX,
    RUNS_PATH,
    SERIES_ROUTE,
    RunRead,
    RunSummary,
    SeriesPoint,
    decode,
    run_path,
    time_or_none,
)

T = TypeVar("T")
RUNS = RUNS_PATH
LIST_PAGE_MAX = RUNS_PAGE_MAX


class RunNotFoundError(CpumonError):
    """The run does not exist or belongs to someone else (the API says 404 for both)."""


class ExportBrokeOffError(ApiUnavailableError):
    """A CSV export's stream ended before its end (its `message` says how), exit 4."""


@dataclass(frozen=True)
class Run(RunRead):
    """A run of the caller's: the contract's fields, with what the review commands add."""

    summary: RunSummary | None = None  # in the answer for one run, and in lists asked for with summaries
    raw: dict[str, Any] | None = None  # the API's JSON, for --json

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Run:
        run = decode(RunRead, body)
        summary = body.get("summary")
        return cls(
            **{field.name: getattr(run, field.name) for field in fields(RunRead)},
            summary=RunSummary.from_json(summary) if isinstance(summary, dict) else None,
            raw=body,
        )

    def duration_s(self, now: dt.datetime | None = None) -> float:
        """Start to end, or to now while the run is open."""
        end = self.ended_at or now or dt.datetime.now(dt.UTC)
        return max(0.0, (end - self.started_at).total_seconds())


@dataclass(frozen=True)
class RunPage:
    items: list[Run]
    total: int


@dataclass(frozen=True)
class Event:
    """One event of a run (`POST/GET /api/test-runs/{id}/events`)."""

    at: dt.datetime
    kind: str
    text: str

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Event:
        return cls(at=_time(body["at"]), kind=str(body["kind"]), text=str(body["text"]))


#: One time bucket of a run's series: the contract's type.
Bucket = SeriesPoint


class ReviewClient:
    """Read-only calls on the caller's runs. Use as `async with ReviewClient.open(settings, credentials)`."""

    def __init__(self, api: ApiClient, api_url: str) -> None:
        self.api = api
        self.api_url = api_url

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: AgentSettings, credentials: Credentials | SecretStr) -> AsyncIterator[ReviewClient]:
        if settings.username is None:  # Credentials() has already refused this
            raise CpumonError("no username")
        api = ApiClient.for_settings(settings, settings.username, credentials)
        try:
            client = cls(api, settings.api_url)
            await client.login()
            yield client
        finally:
            await api.aclose()

    async def login(self) -> None:
        await log_in(self.api)

    # -- runs -----------------------------------------------------------------------------
    async def list_runs(self, *, limit: int, offset: int = 0, summaries: bool = False) -> RunPage:
        """A page of the caller's runs; with `summaries`, each carries its summary (one query per page)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if summaries:
            params["summary"] = "true"
        return await self._get(RUNS, params, _run_page)

    async def all_runs(self, *, page_size: int = LIST_PAGE_MAX, summaries: bool = False) -> AsyncIterator[Run]:
        """Every run of the caller, newest first, page by page."""
        offset = 0
        while True:
            page = await self.list_runs(limit=page_size, offset=offset, summaries=summaries)
            for run in page.items:
                yield run
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def run(self, run_id: str, *, threshold: float | None = None) -> Run:
        params = {} if threshold is None else {"threshold": threshold}
        return await self._get(run_path(RUN_ROUTE, run_id), params, Run.from_api, run_id=run_id)

    async def delete_run(self, run_id: str) -> None:
        """Delete the run and its samples."""
        await self._call("DELETE", run_path(RUN_ROUTE, run_id), {}, lambda _: None, run_id=run_id)

    async def add_event(self, run_id: str, event: dict[str, Any]) -> Event:
        """Add `event` (text, and optionally at and kind) to the run; the stored event."""
        path = f"{RUNS}/{run_id}{EVENTS_SUFFIX}"
        return await self._call("POST", path, {}, Event.from_api, run_id=run_id, body=event)

    async def series(self, run_id: str, points: int) -> list[Bucket]:
        return await self._get(run_path(SERIES_ROUTE, run_id), {"points": points}, _buckets, run_id=run_id)

    @asynccontextmanager
    async def csv(self, run_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """The run's CSV as an async iterator of chunks, read as it arrives (never held whole)."""
        path = run_path(CSV_ROUTE, run_id)
        try:
            async with self.api.stream(path) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._raise_for(response, path, run_id)
                yield _chunks(response, self.api_url)
        except httpx.TimeoutException:
            raise ApiUnavailableError(f"no answer from {self.api_url} within {self.api.request_timeout:g} s") from None
        except httpx.TransportError as exc:
            raise ApiUnavailableError(f"the connection to {self.api_url} failed ({type(exc).__name__})") from None

    # -- plumbing -------------------------------------------------------------------------
    async def _get(
        self, path: str, params: dict[str, Any], parse: Callable[[Any], T], *, run_id: str | None = None
    ) -> T:
        """GET `path` and `parse` its JSON; every failure as a one-line CpumonError."""
        return await self._call("GET", path, params, parse, run_id=run_id)

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        parse: Callable[[Any], T],
        *,
        run_id: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> T:
        query = str(httpx.QueryParams(params))
        target = f"{path}?{query}" if query else path
        try:
            answer = await (self.api.call(method, target) if body is None else self.api.post(target, body))
            return parse(answer)
        except ApiUnauthorizedError as exc:
            raise refusal(self.api, exc) from None
        except ApiTransientError as exc:
            raise unavailable(self.api_url, exc) from None
        except ApiRejectedError as exc:
            if run_id is not None and (exc.status_code == 404 or (exc.status_code == 400 and body is None)):
                raise RunNotFoundError(f"no run {run_id!r} among your runs (see `cpumon runs`)") from None
            raise CpumonError(f"the API at {self.api_url} refused a request ({exc.message})") from None
        except (KeyError, TypeError, ValueError):
            raise CpumonError(f"the API at {self.api_url} answered {method} {path} with an unexpected body") from None

    def _raise_for(self, response: httpx.Response, path: str, run_id: str) -> None:
        status = response.status_code
        if status in {400, 404}:
            raise RunNotFoundError(f"no run {run_id!r} among your runs (see `cpumon runs`)")
        if status == 401:
            raise AuthenticationError(f"{self.api_url} ended the session: run the command again")
        if status >= 500 or status == 429:
            raise ApiUnavailableError(f"the API at {self.api_url} is not available (GET {path} answered {status})")
        raise CpumonError(f"the API at {self.api_url} refused GET {path} ({status})")


def _run_page(body: Any) -> RunPage:
    return RunPage(items=[Run.from_api(item) for item in body["items"]], total=int(body["total"]))


def _buckets(body: Any) -> list[Bucket]:
    return [SeriesPoint.from_json(item) for item in body["items"]]


async def _chunks(response: httpx.Response, api_url: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx.RemoteProtocolError:  # closed before the final chunk: the API could not finish it
        raise ExportBrokeOffError(f"{api_url} ended the stream before its end") from None
    except httpx.TransportError as exc:
        raise ExportBrokeOffError(f"the connection to {api_url} failed: {type(exc).__name__}") from None


def _time(value: Any) -> dt.datetime:
    parsed = time_or_none(value)
    if parsed is None:
        raise ValueError("the API answered no time where one is required")
    return parsed
