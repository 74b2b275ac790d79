"""uvicorn's HTTP protocol with a bound on the request head (request line + headers): size and time.

The httptools parser uvicorn uses has no limit of its own: a client could send a 100 MB Cookie
header and the server would buffer all of it, or send its headers a byte at a time and hold a
connection forever. This protocol counts the bytes of each request head before they reach the
parser and answers 431 past `CPUMON_HTTP_MAX_HEAD_BYTES`, and answers 408 and closes when a head
is not complete within `CPUMON_HTTP_HEAD_TIMEOUT` seconds. The body keeps its own limit
(CPUMON_MAX_BODY_BYTES, enforced by Litestar).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cpumon_backend.settings import ServerSettings


@functools.cache
def _limits() -> tuple[int, float]:
    # Read in each worker process from its environment: uvicorn instantiates the protocol itself.
    settings = ServerSettings()
    return settings.http_max_head_bytes, settings.http_head_timeout


def _answer(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"status_code": status, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_bytes = 0
    _reading_head = True
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._start_head()

    def _start_head(self) -> None:
        self._reading_head, self._head_bytes = True, 0
        self._cancel_timer()
        self._head_timer = self.loop.call_later(_limits()[1], self._head_too_slow)

    def _cancel_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            limit = _limits()[0]
            room = limit - self._head_bytes
            if len(data) > room:
                # A chunk may carry the end of the head and then the body: only its first `room`
                # bytes can still be head, so the parser reads those first and says if the head ended.
                if room > 0:
                    super().data_received(data[:room])
                if self._head_unfinished():  # the parser's callbacks may have ended the head just now
                    self._refuse(431, "Request Header Fields Too Large", f"request line and headers over {limit} bytes")
                    return
                data = data[max(room, 0) :]
            else:
                self._head_bytes += len(data)
        super().data_received(data)

    def _head_unfinished(self) -> bool:
        return self._reading_head

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_head:  # the next request on a kept-alive connection
            self._start_head()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(408, "Request Timeout", f"request headers not complete within {_limits()[1]:g} s")

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._reading_head = False
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.write(_answer(status, reason, detail))
            self.transport.close()
