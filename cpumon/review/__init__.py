"""The review commands beside the monitor: `cpumon runs`, `cpumon show RUN`, `cpumon export RUN`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpumon.review.export import ExportCommand
from cpumon.review.runs import RunsCommand
from cpumon.review.show import ShowCommand

if TYPE_CHECKING:
    from cpumon.cli import Subcommand


def review_commands() -> list[Subcommand]:
    return [RunsCommand(), ShowCommand(), ExportCommand()]
