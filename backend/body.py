"""Strict JSON request bodies with errors that name the failing item and field.

Litestar validates bodies with msgspec in lax mode (it accepts "12.5" for a number) and reports only
the first message without its location. cpumon's bodies are decoded here instead, strictly, and a
bad sample in a batch of 10,000 is reported as `$[4711].cpu_percent`. The OpenAPI document still
describes each body: its schema comes from the same msgspec types.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema

T = TypeVar("T")

_LOCATION = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_INDEX = re.compile(r"^\$\[(\d+)\]")
_REF = "#/components/schemas/{name}"


def decode_body(raw: bytes, type_: Any) -> Any:
    """`raw` decoded as `type_`, or a 400 whose `extra` gives the JSON path, item index and field."""
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        accepted = _with_integral_floats_as_ints(raw, type_)
        if accepted is not None:
            return accepted
        raise _validation_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(detail=f"malformed JSON body: {exc}") from None


def _with_integral_floats_as_ints(raw: bytes, type_: Any) -> Any | None:
    """The body decoded with `1.0` read as the integer it is (JSON Schema's `integer` admits it), else None.

    msgspec's strict mode refuses a float for an int field even when its value is whole. Only bodies
    that failed the fast path pay for this second decode; an int is still accepted for a float field.
    """
    try:
        return msgspec.convert(_integral_to_int(msgspec.json.decode(raw)), type_, strict=True)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _integral_to_int(node: Any) -> Any:
    if isinstance(node, float) and node.is_integer():
        return int(node)
    if isinstance(node, list):
        return [_integral_to_int(item) for item in node]
    if isinstance(node, dict):
        return {key: _integral_to_int(value) for key, value in node.items()}
    return node


def _validation_error(message: str) -> ValidationException:
    match = _LOCATION.search(message)
    path = match.group("path") if match else "$"
    text = message[: match.start()] if match else message
    problem: dict[str, Any] = {"message": text, "path": path, "source": "body"}
    if index := _INDEX.match(path):
        problem["index"] = int(index.group(1))
    field_name = path.rsplit(".", 1)[-1] if "." in path else None
    if field_name:
        problem["field"] = field_name
    return ValidationException(detail=f"invalid body at {path}: {text}", extra=[problem])


def body_operation(type_: Any, description: str) -> type[Operation]:
    """An Operation class whose request body is the JSON schema of `type_`, inlined.

    Inlined because Litestar rebuilds `components/schemas` from its own registry, which only
    knows the types that handlers take as `data`.
    """
    (schema,), definitions = msgspec.json.schema_components([type_], ref_template=_REF)
    schema = _inline(schema, definitions)

    @dataclasses.dataclass
    class _WithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=_to_schema(schema))},
                description=description,
                required=True,
            )

    return _WithBody


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """`node` with every `$ref` replaced by the definition it points to (the bodies are not recursive)."""
    if isinstance(node, list):
        return [_inline(n, definitions) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    return {key: _inline(value, definitions) for key, value in node.items()}


_ALIASES = {f.metadata.get("alias", f.name): f.name for f in dataclasses.fields(Schema) if f.metadata.get("alias")}
_FIELDS = {f.name for f in dataclasses.fields(Schema)}


def _to_schema(node: Any) -> Any:
    """A JSON-schema dict turned into Litestar's Schema/Reference objects."""
    if isinstance(node, list):
        return [_to_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            continue
        if name == "properties":
            kwargs[name] = {k: _to_schema(v) for k, v in value.items()}
        elif name in {"items", "any_of", "one_of", "all_of", "not_"}:
            kwargs[name] = _to_schema(value)
        else:
            kwargs[name] = value
    return Schema(**kwargs)


async def read_body(request: Request[Any, Any, Any], type_: Any, *, optional: bool = False) -> Any:
    """The request's body decoded strictly as `type_` (None for an empty optional body)."""
    raw = await request.body()  # Litestar enforces request_max_body_size here (413)
    if optional and not raw.strip():
        return None
    return decode_body(raw, type_)
