"""`cpumon-server` user commands: create-user, delete-user, disable-user, enable-user, set-password.

Each one but create-user ends the user's sessions at once, in the session store the server uses (the
database or Redis), so a cookie of theirs answers 401 on its next request. A disabled user cannot log in (the
same 401 as a wrong password). A deleted user's test runs and their samples go with them
(ON DELETE CASCADE); the command says how many runs, and asks first.

Order matters where two stores are involved: the user is changed in the database first (a disabled
user cannot log in again), then the sessions are ended. When ending them fails (Redis away), the
command says what was done and asks to run it again: every command can be repeated.

Imported by cpumon_backend.cli when one of these commands runs (or its parser is built): only the
standard library at the top, so the agent-only install's `cpumon-server --help` still works.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from cpumon_backend.commandline import (
    EXIT_OK,
    PASSWORD_SOURCES,
    USER_COMMANDS,
    CliError,
    _check_length,
    _has_users_table,
    database_problem,
    read_valid_password,
)
from cpumon_backend.settings import ServerSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
    from sqlalchemy.sql.expression import Executable

    from cpumon_backend.auth.models import User

CREATE, DELETE, DISABLE, ENABLE, SET_PASSWORD = USER_COMMANDS

#: Asks whether to delete what it names (a user and their runs); True: go ahead.
Confirm = Callable[[str], bool]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the user commands to `cpumon-server`'s parser."""
    commands.add_parser(CREATE, help=f"add a user; the password comes {PASSWORD_SOURCES}").add_argument("username")
    delete = commands.add_parser(
        DELETE, help="delete a user, with their test runs and samples; asks first (on a terminal) unless --yes"
    )
    delete.add_argument("username")
    delete.add_argument("--yes", action="store_true", help="do not ask (needed when not run on a terminal)")
    for name, says in (
        (DISABLE, "keep a user but refuse their logins"),
        (ENABLE, "let a disabled user log in again"),
        (
            SET_PASSWORD,
            f"set a user's password: it comes {PASSWORD_SOURCES}",
        ),
    ):
        commands.add_parser(name, help=f"{says}; ends the user's sessions").add_argument("username")


def main(settings: ServerSettings, args: argparse.Namespace) -> int:
    """Run the user command `args.command`; print one line saying what happened."""
    if args.command == CREATE:
        return _create_user(settings, args.username)
    password = _new_password(settings, args.username) if args.command == SET_PASSWORD else None
    confirm = _confirmed if args.command == DELETE and not args.yes else None
    try:
        message = asyncio.run(_run(settings, args.command, args.username, password, confirm))
    except CliError:
        raise
    except Exception as exc:
        from cpumon_backend.http.errors import is_unavailable  # noqa: PLC0415

        if is_unavailable(exc):
            raise database_problem(exc) from None
        raise
    print(f"cpumon-server: {message}")
    return EXIT_OK


def _new_password(settings: ServerSettings, username: str) -> str:
    password = read_valid_password(username)
    _check_length(password, settings.password_min_length)
    return password


def _create_user(settings: ServerSettings, username: str) -> int:
    from cpumon_backend.auth.passwords import PasswordTooLongError  # noqa: PLC0415

    password = read_valid_password(username)
    try:
        asyncio.run(_insert_user(settings, username, password))
    except PasswordTooLongError as exc:
        raise CliError(str(exc)) from None
    print(f"cpumon-server: created user {username!r}")
    return EXIT_OK


async def _insert_user(settings: ServerSettings, username: str, password: str) -> None:
    from cpumon_backend.auth.services import UserService  # noqa: PLC0415

    try:
        async with _migrated_engine(settings) as engine, _session(engine) as session:
            # The length rule comes after the schema check: on an unmigrated database, migrating is the first step.
            _check_length(password, settings.password_min_length)
            await UserService(session=session).create_user(username, password, settings.bcrypt_rounds)
    except CliError:
        raise
    except Exception as exc:
        raise _explain_insert_failure(exc, username) from None


def _explain_insert_failure(exc: Exception, username: str) -> Exception:
    from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError  # noqa: PLC0415
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    from cpumon_backend.auth.services import InvalidUsernameError, UsernameTakenError  # noqa: PLC0415
    from cpumon_backend.http.errors import is_unavailable, storage_error  # noqa: PLC0415

    if isinstance(exc, InvalidUsernameError | UsernameTakenError):
        return CliError(str(exc))
    if isinstance(exc, RepositoryIntegrityError) or isinstance(storage_error(exc), IntegrityError):
        return CliError(f"user {username!r} already exists")
    if is_unavailable(exc):
        return database_problem(exc)
    return exc


def _confirmed(what: str) -> bool:
    """Asked on a terminal only: a script must say --yes."""
    if not sys.stdin.isatty():
        raise CliError(f"not deleted: confirm on a terminal, or pass --yes to delete {what}")
    return input(f"Delete {what}? [y/N] ").strip().lower() in {"y", "yes"}


