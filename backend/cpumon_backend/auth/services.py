"""Users: the advanced-alchemy repository/service, user creation and the credential check."""

from __future__ import annotations

from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from cpumon.wire import USERNAME_MAX
from cpumon_backend.auth.connections import hand_back
from cpumon_backend.auth.models import User
from cpumon_backend.auth.passwords import Passwords, cost_of, hash_password, verify_password
from cpumon_backend.auth.usernames import display_username, username_key, username_problem


class InvalidUsernameError(ValueError):
    pass


class UsernameTakenError(ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} already exists (usernames ignore case, width and invisible characters)")


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class UserService(SQLAlchemyAsyncRepositoryService[User, UserRepository]):
    repository_type = UserRepository

    async def authenticate(self, username: str, password: str, passwords: Passwords) -> User | None:
        """The user whose password this is, else None.

        An unknown username is checked against a stand-in hash of the same cost as the stored
        ones, so both failures cost one bcrypt check and take the same time: the answer's timing
        does not tell which usernames exist. A disabled user is refused after the same check, with
        the same answer. A password proven right is rehashed when its cost is not the server's
        current one.
        """
        key = username_key(username)
        user = await self.get_one_or_none(username_key=key) if len(key) <= USERNAME_MAX else None
        if passwords.needs_typical_cost():  # on both paths alike
            await passwords.set_typical_cost(await self._typical_cost())
        await hand_back(self.repository.session)
        matches = await verify_password(password, user.password_hash if user else await passwords.dummy_hash())
        if user is None or not matches or user.disabled_at is not None:
            return None
        if not passwords.is_current(user.password_hash):
            await self._store_hash(user, await passwords.rehash(password))
            passwords.forget_typical_cost()
        return user

    async def _typical_cost(self) -> int | None:
        prefix = func.substr(User.password_hash, 1, 7)  # "$2b$12$"
        query = select(prefix).group_by(prefix).order_by(func.count().desc()).limit(1)
        most_common = await self.repository.session.scalar(query)
        return None if most_common is None else cost_of(f"{most_common}x")

    async def _store_hash(self, user: User, password_hash: str) -> None:
        session = self.repository.session
        await session.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        await session.commit()
        user.password_hash = password_hash

    async def create_user(self, username: str, password: str, rounds: int) -> User:
        problem = username_problem(username)
        if problem is not None:
            raise InvalidUsernameError(problem)
        user = User(
            username=display_username(username),
            username_key=username_key(username),
            password_hash=hash_password(password, rounds),
        )
        try:
            return await self.create(user, auto_commit=True)
        except RepositoryIntegrityError as exc:
            if not isinstance(exc.__cause__, IntegrityError):  # advanced-alchemy's name for other errors too
                raise
            raise UsernameTakenError(user.username) from exc
        except IntegrityError as exc:
            raise UsernameTakenError(user.username) from exc
