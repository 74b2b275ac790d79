"""What a command beside the monitor is (`cpumon runs`, `cpumon logout` ...).

Its own module so that `cpumon.cli` (which runs commands) and `cpumon.review` (which
provides them) both import it and not each other.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from rich.console import Console

from cpumon.settings import AgentSettings


class Subcommand(Protocol):
    """A command beside the monitor, e.g. `cpumon runs`."""

    name: str
    help: str

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's own arguments."""

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        """Do the work; return the exit code. Raise CpumonError for expected failures."""


class WithoutArguments:
    """Base of a command that takes no arguments of its own (`cpumon sync`, `cpumon logout`)."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """No arguments of its own."""
