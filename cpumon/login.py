"""Logging in, with one line that says what to do for every way it can fail (monitor and review alike)."""

from __future__ import annotations

from cpumon.api import ApiClient, ApiError, ApiRejectedError, ApiTransientError, ApiUnauthorizedError
from cpumon.errors import ApiUnavailableError, AuthenticationError, CpumonError


async def log_in(api: ApiClient) -> None:
    """Start the client's session; AuthenticationError (exit 3) or ApiUnavailableError (exit 4) if not."""
    try:
        await api.login(time_limit=api.connect_timeout)
    except ApiError as exc:
        raise login_failure(api.base_url, api.username, exc) from None


def login_failure(url: str, username: str, exc: ApiError) -> CpumonError:
    """The one line that says why a login failed and what to do (shared with the Locust plugin)."""
    if isinstance(exc, ApiUnauthorizedError):
        return AuthenticationError(
            f"{url} refused the username and password of {username!r}: "
            "check CPUMON_USERNAME and CPUMON_PASSWORD (or the config file)"
        )
    if isinstance(exc, ApiTransientError) and exc.status_code == 429:
        wait = f" in {exc.retry_after:g} s" if exc.retry_after else " later"
        return AuthenticationError(f"{url} refuses logins for now after failed attempts: try again{wait}")
    if isinstance(exc, ApiRejectedError):
        return ApiUnavailableError(f"{url} does not look like a cpumon API ({exc.message}): check CPUMON_API_URL")
    return unavailable(url, exc)


def unavailable(url: str, exc: ApiError) -> ApiUnavailableError:
    """The one line for an API that cannot be reached or does not answer properly."""
    if isinstance(exc, ApiTransientError) and exc.no_connection:
        return ApiUnavailableError(f"{exc.message}: check CPUMON_API_URL and that cpumon-server is running")
    return ApiUnavailableError(f"the API at {url} is not available ({exc.message}): try again later")
