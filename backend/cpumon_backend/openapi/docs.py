"""The docs pages, served by cpumon-server itself: Swagger UI from the `swagger-ui-bundle-v2` package.

Nothing is loaded from a CDN, so /schema works on a machine without internet access. The page is
static HTML that loads same-origin files only; its start-up code is a file too (static/swagger-init.js),
so the Content-Security-Policy can forbid inline scripts.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]  # no py.typed; one Path attribute is used
from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

DOCS_PATH = "/schema"
ASSETS = "/assets"
STATIC = Path(__file__).parent / "static"

#: Same-origin only. Swagger UI sets element styles from script (allowed) and shows icons as data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/docs.css">
<script src="{assets}/swagger-ui-bundle.js" defer></script>
<script src="{assets}/swagger-init.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
<noscript>This page needs JavaScript. The document itself is at <a href="{spec_url}">{spec_url}</a>.</noscript>
</body>
</html>
"""


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI at /schema and /schema/swagger, every asset from this server."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = PAGE.format(
            title=html.escape(str(openapi_schema["info"]["title"])),
            assets=DOCS_PATH + ASSETS,
            spec_url=html.escape(self.get_openapi_json_route(request)),
        )
        return page.encode()

    def receive_router(self, router: Router) -> None:
        # The bundle's directory first: it is versioned with the package, ours holds only cpumon's files.
        router.register(create_static_files_router(ASSETS, [Path(str(swagger_ui_bundle.swagger_ui_path)), STATIC]))


def swagger_page() -> SwaggerPage:
    return SwaggerPage(path=["/", "/swagger"])


def docs_router() -> Router:
    """The router Litestar mounts the document and the docs pages on, with their security headers."""
    return Router(
        DOCS_PATH,
        route_handlers=[],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ],
    )
