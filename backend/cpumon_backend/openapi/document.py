"""The finishing pass over the document Litestar builds: what it cannot derive, derived here in one place.

From the app's route table, for every operation:
- security: the session cookie wherever the login guard runs, an explicit empty list elsewhere;
- errors: every 4xx/5xx answer refers to the one named `Error` schema (Litestar inlines a schema whose
  `extra` is not a valid array schema, which client generators drop);
- request bodies: object schemas that the bodies inline are moved to named components, so generated
  clients get `SampleIn`, not `IngestSamplesJsonBody`;
- examples from examples.py on every body and answer.
A route added later gets all of this without being listed anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute

from cpumon_backend.auth.guards import requires_login
from cpumon_backend.openapi import examples

ERROR = "Error"
_COMPONENT = "#/components/schemas/"
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1), description="seconds to wait before trying again"
)

#: The operations that set the session cookie, and what they set it to.
SESSION_COOKIE_SET_BY = {
    "login": "`{cookie}`: a new session id (HttpOnly, SameSite=Lax, Path=/); send it back on every other call",
    "logout": "`{cookie}` expired: the session is deleted on the server too",
}

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title=ERROR,
    description="Every error answer: the HTTP status, a sentence for people, and for a 400 what failed where.",
    required=["status_code", "detail"],
    properties={
        "status_code": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": Schema(type=OpenAPIType.STRING),
        "extra": Schema(
            type=OpenAPIType.ARRAY,
            description="for a 400: one item per problem",
            items=Schema(
                type=OpenAPIType.OBJECT,
                title="ErrorDetail",
                required=["message"],
                properties={
                    "message": Schema(type=OpenAPIType.STRING),
                    "source": Schema(type=OpenAPIType.STRING, description="body, path, query, header or cookie"),
                    "key": Schema(type=OpenAPIType.STRING, description="the parameter's name"),
                    "path": Schema(type=OpenAPIType.STRING, description="JSON path in the body, e.g. $[3].seq"),
                    "index": Schema(type=OpenAPIType.INTEGER, minimum=0, description="the failing list item"),
                    "field": Schema(type=OpenAPIType.STRING, description="the failing field"),
                },
            ),
        ),
    },
)


@dataclass
class LiteralExample(Example):
    """An example whose value is written as given: Litestar's own drops every `null` inside the value."""

    def to_schema(self) -> dict[str, Any]:
        return {"summary": self.summary, "value": self.value}


def is_protected(handler: HTTPRouteHandler) -> bool:
    # Litestar wraps each guard of every layer in an AsyncCallable that keeps the function as `.func`.
    return any(getattr(guard, "func", guard) is requires_login for guard in handler.resolve_guards())


def documented_operations(app: Litestar) -> Iterator[tuple[HTTPRouteHandler, Operation]]:
    """Every (handler, operation) of the document, found through the app's route table."""
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(paths[route.path_format], method.lower(), None)
            if operation is not None and handler.resolve_include_in_schema():
                yield handler, operation


class FinishedDocument:
    """One app's finished document, made on first request: Litestar's build of the document costs tens
    of milliseconds, which every app (and every test that creates one) would pay if it were made eagerly."""

    def __init__(self, cookie_name: str) -> None:
        self.cookie_name = cookie_name
        self._document: dict[str, Any] | None = None

    def of(self, app: Litestar) -> dict[str, Any]:
        if self._document is None:
            complete_document(app, self.cookie_name)
            self._document = app.openapi_schema.to_schema()
        return self._document


def complete_document(app: Litestar, cookie_name: str) -> None:
    """Finish `app`'s OpenAPI document object in place."""
    document = app.openapi_schema
    components = document.components
    schemas: dict[str, Schema] = dict(components.schemas or {})
    schemas[ERROR] = ERROR_SCHEMA
    for handler, operation in documented_operations(app):
        operation.security = [{cookie_name: []}] if is_protected(handler) else []
        if isinstance(operation.request_body, RequestBody):
            for media in operation.request_body.content.values():
                media.schema = _hoisted(media.schema, schemas)
                _add_examples(media, str(operation.operation_id), "request")
        for status, response in (operation.responses or {}).items():
            if isinstance(response, OpenAPIResponse):
                _complete_response(response, str(operation.operation_id), status)
                if status.startswith("2") and operation.operation_id in SESSION_COOKIE_SET_BY:
                    what = SESSION_COOKIE_SET_BY[str(operation.operation_id)].format(cookie=cookie_name)
                    response.headers = {
                        "Set-Cookie": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description=what)
                    }
    components.schemas = dict(sorted(schemas.items()))


def _complete_response(response: OpenAPIResponse, operation_id: str, status: str) -> None:
    code = int(status)
    if code < 400:
        for media in (response.content or {}).values():
            _add_examples(media, operation_id, status)
        return
    default = (HTTPStatus(code).phrase, {"status_code": code, "detail": ""})
    description, body = examples.OPERATION_ERRORS.get((operation_id, code)) or examples.ERRORS.get(code, default)
    body = body if body["detail"] else {**body, "detail": HTTPStatus(code).phrase}
    response.description = description
    response.content = {
        "application/json": OpenAPIMediaType(
            schema=Reference(ref=_COMPONENT + ERROR),
            examples={HTTPStatus(code).phrase: LiteralExample(summary=description, value=body)},
        )
    }
    if code in {429, 503}:
        response.headers = {"Retry-After": _RETRY_AFTER}


def _hoisted(node: Any, schemas: dict[str, Schema]) -> Any:
    """`node` with each titled object schema in it moved to `schemas` and replaced by a reference."""
    if isinstance(node, list):
        return [_hoisted(item, schemas) for item in node]
    if not isinstance(node, Schema):
        return node
    for name in ("items", "any_of", "one_of", "all_of"):
        if (child := getattr(node, name)) is not None:
            setattr(node, name, _hoisted(child, schemas))
    if node.title and node.type == OpenAPIType.OBJECT:
        known = schemas.setdefault(node.title, node)
        if known is not node and known.to_schema() != node.to_schema():
            raise ValueError(f"two different schemas are both named {node.title!r}")
        return Reference(ref=_COMPONENT + node.title)
    return node


def _add_examples(media: OpenAPIMediaType, operation_id: str, status: str) -> None:
    schema = media.schema
    name = schema.ref.removeprefix(_COMPONENT) if isinstance(schema, Reference) else None
    found = examples.BY_OPERATION.get((operation_id, status)) or examples.BY_SCHEMA.get(name or "")
    if found:
        media.examples = {label: LiteralExample(summary=label, value=value) for label, value in found.items()}
