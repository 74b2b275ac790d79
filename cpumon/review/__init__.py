"""The commands beside the monitor: `cpumon runs`, `show RUN`, `export RUN`, `logout`."""

from __future__ import annotations

from cpumon.commands import Subcommand
from cpumon.review.export import ExportCommand
from cpumon.review.logout import LogoutCommand
from cpumon.review.runs import RunsCommand
from cpumon.review.show import ShowCommand


def review_commands() -> list[Subcommand]:
    return [RunsCommand(), ShowCommand(), ExportCommand(), LogoutCommand()]
