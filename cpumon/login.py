"""Logging in, with one line that says what to do for every way it can fail (monitor and review alike)."""

from __future__ import annotations

from cpumon.api import ApiClient, ApiError, ApiRejectedError, ApiTransientError, ApiUnauthorizedError
from cpumon.errors import ApiUnavailableError, AuthenticationError


async def log_in(api: ApiClient) -> None:
    """Start the client's session; AuthenticationError (exit 3) or ApiUnavailableError (exit 4) if not."""
    url = api.base_url
    try:
        await api.login(time_limit=api.connect_timeout)
    except ApiUnauthorizedError:
        raise AuthenticationError(
            f"{url} refused the username and password of {api.username!r}: "
            "check CPUMON_USERNAME and CPUMON_PASSWORD (or the config file)"
        ) from None
    except ApiTransientError as exc:
        if exc.status_code == 429:
            wait = f" in {exc.retry_after:g} s" if exc.retry_after else " later"
            raise AuthenticationError(f"{url} refuses logins for now after failed attempts: try again{wait}") from None
        raise unavailable(url, exc) from None
    except ApiRejectedError as exc:
        raise ApiUnavailableError(
            f"{url} does not look like a cpumon API ({exc.message}): check CPUMON_API_URL"
        ) from None


def unavailable(url: str, exc: ApiError) -> ApiUnavailableError:
    """The one line for an API that cannot be reached or does not answer properly."""
    if isinstance(exc, ApiTransientError) and exc.no_connection:
        return ApiUnavailableError(f"{exc.message}: check CPUMON_API_URL and that cpumon-server is running")
    return ApiUnavailableError(f"the API at {url} is not available ({exc.message}): try again later")
