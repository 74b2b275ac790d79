"""A small async client for the cpumon API: just what the agent calls.

Failures come out as three kinds, because the caller does something different for each:
`ApiTransientError` (no connection, timeout, 5xx, 429: wait and retry),
`ApiUnauthorizedError` (401: log in again) and `ApiRejectedError` (any other 4xx: retrying
the same request cannot help).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from cpumon import __version__
from cpumon.backoff import is_retryable_status
from cpumon.sample import Sample


class ApiError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ApiTransientError(ApiError):
    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        retry_after: float | None = None,
        no_connection: bool = False,
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after
        self.no_connection = no_connection  # nothing answered at all (vs. an answer saying "later")


class ApiUnauthorizedError(ApiError):
    pass


class ApiRejectedError(ApiError):
    pass


@dataclass(frozen=True)
class RunCreated:
    id: str
    name: str
    started_at: dt.datetime


@dataclass(frozen=True)
class StoredCounts:
    inserted: int
    duplicates: int


class ApiClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: SecretStr,
        *,
        connect_timeout: float,
        request_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.username = username
        self._password = password
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.logged_in = False  # a login succeeded: a later refusal means the password changed, not a typo
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            headers={"User-Agent": f"cpumon/{__version__}"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def login(self, *, time_limit: float | None = None) -> None:
        """Start a session (the cookie stays in the client). `time_limit` bounds the whole request."""
        payload = {"username": self.username, "password": self._password.get_secret_value()}
        await self._request("POST", "/api/auth/login", json=payload, time_limit=time_limit)
        self.logged_in = True

    async def create_run(
        self, *, name: str, hostname: str, interval_s: float, threshold_percent: float, started_at: dt.datetime
    ) -> RunCreated:
        body = await self._request(
            "POST",
            "/api/test-runs",
            json={
                "name": name,
                "hostname": hostname,
                "interval_s": interval_s,
                "threshold_percent": threshold_percent,
                "started_at": started_at.isoformat(),
            },
        )
        try:
            return RunCreated(
                id=str(body["id"]),
                name=str(body["name"]),
                started_at=dt.datetime.fromisoformat(str(body["started_at"])),
            )
        except (KeyError, TypeError, ValueError):
            raise ApiRejectedError("the API answered POST /api/test-runs with an unexpected body") from None

    async def find_run(self, *, name: str, hostname: str, started_at: dt.datetime) -> str | None:
        """The id of the caller's run with this name, host and start, if the API has one.

        Asked before creating a run again after an attempt whose answer was lost: the API may have
        created it, and a second one would be an empty duplicate.
        """
        query = str(httpx.QueryParams({"name": name, "limit": 500}))
        body = await self._request("GET", f"/api/test-runs?{query}", json=None)
        try:
            for item in body["items"]:
                when = dt.datetime.fromisoformat(str(item["started_at"]))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                if item["name"] == name and item.get("hostname") == hostname and when == started_at:
                    return str(item["id"])
        except (KeyError, TypeError, ValueError):
            raise ApiRejectedError("the API answered GET /api/test-runs with an unexpected body") from None
        return None

    async def post_samples(self, run_id: str, samples: Sequence[Sample]) -> StoredCounts:
        body = await self._request(
            "POST", f"/api/test-runs/{run_id}/cpu-usage", json=[sample.to_api() for sample in samples]
        )
        try:
            return StoredCounts(inserted=int(body["inserted"]), duplicates=int(body["duplicates"]))
        except (KeyError, TypeError, ValueError):
            # The request was accepted (2xx): treat as stored; the counts are informational.
            return StoredCounts(inserted=len(samples), duplicates=0)

    async def finish_run(self, run_id: str, ended_at: dt.datetime, *, time_limit: float | None = None) -> None:
        await self._request(
            "POST", f"/api/test-runs/{run_id}/finish", json={"ended_at": ended_at.isoformat()}, time_limit=time_limit
        )

    async def get(self, path: str) -> Any:
        """GET `path` (query included) and answer its JSON; failures sorted like every other call."""
        return await self._request("GET", path, json=None)

    def stream(self, path: str) -> AbstractAsyncContextManager[httpx.Response]:
        """GET `path` as a response whose body is read as it arrives (the caller checks its status)."""
        return self._client.stream("GET", path)

    async def _request(self, method: str, path: str, *, json: Any, time_limit: float | None = None) -> Any:
        extra: dict[str, Any] = {} if time_limit is None else {"timeout": httpx.Timeout(time_limit)}
        try:
            response = await self._client.request(method, path, json=json, **extra)
        except httpx.TransportError as exc:
            limits = (time_limit or self.connect_timeout, time_limit or self.request_timeout)
            raise transport_failure(self.base_url, exc, *limits) from None
        return answer(method, path, response)


def transport_failure(base_url: str, exc: httpx.TransportError, connect_limit: float, read_limit: float) -> ApiError:
    """What a request that got no answer at all raises (shared with the Locust plugin's sync client)."""
    if isinstance(exc, httpx.TimeoutException):
        limit = connect_limit if isinstance(exc, httpx.ConnectTimeout) else read_limit
        return ApiTransientError(f"no answer from {base_url} within {limit:g} s", no_connection=True)
    return ApiTransientError(f"cannot connect to {base_url} ({_describe(exc)})", no_connection=True)


def answer(method: str, path: str, response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None if empty), else the ApiError its status calls for."""
    status = response.status_code
    if status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiRejectedError(f"{method} {path} answered {status} with a body that is not JSON") from None
    detail = _detail(response)
    message = f"{method} {path} answered {status}{': ' + detail if detail else ''}"
    if status == 401:
        raise ApiUnauthorizedError(message, status)
    if is_retryable_status(status):
        raise ApiTransientError(message, status, retry_after=_retry_after(response))
    raise ApiRejectedError(message, status)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:200] if detail else ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from this API, and the backoff covers it


def _describe(exc: httpx.TransportError) -> str:
    # httpx wraps OS errors; their text ("[Errno 111] Connection refused") says the most.
    cause = exc.__cause__ or exc.__context__
    text = str(cause or exc) or type(exc).__name__
    return text.split("] ", 1)[-1]
