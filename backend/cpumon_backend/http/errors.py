"""Error answers, mapped in one place: storage, not-found and validation failures become clear answers.

Bodies keep Litestar's shape: {"status_code": ..., "detail": ..., "extra"?: ...}.

What a storage error means is decided by the driver's error number (MySQL/MariaDB's `args[0]`,
SQLite's `sqlite_errorcode`), never by reading its message:
- the pool has no free connection, or writes kept conflicting: 503 "server busy";
- the database (or the session store) cannot be reached or cannot serve: 503 "database unavailable";
- a value the database refused to store (too long, characters its column cannot hold, out of
  range): 400 naming the field, logged as a warning; validation should have refused it first;
- anything else is a bug: a 500, logged with its cause.
Both 503s carry Retry-After, so clients (the agent) retry; a 500 tells them to stop.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from typing import Any

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger("cpumon.server")

RETRY_AFTER_S = 5
UNAVAILABLE = "database unavailable: try again in a few seconds"
BUSY = "server busy: try again in a few seconds"
STORE_UNAVAILABLE = "session store unavailable: try again in a few seconds"

#: MySQL/MariaDB errors that a retry of the whole transaction may cure (the transaction was rolled back).
DEADLOCK = 1213  # a deadlock, or a Galera certification conflict with a write on another node
LOCK_WAIT_TIMEOUT = 1205
CONFLICTS = frozenset({DEADLOCK, LOCK_WAIT_TIMEOUT})

#: MySQL/MariaDB errors after which the connection cannot serve: dropped, never reused (not even to ROLLBACK).
NODE_NOT_READY = 1047  # Galera: the node is not Primary, or still joining ("WSREP has not yet prepared node")
CONNECTION_LOST = frozenset(
    {
        NODE_NOT_READY,
        1053,  # server shutdown in progress
        1927,  # connection was killed
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection at reading/handshake
        4031,  # disconnected by the server (inactivity)
    }
)

CANNOT_CONNECT = 2003  # the client's error for a TCP connection that failed or was closed before the handshake

#: MySQL/MariaDB errors that say the database cannot be used now: reaching it, or serving anything.
MYSQL_UNAVAILABLE = CONNECTION_LOST | {
    1040,  # too many connections
    1045,  # access denied (a wrong password)
    1698,  # access denied (an account that logs in another way, e.g. unix_socket, over TCP)
    1049,  # unknown database
    1129,  # host blocked
    1203,  # user has too many connections
    2002,  # cannot connect (socket)
    CANNOT_CONNECT,
    2005,  # unknown host
    2026,  # TLS error
}

#: SQLite primary result codes (`sqlite_errorcode & 0xff`).
SQLITE_BUSY = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED: another writer holds the file past busy_timeout
SQLITE_UNAVAILABLE = frozenset({8, 10, 13, 14})  # READONLY, IOERR, FULL, CANTOPEN


#: MySQL/MariaDB errors for a value the column cannot store, with what the answer says about it.
MYSQL_DATA_ERRORS = {
    1264: "out of the range the database stores",  # ER_WARN_DATA_OUT_OF_RANGE
    1292: "not a value the database stores",  # ER_TRUNCATED_WRONG_VALUE (a date, a number)
    1366: "has characters the database cannot store",  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    1406: "too long for the database",  # ER_DATA_TOO_LONG
}
#: SQLite's: SQLITE_TOOBIG (a string or blob over its limit), SQLITE_RANGE, SQLITE_MISMATCH.
SQLITE_DATA_ERRORS = {18: "too long for the database", 20: "not a value the database stores"}
#: The column MySQL names in those messages ("... for column 'name' at row 1", backquoted on MariaDB).
_COLUMN = re.compile(r"column [`'\"]?(?P<column>\w+)")
#: A column derived from a field is named after it: `name_key` holds the folded `name`.
_DERIVED_SUFFIX = "_key"


@dataclass(frozen=True)
class DataRefusal:
    """A value the database refused: which field (None when it did not say) and why."""

    field: str | None
    reason: str


def data_refusal(exc: BaseException) -> DataRefusal | None:
    """What `exc` says about a refused value, or None when it is not such an error."""
    error = storage_error(exc)
    if not isinstance(error, DBAPIError) or error.orig is None:
        return None
    number = driver_error_number(error)
    sqlite = hasattr(error.orig, "sqlite_errorcode")
    reason = (SQLITE_DATA_ERRORS if sqlite else MYSQL_DATA_ERRORS).get(number or 0)
    if reason is None:
        return None
    found = _COLUMN.search(str(error.orig))
    column = found["column"] if found else None
    if column is not None and column.endswith(_DERIVED_SUFFIX):
        column = column.removesuffix(_DERIVED_SUFFIX)
    return DataRefusal(column, reason)


def data_refused_response(request: Request[Any, Any, Any], refusal: DataRefusal) -> Response[dict[str, Any]]:
    """The 400 of a value the database refused, naming its field as the validation errors do."""
    where = f"$.{refusal.field}" if refusal.field else "$"
    source = "body" if request.method in {"POST", "PUT", "PATCH"} else "query"
    problem: dict[str, Any] = {"message": refusal.reason, "path": where, "source": source}
    if refusal.field:
        problem["field"] = refusal.field
    logger.warning("refused by the database on %s %s: %s %s", request.method, request.url.path, where, refusal.reason)
    return _json(HTTP_400_BAD_REQUEST, f"invalid {source} at {where}: {refusal.reason}", [problem])


class Failure(enum.Enum):
    BUSY = BUSY
    UNAVAILABLE = UNAVAILABLE
    STORE_UNAVAILABLE = STORE_UNAVAILABLE


class RuleRefusedError(Exception):
    """A service's rule refused the request: `handle_error` answers it (status, detail, extra) as JSON.

    Services raise these instead of HTTP exceptions, so they stay free of HTTP, and the answer is
    mapped here once, as the not-found and storage errors are.
    """

    status_code = HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, extra: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConflictException(HTTPException):
    status_code = HTTP_409_CONFLICT


class BodyTooLargeException(HTTPException):
    """Documents the 413 that Litestar answers when a body exceeds CPUMON_MAX_BODY_BYTES."""

    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE


class DatabaseUnavailableException(HTTPException):
    """Documents the 503s: database unavailable, or server busy (both with Retry-After)."""

    status_code = HTTP_503_SERVICE_UNAVAILABLE
    detail = UNAVAILABLE


def storage_error(exc: BaseException) -> BaseException:
    """The SQLAlchemy error under an advanced-alchemy wrapper (which raises its own `from` the original)."""
    if isinstance(exc, RepositoryError) and isinstance(exc.__cause__, SQLAlchemyError):
        return exc.__cause__
    return exc


def driver_error_number(exc: BaseException) -> int | None:
    """The database driver's error number behind `exc`: MySQL's code, or SQLite's primary result code."""
    error = storage_error(exc)
    if isinstance(error, DBAPIError):
        return None if error.orig is None else raw_error_number(error.orig)
    return None


