"""The `cpumon` command line.

Plain `cpumon` monitors. Other commands (the review commands `runs`, `show`, `export`)
plug in as subcommands: each is a `Subcommand` listed by `subcommands()`, gets the same
settings flags, and runs with the same validated settings. Every expected failure ends
in one line on stderr and a distinct exit code (see `cpumon.errors.ExitCode`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic.fields import FieldInfo
from rich.console import Console

from cpumon import __version__
from cpumon.commands import Subcommand
from cpumon.credentials import Credentials
from cpumon.display import Display
from cpumon.errors import CpumonError, ExitCode
from cpumon.monitor import Monitor
from cpumon.report import write_report_json
from cpumon.review import review_commands
from cpumon.settings import (
    CONFIG_ENV_VAR,
    AgentSettings,
    default_config_file,
    env_var,
    flag,
    load_settings,
    resolve_config_file,
    setting_fields,
)
from cpumon.theme import make_console

PROG = "cpumon"
# Never a flag: a password on the command line is visible to every user in `ps`.
NOT_FLAGS = frozenset({"password"})


def subcommands() -> list[Subcommand]:
    """The commands beside the monitor; the review commands register here."""
    return review_commands()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other cpumon error, instead of argparse's usage dump.
        self.exit(ExitCode.BAD_SETTINGS, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings",
        "Each can also be set by the environment variable shown, or in the TOML config file by its "
        "name in lower case (e.g. interval = 0.5). Precedence: flag > environment > config file > default.",
    )
    for name, info in setting_fields().items():
        env = env_var(name)
        if name in NOT_FLAGS:
            continue
        default = info.get_default(call_default_factory=True)
        shown_default = "" if default is None else f", default {default}"
        if info.annotation is bool:  # a switch: --require-api, no value
            group.add_argument(
                flag(name),
                dest=name,
                action="store_const",
                const=True,
                default=argparse.SUPPRESS,
                help=f"{info.description} [{env}]",
            )
            continue
        group.add_argument(
            flag(name),
            dest=name,
            metavar=_metavar(name, info),
            default=argparse.SUPPRESS,  # only flags actually given override the other sources
            help=f"{info.description} [{env}{shown_default}]",
        )
    group.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"TOML config file [{CONFIG_ENV_VAR}, default {default_config_file()}]",
    )


_METAVARS = {
    "api_url": "URL",
    "threshold": "PERCENT",
    "alert_hysteresis": "PERCENT",
    "threshold_on": "{total,core}",
    "report_json": "PATH",
}
_METAVARS_BY_TYPE: dict[object, str] = {float: "SECONDS", float | None: "SECONDS", int: "N", Path: "DIR"}


def _metavar(name: str, info: FieldInfo) -> str:
    found = _METAVARS.get(name) or _METAVARS_BY_TYPE.get(info.annotation)
    return found or name.rsplit("_", maxsplit=1)[-1].upper()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Record this machine's CPU usage as a test run in the cpumon API. "
        "Ctrl-C stops, uploads what is left and prints a report.",
        epilog=f"The password comes from {env_var('password')}, the config file's `password`, "
        "or a prompt on a terminal; it is never a flag. A login is saved (one session per API and user, "
        "in the state directory) and reused until it expires; `cpumon logout` ends it. "
        "Exit codes: 0 done, 1 unexpected error, 2 bad settings, 3 login refused, "
        "4 API not reachable at start (with --require-api), 5 time above threshold exceeded --max-above, "
        "130 stopped before the run started.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log upload details on stderr"
    )
    _settings_arguments(parser)
    commands = subcommands()
    if commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
        for command in commands:
            command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
            _settings_arguments(command_parser)
            command.configure(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    _configure_logging(verbose)
    try:
        settings = _settings_from(args)
        command = _find_command(getattr(args, "command", None))
        console = make_console()
        if command is not None:
            return command.run(args, settings, console)
        return monitor(settings, console)
    except CpumonError as exc:
        _fail(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        # Only reachable outside the monitor's own signal handling: at the password prompt.
        print(file=sys.stderr)
        _fail("stopped")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        _fail(f"unexpected error: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return ExitCode.UNEXPECTED


def monitor(settings: AgentSettings, console: Console) -> int:
    credentials = Credentials(settings)
    with Display(
        console,
        threshold=settings.threshold,
        print_interval=settings.print_interval,
        threshold_on=settings.threshold_on,
    ) as display:
        figures = asyncio.run(Monitor(settings, credentials, display).run())
    display.report(figures)
    if settings.report_json is not None:
        try:
            write_report_json(figures, settings.report_json)
        except OSError as exc:
            _fail(f"cannot write the JSON report {settings.report_json}: {exc.strerror or exc}")
            return ExitCode.UNEXPECTED
    if figures.gate_failed and figures.gate_text is not None:
        _fail(figures.gate_text)
        return ExitCode.GATE_FAILED
    return ExitCode.OK


def _settings_from(args: argparse.Namespace) -> AgentSettings:
    fields = setting_fields()
    flags: dict[str, Any] = {name: value for name, value in vars(args).items() if name in fields}
    config_file = resolve_config_file(getattr(args, "config", None), os.environ)
    return load_settings(flags, config_file=config_file)


def _find_command(name: str | None) -> Subcommand | None:
    if name is None:
        return None
    return next(command for command in subcommands() if command.name == name)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx/httpcore debug logs show headers, cookies included: never useful enough to leak a session.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)
