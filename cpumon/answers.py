"""Reading the API's answers within bounds: at most `ANSWER_MAX_BYTES`, before a total deadline.

httpx's timeouts are per read: a server that drips a byte every few seconds never times out, and one
that answers 400 MB is read whole into memory. Every client of the API (the agent, the review
commands, the Locust plugin) builds its httpx client with `client_options`, whose hooks wrap every
answer's body (the intermediate answers of a login retry included) in a counting stream:

- past `ANSWER_MAX_BYTES` the read stops with `AnswerTooLargeError`;
- a chunk that arrives after the request's deadline (its connect plus read timeout, counted from
  when it was sent) stops it with `AnswerTooSlowError`; a dripped answer thus ends at most one read
  timeout after its deadline (the async agent also holds the whole request to that deadline);
- an answer in a content encoding (gzip ...) the client did not ask for is refused: decompressed, a
  small answer could still fill memory.

All three are `httpx.TransportError`s: a request that failed, retried like an outage, never a
stored batch. A request marked `STREAMED` (the CSV export, written to disk as it arrives) is exempt:
it is bounded by its per-read timeout only.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import httpx

MIB: Final = 1024 * 1024
#: The largest answer read: the biggest a cpumon API sends is a page of 10,000 series points or
#: samples (about 2 MB); a limit well above it still keeps a client's memory small.
ANSWER_MAX_BYTES: Final = 8 * MIB
#: A request extension: the answer is read as it arrives by its caller (no size bound, no total deadline).
STREAMED: Final = "cpumon_streamed"
#: Only unencoded answers: the bound counts the bytes that end up in memory.
HEADERS: Final = {"Accept-Encoding": "identity"}
_SENT_AT: Final = "cpumon_sent_at"


class AnswerRefusedError(httpx.TransportError):
    """An answer given up while reading it: the request failed (the message says why)."""


class AnswerTooLargeError(AnswerRefusedError):
    pass


class AnswerTooSlowError(AnswerRefusedError):
    pass


class AnswerEncodingError(AnswerRefusedError):
    pass


def total_seconds(connect: float | None, read: float | None) -> float:
    """How long a whole request may take: time to connect plus time to answer (None: no limit)."""
    if connect is None or read is None:
        return math.inf
    return connect + read


class AnswerBudget:
    """What one answer may still take: bytes up to `limit`, chunks until `deadline` (monotonic seconds)."""

    def __init__(
        self,
        request: httpx.Request,
        deadline: float,
        *,
        limit: int = ANSWER_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.deadline = deadline
        self.limit = limit
        self.clock = clock
        self.received = 0

    def take(self, chunk: bytes) -> bytes:
        """`chunk`, counted; AnswerTooLargeError or AnswerTooSlowError when it is one too many."""
        self.received += len(chunk)
        if self.received > self.limit:
            raise AnswerTooLargeError(f"{self._what()} is larger than {_size(self.limit)}", request=self.request)
        if self.clock() > self.deadline:
            raise AnswerTooSlowError(f"{self._what()} was not complete in time", request=self.request)
        return chunk

    def _what(self) -> str:
        return f"the answer to {self.request.method} {self.request.url.path}"


class _BoundedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An answer's body that passes each chunk through its budget (sync or async, as the client is)."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, budget: AnswerBudget) -> None:
        self._inner = inner
        self._budget = budget

    def __iter__(self) -> Iterator[bytes]:
        if not isinstance(self._inner, httpx.SyncByteStream):
            raise TypeError("an async answer read synchronously")
        for chunk in self._inner:
            yield self._budget.take(chunk)

    def close(self) -> None:
        if isinstance(self._inner, httpx.SyncByteStream):
            self._inner.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not isinstance(self._inner, httpx.AsyncByteStream):
            raise TypeError("a sync answer read asynchronously")
        async for chunk in self._inner:
            yield self._budget.take(chunk)

    async def aclose(self) -> None:
        if isinstance(self._inner, httpx.AsyncByteStream):
            await self._inner.aclose()


def _note_sent(request: httpx.Request) -> None:
    request.extensions[_SENT_AT] = time.monotonic()


def _bound(response: httpx.Response) -> None:
    request = response.request
    if request.extensions.get(STREAMED):
        return
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in {"", "identity"}:
        raise AnswerEncodingError(f"the answer to {request.method} {request.url.path} is {encoding}-encoded")
    timeout = request.extensions.get("timeout", {})
    sent_at = request.extensions.get(_SENT_AT, time.monotonic())
    deadline = sent_at + total_seconds(timeout.get("connect"), timeout.get("read"))
    response.stream = _BoundedStream(response.stream, AnswerBudget(request, deadline))


async def _note_sent_async(request: httpx.Request) -> None:
    _note_sent(request)


async def _bound_async(response: httpx.Response) -> None:
    _bound(response)


def client_options(user_agent: str, *, asynchronous: bool) -> dict[str, Any]:
    """The httpx client arguments (`headers`, `event_hooks`) that bound every answer of the client."""
    if asynchronous:
        hooks: dict[str, list[Any]] = {"request": [_note_sent_async], "response": [_bound_async]}
    else:
        hooks = {"request": [_note_sent], "response": [_bound]}
    return {"headers": {"User-Agent": user_agent, **HEADERS}, "event_hooks": hooks}


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count:,} bytes"
