"""Error answers: every failure the API expects becomes a clear 4xx/503 body, never a 500.

Bodies keep Litestar's shape: {"status_code": ..., "detail": ..., "extra"?: ...}.
"""

from __future__ import annotations

import logging
from typing import Any

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger("cpumon.server")

RETRY_AFTER_S = 5
UNAVAILABLE = "database unavailable: try again in a few seconds"

#: What a database or session store that is down, unreachable or overloaded raises.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
    RedisConnectionError,
    RedisTimeoutError,
)


class ConflictException(HTTPException):
    status_code = HTTP_409_CONFLICT


class BodyTooLargeException(HTTPException):
    """Documents the 413 that Litestar answers when a body exceeds CPUMON_MAX_BODY_BYTES."""

    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE


class DatabaseUnavailableException(HTTPException):
    status_code = HTTP_503_SERVICE_UNAVAILABLE
    detail = UNAVAILABLE


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or what it wraps, says the database or session store cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, UNAVAILABLE_ERRORS):
            return True
        current = current.__cause__ or current.__context__
    return False


def unavailable_response() -> Response[dict[str, Any]]:
    return Response(
        {"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": UNAVAILABLE},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        media_type=MediaType.JSON,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def handle_storage_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Database and store failures: 503 when it is down, 404 for a repository miss, else a logged 500."""
    if isinstance(exc, NotFoundError):
        return Response({"status_code": HTTP_404_NOT_FOUND, "detail": "not found"}, status_code=HTTP_404_NOT_FOUND)
    if is_unavailable(exc):
        logger.warning("storage unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return unavailable_response()
    logger.error("unexpected storage error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500, media_type=MediaType.JSON)


def json_error_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """An HTTP error as JSON whatever the route's own media type (Litestar would label it like the route)."""
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers)


EXCEPTION_HANDLERS = {
    RepositoryError: handle_storage_error,
    DBAPIError: handle_storage_error,
    DisconnectionError: handle_storage_error,
    PoolTimeoutError: handle_storage_error,
    OSError: handle_storage_error,
    RedisConnectionError: handle_storage_error,
    RedisTimeoutError: handle_storage_error,
}
