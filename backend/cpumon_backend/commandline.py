"""What every `cpumon-server` command shares: the one-line error, exit codes, reading a new password,
and saying what the database refused. Apart from cli.py so the user commands (auth/commands.py) and
the command line import it without importing each other."""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

#: Where `create-user` looks for a password when neither a terminal nor stdin gives one.
PASSWORD_ENV = "CPUMON_NEW_USER_PASSWORD"  # noqa: S105 - a variable name, not a password
#: Where a new password comes from, as the commands' help says it.
PASSWORD_SOURCES = f"from a prompt, else the first line of stdin, else ${PASSWORD_ENV}"

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """An expected failure: its message is printed as one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


#: Users managed by cpumon_backend/auth/commands.py (imported when used).
USER_COMMANDS = ("create-user", "delete-user", "disable-user", "enable-user", "set-password")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CliError("the passwords differ")
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    return line or os.environ.get(PASSWORD_ENV, "")


def read_valid_password(username: str) -> str:
    """The password `_read_password` gives, refused (one line) unless it could log `username` in."""
    import msgspec  # noqa: PLC0415 - a server dependency

    from cpumon_backend.auth.schemas import LoginRequest  # noqa: PLC0415

    password = _read_password()
    try:
        msgspec.convert({"username": username, "password": password}, LoginRequest)
    except msgspec.ValidationError as exc:
        raise CliError(f"invalid user: {exc}") from None
    return password


def _check_length(password: str, minimum: int) -> None:
    """Refuse a short password, saying why: bcrypt and the login limits slow guessing, they do not stop it."""
    if len(password) < minimum:
        raise CliError(
            f"the password has {len(password)} characters, at least {minimum} are needed "
            "(CPUMON_PASSWORD_MIN_LENGTH): a short one is guessed by trying, however slowly each try goes"
        )


async def _has_users_table(engine: AsyncEngine) -> bool:
    """Asked of the schema, not read from an error message."""
    from sqlalchemy import inspect  # noqa: PLC0415

    async with engine.connect() as connection:
        found: bool = await connection.run_sync(lambda sync: inspect(sync).has_table("users"))
        return found


def database_problem(exc: BaseException) -> CliError:
    """One line naming what the database said (refused, access denied, ...), never the URL's password."""
    from cpumon_backend.http.errors import driver_message  # noqa: PLC0415

    return CliError(f"cannot use the database: {driver_message(exc)}; check CPUMON_DATABASE_URL")
