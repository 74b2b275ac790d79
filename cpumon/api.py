"""A small async client for the cpumon API: just what the agent calls.

Failures come out as three kinds, because the caller does something different for each:
`ApiTransientError` (no connection, timeout, 5xx, 429, an answer too large, too slow or not what a
cpumon API answers: wait and retry), `ApiUnauthorizedError` (401: log in again) and `ApiRejectedError`
(any other 4xx, and 501: retrying the same request cannot help). Every answer is read within the
bounds of `cpumon.answers` (size, total deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from cpumon import __version__
from cpumon.answers import STREAMED, AnswerRefusedError, client_options, total_seconds
from cpumon.backoff import is_retryable_status
from cpumon.credentials import PROMPT, Credentials
from cpumon.sample import Sample
from cpumon.session import LoginAgain, SessionFile
from cpumon.settings import AgentSettings
from cpumon.wire import FINISH_ROUTE, LOGIN_PATH, LOGOUT_PATH, ME_PATH, RUNS_PATH, SAMPLES_ROUTE, run_path

NO_PASSWORD = "no password to log in with"  # noqa: S105 - a message, not a password


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


class ApiInvalidAnswerError(ApiTransientError):
    """A 2xx answer that is not what a cpumon API answers (no JSON, fields missing): the request failed."""


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
    """The API's calls. A 401 gets one new login and the call is sent again (`LoginAgain`); with a
    `SessionFile`, the session is saved after each login and reused by the next client."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: SecretStr | Credentials,
        *,
        connect_timeout: float,
        request_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        session: SessionFile | None = None,
    ) -> None:
        self.base_url = base_url
        self.username = username
        self.credentials = password if isinstance(password, Credentials) else None
        self._password = password if isinstance(password, SecretStr) else None
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.logged_in = False  # a login succeeded: a later refusal means the password changed, not a typo
        self.session = session
        self._missing_password = False  # a 401 could not be answered by a login: no password to send
        saved = session.load() if session is not None else {}
        self.has_saved_session = bool(saved)
        self._auth = LoginAgain(
            base_url + LOGIN_PATH,
            self._login_body,
            refused=self._refused,
            logged_in=self._logged_in,
            forget=self._forget_session,
        )
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            transport=transport,
            cookies=saved,
            auth=self._auth,
            **client_options(f"cpumon/{__version__}", asynchronous=True),
        )

    @classmethod
    def for_settings(
        cls,
        settings: AgentSettings,
        username: str,
        password: SecretStr | Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> ApiClient:
        """The client every command uses: the settings' URL and timeouts, the saved session of this API and user."""
        return cls(
            settings.api_url,
            username,
            password,
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
            transport=transport,
            session=SessionFile(settings.api_url, username),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def start_session(self, *, time_limit: float | None = None, reachable_first: bool = False) -> None:
        """Check the saved session (a new login if the API refuses it), else log in.

        `reachable_first` (a caller that cannot go on without the API): without a saved session nor a
        password at hand, the API is asked first whether it answers at all, so that an API that is away
        is said as such (exit 4) rather than a missing password, and nobody types one for nothing.
        """
        if not self.has_saved_session:
            if reachable_first and not self._password_at_hand():
                await self._check_reachable(time_limit)
            await self.login(time_limit=time_limit)
            return
        _who(await self._request("GET", ME_PATH, json=None, time_limit=time_limit), ME_PATH)
        self.logged_in = True

    async def login(self, *, time_limit: float | None = None) -> None:
        """Start a session (the cookie stays in the client). `time_limit` bounds each request.

        A password typed at the prompt that the API refuses is asked again (`Credentials.refused`).
        """
        self._client.cookies.clear()
        self._auth.gave_up = False
        while True:
            body = self._login_body()
            if body is None:
                raise ApiUnauthorizedError(NO_PASSWORD, 401)
            try:
                _who(await self._request("POST", LOGIN_PATH, json=body, time_limit=time_limit), LOGIN_PATH)
            except ApiUnauthorizedError:
                if self._refused():
                    continue
                raise
            break
        self._logged_in(self._client.cookies)

    async def logout(self) -> bool:
        """End the session on the server (if there is one) and forget it here; True if there was one."""
        had_one = self.has_saved_session or self.logged_in
        if had_one:
            with contextlib.suppress(ApiUnauthorizedError):  # already ended on the server
                await self._request("POST", LOGOUT_PATH, json=None)
        self._forget_session()
        return had_one

    def _password_at_hand(self) -> bool:
        """A password given by the settings (none is to be typed)."""
        return self._password is not None or (self.credentials is not None and self.credentials.source != PROMPT)

    async def _check_reachable(self, time_limit: float | None) -> None:
        """GET /api/auth/me without logging in: a cpumon API answers 401; anything else raises its ApiError."""
        with contextlib.suppress(ApiUnauthorizedError):
            await self._request("GET", ME_PATH, json=None, time_limit=time_limit, probe=True)

    def _login_body(self) -> dict[str, str] | None:
        password = self.credentials.password() if self.credentials is not None else self._password
        if password is None:
            self._missing_password = True
            return None
        return {"username": self.username, "password": password.get_secret_value()}

    def _refused(self) -> bool:
        return self.credentials is not None and self.credentials.refused()

    def _logged_in(self, cookies: httpx.Cookies) -> None:
        self.logged_in = True
        if self.session is not None:
            self.session.save(cookies)

    def _forget_session(self) -> None:
        self._client.cookies.clear()
        self.has_saved_session = False
        if self.session is not None:
            self.session.delete()

    async def create_run(
        self, *, name: str, hostname: str, interval_s: float, threshold_percent: float, started_at: dt.datetime
    ) -> RunCreated:
        body = await self._request(
            "POST",
            RUNS_PATH,
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
            raise ApiInvalidAnswerError(f"the API answered POST {RUNS_PATH} with an unexpected body") from None

    async def find_run(self, *, name: str, hostname: str, started_at: dt.datetime) -> str | None:
        """The id of the caller's run with this name, host and start, if the API has one.

        Asked before creating a run again after an attempt whose answer was lost: the API may have
        created it, and a second one would be an empty duplicate.
        """
        query = str(httpx.QueryParams({"name": name, "limit": 500}))
        body = await self._request("GET", f"{RUNS_PATH}?{query}", json=None)
        try:
            for item in body["items"]:
                when = dt.datetime.fromisoformat(str(item["started_at"]))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                if item["name"] == name and item.get("hostname") == hostname and when == started_at:
                    return str(item["id"])
        except (KeyError, TypeError, ValueError):
            raise ApiInvalidAnswerError(f"the API answered GET {RUNS_PATH} with an unexpected body") from None
        return None

    async def post_samples(self, run_id: str, samples: Sequence[Sample]) -> StoredCounts:
        body = await self._request(
            "POST", run_path(SAMPLES_ROUTE, run_id), json=[sample.to_api() for sample in samples]
        )
        try:
            return StoredCounts(inserted=int(body["inserted"]), duplicates=int(body["duplicates"]))
        except (KeyError, TypeError, ValueError):
            # Not what the API answers: nothing says the batch was stored. Sent again, it is skipped if it was.
            raise ApiInvalidAnswerError(
                f"the API answered POST {run_path(SAMPLES_ROUTE, run_id)} with an unexpected body"
            ) from None

    async def finish_run(self, run_id: str, ended_at: dt.datetime, *, time_limit: float | None = None) -> None:
        await self._request(
            "POST", run_path(FINISH_ROUTE, run_id), json={"ended_at": ended_at.isoformat()}, time_limit=time_limit
        )

    async def get(self, path: str) -> Any:
        """GET `path` (query included) and answer its JSON; failures sorted like every other call."""
        return await self._request("GET", path, json=None)

    async def call(self, method: str, path: str) -> Any:
        """`method` on `path` without a body (GET, DELETE); its JSON, failures sorted like every other call."""
        return await self._request(method, path, json=None)

    async def post(self, path: str, body: Any) -> Any:
        """POST `body` as JSON to `path`; its JSON answer, failures sorted like every other call."""
        return await self._request("POST", path, json=body)

    def stream(self, path: str) -> AbstractAsyncContextManager[httpx.Response]:
        """GET `path` as a response whose body is read as it arrives (the caller checks its status).

        Not bounded in size nor in total time (an export is written to disk as it comes): each read is,
        by the request timeout."""
        return self._client.stream("GET", path, extensions={STREAMED: True})

    async def _request(
        self, method: str, path: str, *, json: Any, time_limit: float | None = None, probe: bool = False
    ) -> Any:
        """`method` on `path`: its JSON, or the ApiError its failure calls for. A `probe` never logs in."""
        extra: dict[str, Any] = {} if time_limit is None else {"timeout": httpx.Timeout(time_limit)}
        limits = (time_limit or self.connect_timeout, time_limit or self.request_timeout)
        whole = total_seconds(*limits)
        try:
            # The whole request, a login retry included, under one deadline: httpx's timeouts are per read.
            async with asyncio.timeout(whole):
                response = await self._client.request(method, path, json=json, **extra, **_no_login(probe))
        except httpx.TransportError as exc:
            raise transport_failure(self.base_url, exc, *limits) from None
        except TimeoutError:
            raise ApiTransientError(f"no complete answer from {self.base_url} within {whole:g} s") from None
        if response.status_code == 401 and self._missing_password:
            self._missing_password = False
            raise ApiUnauthorizedError(NO_PASSWORD, 401)
        return answer(method, path, response)


def transport_failure(base_url: str, exc: httpx.TransportError, connect_limit: float, read_limit: float) -> ApiError:
    """What a request that got no (whole) answer raises (shared with the Locust plugin's sync client)."""
    if isinstance(exc, AnswerRefusedError):  # an answer came, too large or too slow: not an outage, still a failure
        return ApiTransientError(f"{exc} (from {base_url})")
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
            raise ApiInvalidAnswerError(f"{method} {path} answered {status} with a body that is not JSON") from None
    detail = _detail(response)
    message = f"{method} {path} answered {status}{': ' + detail if detail else ''}"
    if status == 401:
        raise ApiUnauthorizedError(message, status)
    if is_retryable_status(status):
        raise ApiTransientError(message, status, retry_after=_retry_after(response))
    raise ApiRejectedError(message, status)


def _no_login(probe: bool) -> dict[str, Any]:
    return {"auth": None} if probe else {}


def _who(body: Any, path: str) -> None:
    """Check a login's (or /me's) answer: a cpumon API answers the user, as a JSON object."""
    if not isinstance(body, dict) or "username" not in body:
        raise ApiInvalidAnswerError(f"{path} answered without the user a cpumon API answers")


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
