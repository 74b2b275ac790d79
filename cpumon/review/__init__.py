"""The commands beside the monitor: `cpumon runs`, `show RUN`, `export RUN`, `sync`, `delete RUN`, `mark TEXT`,
`logout`."""

from __future__ import annotations

from cpumon.commands import Subcommand
from cpumon.review.delete import DeleteCommand
from cpumon.review.export import ExportCommand
from cpumon.review.logout import LogoutCommand
from cpumon.review.mark import MarkCommand
from cpumon.review.runs import RunsCommand
from cpumon.review.show import ShowCommand
from cpumon.review.sync import SyncCommand


def review_commands() -> list[Subcommand]:
    return [
        RunsCommand(),
        ShowCommand(),
        ExportCommand(),
        SyncCommand(),
        DeleteCommand(),
        MarkCommand(),
        LogoutCommand(),
    ]
