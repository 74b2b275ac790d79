"""Dependency providers: how handlers get their services (the auth ones: cpumon_backend.auth.controllers)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from cpumon_backend.auth.services import UserService


async def provide_users_service(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[UserService, None]:
    async with UserService.new(session=db_session) as service:
        yield service
