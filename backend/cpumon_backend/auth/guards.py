"""Who is calling: the guard on every protected route and the `current_user` dependency."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from cpumon.wire import LOGIN_PATH
from cpumon_backend.auth.schemas import CurrentUser

SESSION_USER_ID = "uid"
SESSION_USERNAME = "username"
NOT_LOGGED_IN = f"not logged in: POST {LOGIN_PATH} first"

#: Any request or websocket, as guards, session backends and stores see it.
Connection = ASGIConnection[Any, Any, Any, Any]


def session_user(connection: Connection) -> CurrentUser | None:
    session = connection.scope.get("session")
    if not isinstance(session, dict):
        return None
    user_id, username = session.get(SESSION_USER_ID), session.get(SESSION_USERNAME)
    if not isinstance(user_id, int) or not isinstance(username, str):
        return None
    return CurrentUser(id=user_id, username=username)


async def requires_login(connection: Connection, _: BaseRouteHandler) -> None:
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every request.
    if session_user(connection) is None:
        raise NotAuthorizedException(detail=NOT_LOGGED_IN)


def logged_in_user(connection: Connection) -> CurrentUser:
    """The caller, on a route behind `requires_login`."""
    user = session_user(connection)
    if user is None:  # the guard ran first; this only keeps the type honest
        raise NotAuthorizedException(detail=NOT_LOGGED_IN)
    return user


async def provide_current_user(request: Connection) -> CurrentUser:
    return logged_in_user(request)
