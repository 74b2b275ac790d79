"""The auth domain's dependency providers: how its handlers get their services."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from cpumon_backend.auth.passwords import Passwords
from cpumon_backend.auth.services import UserService
from cpumon_backend.auth.throttle import LoginThrottle


async def provide_users_service(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[UserService, None]:
    async with UserService.new(session=db_session) as service:
        yield service


def auth_dependencies(throttle: LoginThrottle, passwords: Passwords) -> dict[str, Provide]:
    """The app-wide objects the login needs, as dependencies (built once by the app factory)."""

    def provide_throttle() -> LoginThrottle:
        return throttle

    def provide_passwords() -> Passwords:
        return passwords

    return {
        "throttle": Provide(provide_throttle, sync_to_thread=False, use_cache=True),
        "passwords": Provide(provide_passwords, sync_to_thread=False, use_cache=True),
    }