def raw_error_number(orig: BaseException) -> int | None:
    """The error number of an exception raised by the driver itself (not wrapped by SQLAlchemy)."""
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF
    args = orig.args
    return args[0] if args and isinstance(args[0], int) else None


def driver_message(exc: BaseException) -> str:
    """What the driver said, as `message (error N)`; the exception type's name when it said nothing."""
    error = storage_error(exc)
    if not isinstance(error, DBAPIError) or error.orig is None:
        return type(exc).__name__
    args = error.orig.args
    if len(args) == 2 and isinstance(args[0], int):  # MySQL drivers raise (code, message)
        return f"{args[1]} (error {args[0]})"
    return str(error.orig)


def classify(exc: BaseException) -> Failure | None:
    """Which 503 `exc` is, or None when it is not an expected storage failure (a bug: 500)."""
    error = storage_error(exc)
    if isinstance(error, PoolTimeoutError):
        return Failure.BUSY
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        return Failure.STORE_UNAVAILABLE
    if isinstance(error, DisconnectionError):
        return Failure.UNAVAILABLE
    if isinstance(error, DBAPIError):
        return _classify_driver_error(error)
    return None


def _classify_driver_error(error: DBAPIError) -> Failure | None:
    number = driver_error_number(error)
    busy, unavailable = (
        (SQLITE_BUSY, SQLITE_UNAVAILABLE) if hasattr(error.orig, "sqlite_errorcode") else (CONFLICTS, MYSQL_UNAVAILABLE)
    )
    if number in busy:
        return Failure.BUSY
    if number in unavailable or error.connection_invalidated:
        return Failure.UNAVAILABLE
    return None


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database or session store cannot be used now (or is too busy)."""
    return classify(exc) is not None


def unavailable_response(detail: str = UNAVAILABLE) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": detail},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        media_type=MediaType.JSON,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def handle_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Any exception but an HTTP answer: 404 for a repository miss, 400 for a refused value, 503 busy or
    unavailable, else a logged 500."""
    if isinstance(exc, NotFoundError):
        detail = exc.detail if exc.detail and not exc.detail.startswith("No rows") else "not found"
        return _json(HTTP_404_NOT_FOUND, detail)
    if isinstance(exc, RuleRefusedError):
        return _json(exc.status_code, exc.detail, exc.extra)
    refusal = data_refusal(exc)
    if refusal is not None:
        return data_refused_response(request, refusal)
    failure = classify(exc)
    if failure is not None:
        logger.warning(
            "%s on %s %s: %s", failure.value.split(":")[0], request.method, request.url.path, driver_message(exc)
        )
        return unavailable_response(failure.value)
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        {"status_code": HTTP_500_INTERNAL_SERVER_ERROR, "detail": "Internal Server Error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def _json(status_code: int, detail: str, extra: list[dict[str, Any]] | None = None) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status_code": status_code, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status_code, media_type=MediaType.JSON)


def json_error_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """An HTTP error as JSON whatever the route's own media type (Litestar would label it like the route)."""
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers)


#: Litestar uses the 500 entry for every exception that is not an HTTPException (and logs nothing by itself
#: outside debug mode): so every unexpected error, an OSError included, is answered and logged here.
EXCEPTION_HANDLERS = {HTTP_500_INTERNAL_SERVER_ERROR: handle_error}
