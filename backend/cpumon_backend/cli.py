"""`cpumon-server`: serve the API, apply migrations, add users."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import socket
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from cpumon import __version__
from cpumon_backend.commandline import EXIT_OK, EXIT_USAGE, USER_COMMANDS, CliError, database_problem
from cpumon_backend.settings import ServerSettings

#: What `cpumon[server]` adds to the agent's install; the bare install ships this command too.
SERVER_MODULES = ("litestar", "sqlalchemy", "advanced_alchemy", "alembic", "uvicorn", "msgspec", "bcrypt")


def require_server_install() -> None:
    """A one-line CliError when a module of `cpumon[server]` is missing (the agent-only install)."""
    for name in SERVER_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise CliError(f"the server is not installed (no {name}): pip install 'cpumon[server]'")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        require_server_install()
        settings = _settings()
        if args.command == "migrate":
            return _migrate(settings)
        if args.command in USER_COMMANDS:
            return _manage_user(settings, args)
        return _serve(settings)
    except CliError as exc:
        print(f"cpumon-server: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _settings() -> ServerSettings:
    try:
        return ServerSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"bad setting CPUMON_{where.upper()}: {first['msg']}", exit_code=EXIT_USAGE) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpumon-server",
        description="The cpumon API. Settings come from CPUMON_* environment variables "
        "(CPUMON_DATABASE_URL, CPUMON_HOST, CPUMON_PORT, CPUMON_WORKERS, CPUMON_SESSION_REDIS_URL, ...).",
    )
    parser.add_argument("--version", action="version", version=f"cpumon-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="serve the API with uvicorn (the default)")
    commands.add_parser("migrate", help="apply the database migrations")
    _add_user_commands(commands)
    return parser


def _add_user_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cpumon_backend.auth.commands import register  # noqa: PLC0415

    register(commands)


def _manage_user(settings: ServerSettings, args: argparse.Namespace) -> int:
    from cpumon_backend.auth.commands import main as manage  # noqa: PLC0415

    return manage(settings, args)


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """How `cpumon-server` runs uvicorn (the benchmarks serve their baseline app the same way)."""
    from cpumon_backend.http.limits import BoundedHttpToolsProtocol  # noqa: PLC0415 - only serving needs it

    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": settings.log_level,
        # X-Forwarded-For is believed only from the proxies named: anyone else could forge it.
        "proxy_headers": settings.forwarded_allow_ips is not None,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # Live pages hold their event streams open: at shutdown they get this long, then they are closed.
        "timeout_graceful_shutdown": 5,
        # httptools with a bound on the request head's size and time (backend/cpumon_backend/http/limits.py).
        "http": BoundedHttpToolsProtocol,
    }


def ensure_can_listen(host: str, port: int) -> None:
    """Fail at once, in one line naming the address, when the port is taken (uvicorn would start the
    app first, and its failure path could leave the process hanging)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closing TIME_WAIT socket is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _serve(settings: ServerSettings) -> int:
    import uvicorn  # noqa: PLC0415 - only serving needs it

    ensure_can_listen(settings.host, settings.port)
    refuse_an_unusable_database(settings)
    uvicorn.run("cpumon_backend.app:create_app", **uvicorn_options(settings))
    return EXIT_OK


def _migrate(settings: ServerSettings) -> int:
    from cpumon_backend.http.errors import is_unavailable  # noqa: PLC0415
    from cpumon_backend.storage.migrations import upgrade  # noqa: PLC0415

    check_database_scheme(settings)
    try:
        before, after = upgrade(settings)
    except Exception as exc:
        if is_unavailable(exc):
            raise database_problem(exc) from None
        raise
    if before is None:
        print(f"cpumon-server: created the schema at revision {after}")
    elif before == after:
        print(f"cpumon-server: database is at the latest migration (revision {after})")
    else:
        print(f"cpumon-server: upgraded the schema from revision {before} to {after}")
    return EXIT_OK


def check_database_scheme(settings: ServerSettings) -> None:
    """A one-line CliError when CPUMON_DATABASE_URL names a database cpumon does not run on
    (SQLAlchemy would fail later with a traceback about a missing plugin)."""
    from cpumon_backend.settings import DRIVERS  # noqa: PLC0415

    scheme, separator, _ = settings.database_url.get_secret_value().partition("://")
    database = scheme.split("+", 1)[0].lower()
    if not separator or database not in DRIVERS:
        named = f"{database}://" if separator else "no scheme"
        supported = ", ".join(f"{name}://" for name in DRIVERS)
        raise CliError(f"CPUMON_DATABASE_URL: unsupported database ({named}); cpumon supports {supported}")


def refuse_an_unusable_database(settings: ServerSettings) -> None:
    """Before serving: a one-line CliError when the database cannot be used at all (a wrong scheme,
    access denied, an unknown database, an unreachable host). An unmigrated one is served: its API
    answers 503 naming `cpumon-server migrate` until it is migrated."""
    check_database_scheme(settings)
    failure = asyncio.run(_connection_failure(settings))
    if failure is not None:
        raise database_problem(failure)


async def _connection_failure(settings: ServerSettings) -> Exception | None:
    """Why one connection and `SELECT 1` fail as an unusable database does, or None when they work."""
    from sqlalchemy import text  # noqa: PLC0415

    from cpumon_backend.http.errors import is_unavailable  # noqa: PLC0415
    from cpumon_backend.storage.db import create_engine  # noqa: PLC0415

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        if is_unavailable(exc):
            return exc
        raise
    finally:
        await engine.dispose()
    return None


if __name__ == "__main__":
    sys.exit(main())
