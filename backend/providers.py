"""Dependency providers: how handlers get their services, the throttle and the current user."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.services import UserService
from backend.auth.throttle import LoginThrottle


async def provide_users_service(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[UserService, None]:
    async with UserService.new(session=db_session) as service:
        yield service


def provide_throttle(state: State) -> LoginThrottle:
    throttle: LoginThrottle = state.login_throttle
    return throttle


def provide_dummy_hash(state: State) -> str:
    dummy: str = state.dummy_password_hash
    return dummy
