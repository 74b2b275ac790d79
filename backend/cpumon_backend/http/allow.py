"""The `Allow` header of OPTIONS answers, from the app's final route table.

Litestar 2 makes the automatic OPTIONS handler when a path's first handler is registered, and that
handler lists the methods of the route as it was then: a second handler on the same path (GET and
POST on /api/test-runs) is missing from `Allow` (litestar-org/litestar#4169, fixed only in v3). This
hook rewrites the header from the route that finally serves the path, so every path lists every method.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


def allowed_methods(app: Litestar, path_template: str) -> str | None:
    """The route's methods, with HEAD wherever GET is (cpumon_backend.http.head answers it)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == path_template:
            methods = route.methods | ({"HEAD"} if "GET" in route.methods else set())
            return ", ".join(sorted(methods))
    return None


async def correct_allow_header(message: Message, scope: Scope) -> None:
    """before_send hook: an OPTIONS answer's `Allow` header names every method of its route."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = list(message.get("headers", []))
    if not any(name.lower() == b"allow" for name, _ in headers):
        return  # not the OPTIONS handler's answer (e.g. a 401 from a guard)
    allowed = allowed_methods(Litestar.from_scope(scope), str(scope.get("path_template", "")))
    if allowed is not None:
        headers = [(name, value) for name, value in headers if name.lower() != b"allow"]
        message["headers"] = [*headers, (b"allow", allowed.encode())]
