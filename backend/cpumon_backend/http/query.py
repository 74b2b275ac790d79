"""Strict query strings: a parameter that takes one value refuses to be given several.

Litestar quietly keeps one of the values of a repeated single-valued parameter (`?from=a&from=b`),
so a client that sends both never learns which one counted. The `before_request` hook here answers
400 naming the parameter instead. Which parameters take a list is read from each handler's
signature once (a list type, as `host`); every other one must appear at most once.
"""

from __future__ import annotations

import functools
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException
from litestar.handlers import HTTPRouteHandler
from litestar.typing import FieldDefinition


def query_error(name: str, message: str) -> ClientException:
    """A 400 about one query parameter, in the documented Error shape."""
    return ClientException(
        detail=f"query parameter {name}: {message}",
        extra=[{"message": message, "source": "query", "key": name, "field": name}],
    )


def _takes_a_list(field: FieldDefinition) -> bool:
    return field.is_non_string_collection or any(inner.is_non_string_collection for inner in field.inner_types)


@functools.cache
def _list_parameters(handler: HTTPRouteHandler) -> frozenset[str]:
    names: set[str] = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        if _takes_a_list(field):
            alias = getattr(field.kwarg_definition, "query", None)
            names.add(alias or name)
    return frozenset(names)


async def refuse_repeated_parameters(request: Request[Any, Any, Any]) -> None:
    query = request.query_params
    repeated = [name for name in query if len(query.getall(name)) > 1]
    if not repeated:
        return
    lists = _list_parameters(request.route_handler)
    for name in repeated:
        if name not in lists:
            raise query_error(name, f"given {len(query.getall(name))} times: give it once")
