"""Every answer of the API is read within bounds (cpumon/answers.py): size, total deadline, no encodings.

The pure budget with a fake clock, and the agent's client over httpx.MockTransport answers that never end,
drip, or come compressed. Against a real lying server, the agent, the review commands and the Locust
plugin's client (which imports Locust, so in a process of its own): tests/e2e/test_lying_api.py.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from cpumon.answers import ANSWER_MAX_BYTES, MIB, AnswerBudget, AnswerTooLargeError, AnswerTooSlowError
from cpumon.api import ApiClient, ApiInvalidAnswerError, ApiRejectedError, ApiTransientError
from cpumon.errors import ApiUnavailableError
from cpumon.login import login_failure

URL = "http://api.test"
REQUEST = httpx.Request("POST", f"{URL}/api/test-runs/r/cpu-usage")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_takes_chunks_up_to_its_size_and_until_its_deadline() -> None:
    clock = FakeClock()
    budget = AnswerBudget(REQUEST, deadline=110.0, limit=10, clock=clock)
    assert budget.take(b"12345") == b"12345"
    assert budget.take(b"67890") == b"67890"  # exactly the limit
    with pytest.raises(AnswerTooLargeError, match="answer to POST /api/test-runs/r/cpu-usage is larger than 10"):
        budget.take(b"x")
    late = AnswerBudget(REQUEST, deadline=110.0, limit=10, clock=clock)
    late.take(b"a")
    clock.now = 110.5
    with pytest.raises(AnswerTooSlowError, match="was not complete in time"):
        late.take(b"b")


def client(handler: httpx.MockTransport, *, timeout: float = 1.0) -> ApiClient:
    return ApiClient(URL, "ada", SecretStr("pw"), connect_timeout=timeout, request_timeout=timeout, transport=handler)


async def test_a_huge_answer_fails_the_request_after_the_limit_not_after_the_whole() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(400):
            sent.append(MIB)
            yield b" " * MIB

    api = client(httpx.MockTransport(lambda request: httpx.Response(200, content=endless())))
    with pytest.raises(ApiTransientError, match="larger than 8 MiB") as raised:
        await api.post_samples("r", [])
    await api.aclose()
    assert not raised.value.no_connection  # something answered: not said as an API that is down
    assert sum(sent) <= ANSWER_MAX_BYTES + 2 * MIB


async def test_a_dripping_answer_fails_at_the_total_deadline() -> None:
    async def drip() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.02)  # each read answers well within the read timeout
            yield b" "

    api = client(httpx.MockTransport(lambda request: httpx.Response(200, content=drip())), timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ApiTransientError, match=r"within 0\.4 s|not complete in time"):
        await api.post_samples("r", [])
    await api.aclose()
    assert time.monotonic() - started < 5.0  # the deadline is 0.4 s; the margin is for busy cores


async def test_a_compressed_answer_is_refused() -> None:
    body = gzip.compress(b'{"inserted": 1, "duplicates": 0}')

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "identity"
        return httpx.Response(201, content=body, headers={"Content-Encoding": "gzip"})

    api = client(httpx.MockTransport(handler))
    with pytest.raises(ApiTransientError, match="gzip-encoded"):
        await api.post_samples("r", [])
    await api.aclose()


@pytest.mark.parametrize("answer", [b"{}", b"[1, 2]", b"<html>ok</html>"])
async def test_an_upload_answered_without_its_counts_is_not_counted_as_stored(answer: bytes) -> None:
    api = client(httpx.MockTransport(lambda request: httpx.Response(201, content=answer)))
    with pytest.raises(ApiInvalidAnswerError):
        await api.post_samples("r", [])
    await api.aclose()


async def test_501_and_a_login_without_its_user_are_something_else_than_a_cpumon_api() -> None:
    api = client(httpx.MockTransport(lambda request: httpx.Response(501, text="Unsupported method ('POST')")))
    with pytest.raises(ApiRejectedError) as refused:
        await api.login()
    assert isinstance(login_failure(URL, "ada", refused.value), ApiUnavailableError)
    await api.aclose()
    api = client(httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True})))
    with pytest.raises(ApiInvalidAnswerError) as invalid:
        await api.login()
    failure = login_failure(URL, "ada", invalid.value)
    assert isinstance(failure, ApiUnavailableError)
    assert "does not look like a cpumon API" in failure.message
    await api.aclose()


async def test_the_login_sent_in_a_refused_requests_place_has_its_timeouts() -> None:
    timeouts: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/login":
            timeouts.update(request.extensions.get("timeout", {}))
            return httpx.Response(200, json={"id": 1, "username": "ada"}, headers={"Set-Cookie": "session=1; Path=/"})
        if "session=1" not in request.headers.get("Cookie", ""):
            return httpx.Response(401, json={"detail": "not logged in"})
        return httpx.Response(200, json={"items": [], "total": 0})

    api = client(httpx.MockTransport(handler), timeout=3.0)
    await api.get("/api/test-runs")
    await api.aclose()
    assert timeouts.get("read") == 3.0  # without them, httpx would wait for ever
