"""Users: the advanced-alchemy repository/service and the credential check."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService

from backend.auth.models import User
from backend.auth.passwords import hash_password, verify_password


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class UserService(SQLAlchemyAsyncRepositoryService[User, UserRepository]):
    repository_type = UserRepository

    async def authenticate(self, username: str, password: str, dummy_hash: str) -> User | None:
        """The user whose password this is, else None.

        An unknown username is checked against `dummy_hash`, so both failures cost one bcrypt check
        and take the same time: the answer's timing does not tell which usernames exist.
        """
        user = await self.get_one_or_none(username=username)
        # Hand the connection back (read only: nothing to commit; expire_on_commit is off, so `user`
        # stays loaded) before the ~0.2 s bcrypt check and before the login throttle and the session
        # store take connections of their own: a login never holds one while waiting for another,
        # which deadlocked a full pool under concurrent logins.
        await self.repository.session.commit()
        matches = await verify_password(password, user.password_hash if user else dummy_hash)
        return user if user is not None and matches else None

    async def create_user(self, username: str, password: str, rounds: int) -> User:
        return await self.create(
            User(username=username, password_hash=hash_password(password, rounds)), auto_commit=True
        )
