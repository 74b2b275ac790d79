"""Strict JSON request bodies with errors that name the failing item and field.

Litestar validates bodies with msgspec in lax mode (it accepts "12.5" for a number) and reports only
the first message without its location. cpumon's bodies are decoded here instead, strictly, and a
bad sample in a batch of 10,000 is reported as `$[4711].cpu_percent`. The OpenAPI document still
describes each body: its schema comes from the same msgspec types.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

T = TypeVar("T")

_LOCATION = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_INDEX = re.compile(r"^\$\[(\d+)\]")
_REF = "#/components/schemas/{name}"
#: No cpumon body nests more than 3 levels; deeper JSON is refused before Python recurses into it.
MAX_DEPTH = 32


def decode_body(raw: bytes, type_: Any) -> Any:
    """`raw` decoded as `type_`, or a 400 whose `extra` gives the JSON path, item index and field."""
    try:
        value = msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        value = _with_integral_floats_as_ints(raw, type_)
        if value is None:
            raise _validation_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(detail=f"malformed JSON body: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValidationException(detail=f"body is not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise ValidationException(detail=_TOO_DEEP) from None
    _check_timestamps(value)
    return value


_TOO_DEEP = f"malformed JSON body: nested deeper than {MAX_DEPTH} levels"


def _with_integral_floats_as_ints(raw: bytes, type_: Any) -> Any | None:
    """The body decoded with `1.0` read as the integer it is (JSON Schema's `integer` admits it), else None.

    msgspec's strict mode refuses a float for an int field even when its value is whole. Only bodies
    that failed the fast path pay for this second decode; an int is still accepted for a float field.
    """
    try:
        untyped = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    if _deeper_than(untyped, MAX_DEPTH):
        raise ValidationException(detail=_TOO_DEEP)
    try:
        return msgspec.convert(_integral_to_int(untyped), type_, strict=True)
    except msgspec.ValidationError:
        return None


def _deeper_than(node: Any, limit: int) -> bool:
    """True when `node` nests lists/objects more than `limit` levels (walked without recursion)."""
    level: list[Any] = [node]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item if isinstance(item, list) else item.values() if isinstance(item, dict) else ())
            if isinstance(child, list | dict)
        ]
        if not level:
            return False
    return True


def _check_timestamps(value: Any) -> None:
    """400 for an aware timestamp whose UTC time is out of datetime's range (year 1 at +14:00, ...).

    Such a value decodes, but storing it (as UTC) overflows. Only the years 1 and 9999 can.
    """
    items = value if isinstance(value, list) else [value]
    fields = _datetime_fields(items[0].__class__) if items else ()
    for name in fields:
        for index, item in enumerate(items):
            stamp = getattr(item, name, None)
            if isinstance(stamp, dt.datetime) and stamp.year in {1, 9999}:
                try:
                    stamp.astimezone(dt.UTC)
                except OverflowError:
                    path = f"$[{index}].{name}" if isinstance(value, list) else f"$.{name}"
                    raise _out_of_range(path) from None


def _out_of_range(path: str) -> ValidationException:
    return _invalid_at(path, "timestamp out of range once converted to UTC")


AHEAD_RULE = "more than {seconds:g} s ahead of the server's clock (CPUMON_TIMESTAMP_MAX_AHEAD)"


def refuse_ahead(request: Request[Any, Any, Any], value: Any, name: str) -> None:
    """400 naming the rule when `name` of `value` (a struct or a list of them) is too far in the future.

    A client whose clock is far ahead would otherwise store samples that every range and live view
    treats as the newest for hours or years.
    """
    seconds: float = request.app.state.settings.timestamp_max_ahead
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        stamp = getattr(item, name, None)
        if stamp is not None and stamp > latest:
            path = f"$[{index}].{name}" if isinstance(value, list) else f"$.{name}"
            raise _invalid_at(path, AHEAD_RULE.format(seconds=seconds))


def _invalid_at(path: str, text: str) -> ValidationException:
    field_name = path.rsplit(".", 1)[-1]
    problem: dict[str, Any] = {"message": text, "path": path, "source": "body", "field": field_name}
    if index := _INDEX.match(path):
        problem["index"] = int(index.group(1))
    return ValidationException(detail=f"invalid body at {path}: {text}", extra=[problem])


@functools.cache
def _datetime_fields(struct_type: Any) -> tuple[str, ...]:
    if not (isinstance(struct_type, type) and issubclass(struct_type, msgspec.Struct)):
        return ()
    info = msgspec.inspect.type_info(struct_type)
    fields = info.fields if isinstance(info, msgspec.inspect.StructType) else ()
    return tuple(f.name for f in fields if _is_datetime(f.type))


def _is_datetime(node: msgspec.inspect.Type) -> bool:
    if isinstance(node, msgspec.inspect.Metadata):
        return _is_datetime(node.type)
    if isinstance(node, msgspec.inspect.UnionType):
        return any(_is_datetime(t) for t in node.types)
    return isinstance(node, msgspec.inspect.DateTimeType)


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


def body_operation(type_: Any, description: str, *, required: bool = True) -> type[Operation]:
    """An Operation class whose request body is the JSON schema of `type_`, inlined; `required=False`
    for a body the handler reads with `read_body(..., optional=True)`.

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
                required=required,
            )
            errors = self.responses or {}
            if "400" in errors and "415" not in errors:  # read_body's answer to a body that is not JSON
                errors["415"] = dataclasses.replace(errors["400"], description=_NOT_JSON)

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
    """The request's body decoded strictly as `type_` (None for an empty optional body).

    Only `application/json` is read: a form or text/plain body (what a cross-site form can send
    without a preflight) is 415, so SameSite is not the only barrier against CSRF.
    """
    raw = await request.body()  # Litestar enforces request_max_body_size here (413)
    if optional and not raw.strip():
        return None
    require_json(request.headers.get("content-type"))
    return decode_body(raw, type_)


_NOT_JSON = "the body is not application/json"


def require_json(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = f"'{media_type[:60]}'" if media_type else "none"
        raise UnsupportedMediaTypeException(detail=f"the body must be application/json (Content-Type: {shown})")


class UnsupportedMediaTypeException(ClientException):
    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE
