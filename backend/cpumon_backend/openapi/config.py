"""The OpenAPI config: document metadata, the session-cookie scheme, operation ids, the docs pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, License, SecurityScheme, Tag
from litestar.types import Method

from cpumon import __version__
from cpumon_backend.openapi.docs import docs_router, swagger_page
from cpumon_backend.openapi.document import FinishedDocument
from cpumon_backend.settings import ServerSettings

DESCRIPTION = """\
CPU usage of test runs, recorded by the cpumon agent or any HTTP client.

Every route but login, /health and /ready needs the session cookie that `POST /api/auth/login` sets
(HttpOnly, SameSite=Lax): keep cookies between requests and log in first. Errors share one body,
`Error`; a 400 for a bad body names the failing item and field in `extra`.
"""

TAGS = [
    Tag(name="auth", description="Log in and out; the session lives server-side, the client keeps a cookie."),
    Tag(name="test runs", description="Runs, their CPU samples, summaries, series and CSV export."),
    Tag(name="health", description="Liveness and readiness probes for load balancers and orchestrators."),
]


def operation_id(handler: object, method: Method, path: Sequence[object]) -> str:
    """The handler's function name in lowerCamelCase (`start_run` -> `startRun`): short and stable.

    A handler whose function name does not read well as an operation sets `operation_id=` itself.
    """
    name: str = getattr(handler, "handler_name", "")
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


class _Finished:
    """A render plugin that serves the finished document (see document.py), not Litestar's raw build."""

    def __init__(self, document: FinishedDocument) -> None:
        super().__init__()
        self.document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        rendered: bytes = super().render(request, self.document.of(request.app))  # type: ignore[misc]
        return rendered


class JsonDocument(_Finished, JsonRenderPlugin):
    """/schema/openapi.json: the finished document."""


class YamlDocument(_Finished, YamlRenderPlugin):
    """/schema/openapi.yaml: the same finished document as YAML."""


def create_openapi_config(settings: ServerSettings) -> OpenAPIConfig:
    cookie = settings.session_cookie_name
    document = FinishedDocument(cookie)
    return OpenAPIConfig(
        title="cpumon API",
        version=__version__,
        description=DESCRIPTION,
        license=License(name="MIT", identifier="MIT"),
        tags=TAGS,
        components=Components(
            security_schemes={
                cookie: SecurityScheme(
                    type="apiKey",
                    security_scheme_in="cookie",
                    name=cookie,
                    description=f"The session cookie `{cookie}` that POST /api/auth/login sets.",
                )
            }
        ),
        operation_id_creator=operation_id,
        path="/schema",
        openapi_router=docs_router(),
        render_plugins=[swagger_page(), JsonDocument(document), YamlDocument(document)],
    )
