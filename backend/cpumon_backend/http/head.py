"""HEAD wherever GET is served: the GET answer's status and headers, without its body (RFC 9110 9.3.2).

Litestar routes HEAD only to handlers declared for it (the static files), and refuses to declare it
beside a GET that returns a body. So a HEAD request is routed as a GET here, in front of the router,
and its answer ends with the headers: the first body message is replaced by an empty final one, later
ones are dropped, and the handler is then told the client has gone, so a stream (a live run, an export)
stops at once instead of being produced for nobody.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPDisconnectEvent, Message, Receive, ReceiveMessage, Scope, Send

DISCONNECT: HTTPDisconnectEvent = {"type": "http.disconnect"}


def answer_head_as_get(app: Litestar) -> None:
    """Route every HEAD request of `app` as a GET, answered with the headers only."""
    app.asgi_handler = HeadAsGet(app.asgi_handler)


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = asyncio.Event()

        async def send_headers_only(message: Message) -> None:
            if answered.is_set():
                return
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                answered.set()

        async def receive_until_answered() -> ReceiveMessage:
            if answered.is_set():
                return DISCONNECT
            receiving = asyncio.ensure_future(receive())
            waiting = asyncio.ensure_future(answered.wait())
            await asyncio.wait({receiving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if receiving.done():
                return receiving.result()
            receiving.cancel()
            return DISCONNECT

        get_scope: Any = {**scope, "method": "GET"}
        await self.app(get_scope, receive_until_answered, send_headers_only)
