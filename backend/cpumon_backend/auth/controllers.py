"""POST /api/auth/login, POST /api/auth/logout, GET /api/auth/me."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, NotAuthorizedException, TooManyRequestsException
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from cpumon.wire import AUTH_PATH, LOGIN_ROUTE, LOGOUT_ROUTE, ME_ROUTE
from cpumon_backend.auth.guards import SESSION_USER_ID, SESSION_USERNAME, provide_current_user, requires_login
from cpumon_backend.auth.passwords import Passwords
from cpumon_backend.auth.providers import provide_users_service
from cpumon_backend.auth.schemas import CurrentUser, LoginRequest, UserRead
from cpumon_backend.auth.services import UserService
from cpumon_backend.auth.sessions import rotate_session_id
from cpumon_backend.auth.throttle import LoginThrottle, Refusal
from cpumon_backend.auth.usernames import username_key
from cpumon_backend.http.body import body_operation, read_body
from cpumon_backend.http.errors import DatabaseUnavailableException

#: The one answer for an unknown user and a wrong password alike.
BAD_CREDENTIALS = "invalid username or password"


def _too_many(refusal: Refusal) -> TooManyRequestsException:
    wait = int(refusal.wait_s)
    reason = "too many logins at once" if refusal.in_flight else "too many failed logins"
    return TooManyRequestsException(detail=f"{reason}: try again in {wait} s", headers={"Retry-After": str(wait)})


class AuthController(Controller):
    path = AUTH_PATH
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {  # noqa: RUF012
        "users_service": Provide(provide_users_service),
        "current_user": Provide(provide_current_user),
    }

    @post(
        LOGIN_ROUTE,
        status_code=HTTP_200_OK,
        summary="Log in: starts a server-side session and sets its cookie",
        raises=[ClientException, NotAuthorizedException, TooManyRequestsException, DatabaseUnavailableException],
        operation_class=body_operation(LoginRequest, "username and password"),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        users_service: NamedDependency[UserService],
        throttle: NamedDependency[LoginThrottle],
        passwords: NamedDependency[Passwords],
    ) -> UserRead:
        data: LoginRequest = await read_body(request, LoginRequest)
        limits = throttle.limits(username_key(data.username), request.client.host if request.client else "unknown")
        refusal = await throttle.reserve(limits)  # before the password is checked: a burst cannot outrun it
        if refusal is not None:
            raise _too_many(refusal)
        try:
            user = await users_service.authenticate(data.username, data.password, passwords)
        except BaseException:  # no answer (an error, a cancelled request): the check's places go back
            await throttle.abandoned(limits)
            raise
        if user is None:
            await throttle.failed(limits)  # counted until the window ends
            raise NotAuthorizedException(detail=BAD_CREDENTIALS)
        await throttle.succeeded(limits)  # a correct password uses up no limit
        rotate_session_id(request)
        request.set_session({SESSION_USER_ID: user.id, SESSION_USERNAME: user.username})
        return UserRead(id=user.id, username=user.username)

    @post(
        LOGOUT_ROUTE,
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_login],
        summary="Log out: deletes the session server-side and expires the cookie",
        raises=[NotAuthorizedException],
    )
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        request.clear_session()

    @get(ME_ROUTE, guards=[requires_login], summary="The logged-in user", raises=[NotAuthorizedException])
    async def me(self, current_user: NamedDependency[CurrentUser]) -> UserRead:
        return UserRead(id=current_user.id, username=current_user.username)