async def _run(
    settings: ServerSettings, command: str, username: str, password: str | None, confirm: Confirm | None
) -> str:
    async with _migrated_engine(settings) as engine:
        user = await _find(engine, username)
        if command == DELETE:
            return await _delete(settings, engine, user, confirm)
        done = await _change(settings, engine, command, user, password)
        ended = await _end_sessions(settings, engine, user.id, done)
        return f"{done}; ended {_plural(ended, 'session')}"


@asynccontextmanager
async def _migrated_engine(settings: ServerSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the settings' database, disposed after the block; a CliError when it has no users table."""
    from cpumon_backend.storage.db import create_engine  # noqa: PLC0415

    engine = create_engine(settings)
    try:
        if not await _has_users_table(engine):
            raise CliError("the database is not migrated: run `cpumon-server migrate` first")
        yield engine
    finally:
        await engine.dispose()


async def _find(engine: AsyncEngine, username: str) -> User:
    from sqlalchemy import select  # noqa: PLC0415

    from cpumon_backend.auth.models import User  # noqa: PLC0415
    from cpumon_backend.auth.usernames import username_key  # noqa: PLC0415

    async with _session(engine) as session:
        user = await session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise CliError(f"no user {username!r}")
    return user


async def _change(settings: ServerSettings, engine: AsyncEngine, command: str, user: User, password: str | None) -> str:
    """Disable, enable or set the password of `user`; what was done, as the message's start."""
    from sqlalchemy import update  # noqa: PLC0415

    from cpumon_backend.auth.models import User  # noqa: PLC0415
    from cpumon_backend.auth.passwords import hash_password  # noqa: PLC0415

    statement = update(User).where(User.id == user.id)
    if command == DISABLE:
        # A second disable keeps the first one's time.
        statement = statement.where(User.disabled_at.is_(None)).values(disabled_at=dt.datetime.now(dt.UTC))
        done = f"disabled user {user.username!r}: their logins are refused"
    elif command == ENABLE:
        statement = statement.values(disabled_at=None)
        done = f"enabled user {user.username!r}"
    else:
        if password is None:  # main() reads it for this command
            raise CliError("no password given")
        statement = statement.values(password_hash=hash_password(password, settings.bcrypt_rounds))
        done = f"set the password of user {user.username!r}"
    await _execute(engine, statement)
    return done


async def _delete(settings: ServerSettings, engine: AsyncEngine, user: User, confirm: Confirm | None) -> str:
    """Disable (no new login), end the sessions, delete (runs, samples and database sessions cascade),
    then end the sessions again: a login that was being checked as the user was disabled may have
    stored one in Redis since."""
    from sqlalchemy import delete, update  # noqa: PLC0415

    from cpumon_backend.auth.models import User  # noqa: PLC0415

    runs = await _count_runs(engine, user.id)
    what = f"user {user.username!r} and their {_plural(runs, 'test run')} (with their samples)"
    if confirm is not None and not confirm(what):
        raise CliError(f"not deleted: {what} kept")
    await _execute(engine, update(User).where(User.id == user.id).values(disabled_at=dt.datetime.now(dt.UTC)))
    ended = await _end_sessions(settings, engine, user.id, f"user {user.username!r} is disabled, not yet deleted")
    await _execute(engine, delete(User).where(User.id == user.id))
    ended += await _end_sessions(settings, engine, user.id, f"deleted {what}")
    return f"deleted {what}; ended {_plural(ended, 'session')}"


async def _count_runs(engine: AsyncEngine, user_id: int) -> int:
    from sqlalchemy import func, select  # noqa: PLC0415

    from cpumon_backend.runs.models import TestRun  # noqa: PLC0415

    async with _session(engine) as session:
        return int(await session.scalar(select(func.count()).where(TestRun.user_id == user_id)) or 0)


def _session(engine: AsyncEngine) -> AsyncSession:
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    return AsyncSession(engine, expire_on_commit=False)


async def _execute(engine: AsyncEngine, statement: Executable) -> None:
    async with _session(engine) as session:
        await session.execute(statement)
        await session.commit()


async def _end_sessions(settings: ServerSettings, engine: AsyncEngine, user_id: int, done: str) -> int:
    """End the user's sessions; how many. A store that cannot be reached says what was `done` already."""
    from cpumon_backend.auth.storage import open_session_store  # noqa: PLC0415
    from cpumon_backend.http.errors import Failure, classify  # noqa: PLC0415

    try:
        async with open_session_store(settings, engine) as store:
            return await store.end_sessions_of(user_id)
    except Exception as exc:
        if classify(exc) is not Failure.STORE_UNAVAILABLE:
            raise
        raise CliError(
            f"{done}, but their sessions could not be ended (Redis: {exc}): "
            "check CPUMON_SESSION_REDIS_URL and run the command again"
        ) from None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
