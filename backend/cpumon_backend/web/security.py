"""Browser-facing protections: the pages' Content-Security-Policy and a same-origin rule for writes.

A state-changing request (POST, PUT, PATCH, DELETE) that a browser sends carries an Origin header;
one from another site is refused (403) before it reaches a handler. With SameSite=Lax cookies and
JSON-only bodies (a form cannot send application/json without a CORS preflight, which is never
granted) that closes cross-site request forgery. Clients that send no Origin (the agent, curl) are
not browsers and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Every script, style, image and connection from this origin only; no inline script or style, no frames.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def is_cross_origin_write(method: str, origin: str | None, host: str | None, fetch_site: str | None) -> bool:
    """True when a browser sent a state-changing request from another origin (or a sandboxed one)."""
    if method.upper() in SAFE_METHODS:
        return False
    if fetch_site is not None and fetch_site.lower() == "cross-site":
        return True
    if origin is None:
        return False  # not a browser, or an old one that also sends no cross-site cookies
    if origin == "null" or host is None:
        return True
    return urlsplit(origin).netloc.lower() != host.lower()


class SameOriginWritesMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        method = str(scope.get("method", "GET"))
        if is_cross_origin_write(method, headers.get("origin"), headers.get("host"), headers.get("sec-fetch-site")):
            raise PermissionDeniedException(detail="cross-origin request refused")
        await next_app(scope, receive, send)
