"""How long to wait before retrying an upload: exponential backoff with jitter.

Equal jitter (half the step fixed, half random) rather than full jitter: many agents
restarted together by an API outage spread out, and none retries in a tight loop.
"""

from __future__ import annotations

BASE_DELAY_S = 0.5


def retry_delay(
    attempt: int,
    *,
    random_fraction: float,
    base: float = BASE_DELAY_S,
    cap: float = 30.0,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after the `attempt`-th consecutive failure (1 for the first).

    `random_fraction` in [0, 1) is the jitter (pass `random.random()`); a server's
    Retry-After is honoured as a floor, up to the cap.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # 2 ** attempt overflows a float for absurd attempt counts; the cap is reached long before.
    step = min(cap, base * 2.0 ** min(attempt - 1, 60))
    delay = step / 2 + step / 2 * random_fraction
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def is_retryable_status(status_code: int) -> bool:
    """Server-side trouble that may pass: 5xx, 408 (request timeout) and 429 (throttled).

    Not 501 (Not Implemented): the server does not do what was asked, and never will (not a cpumon API).
    """
    return (status_code >= 500 and status_code != 501) or status_code in (408, 429)
