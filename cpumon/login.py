"""Logging in, with one line that says what to do for every way it can fail (monitor and review alike)."""

from __future__ import annotations

from cpumon.api import (
    NO_PASSWORD,
    ApiClient,
    ApiError,
    ApiInvalidAnswerError,
    ApiRejectedError,
    ApiTransientError,
    ApiUnauthorizedError,
)
from cpumon.errors import ApiUnavailableError, AuthenticationError, CpumonError, SettingsError


async def log_in(api: ApiClient) -> None:
    """Start the client's session (the saved one if it still works); AuthenticationError (exit 3)
    or ApiUnavailableError (exit 4) if not."""
    try:
        await api.start_session(time_limit=api.connect_timeout, reachable_first=True)
    except ApiError as exc:
        raise refusal(api, exc) from None


def refusal(api: ApiClient, exc: ApiError) -> CpumonError:
    """`login_failure` naming where the client's password came from."""
    check = api.credentials.describe_source() if api.credentials is not None else None
    return login_failure(api.base_url, api.username, exc, check=check)


def login_failure(url: str, username: str, exc: ApiError, *, check: str | None = None) -> CpumonError:
    """The one line that says why a login failed and what to do (shared with the Locust plugin).

    `check` says where the password came from (see `Credentials.describe_source`).
    """
    if isinstance(exc, ApiUnauthorizedError):
        if exc.message == NO_PASSWORD:
            return SettingsError(
                f"no password: set CPUMON_PASSWORD or `password` in the config file (on a terminal cpumon "
                f"asks for it) to log in as {username!r} at {url}"
            )
        return AuthenticationError(
            f"{url} refused the username and password of {username!r}: "
            f"{check or 'check CPUMON_USERNAME and CPUMON_PASSWORD (or the config file)'}"
        )
    if isinstance(exc, ApiTransientError) and exc.status_code == 429:
        wait = f" in {exc.retry_after:g} s" if exc.retry_after else " later"
        return AuthenticationError(f"{url} refuses logins for now after failed attempts: try again{wait}")
    if isinstance(exc, ApiRejectedError | ApiInvalidAnswerError):  # 404, 501, no JSON ...: another server
        return ApiUnavailableError(f"{url} does not look like a cpumon API ({exc.message}): check CPUMON_API_URL")
    return unavailable(url, exc)


def unavailable(url: str, exc: ApiError) -> ApiUnavailableError:
    """The one line for an API that cannot be reached or does not answer properly."""
    if isinstance(exc, ApiTransientError) and exc.no_connection:
        return ApiUnavailableError(f"{exc.message}: check CPUMON_API_URL and that cpumon-server is running")
    return ApiUnavailableError(f"the API at {url} is not available ({exc.message}): try again later")
