"""`cpumon delete RUN`: delete a run and its samples, after a confirmation (or `--yes`)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from cpumon.errors import CpumonError, SettingsError
from cpumon.review.client import ReviewClient, Run
from cpumon.review.common import format_time, with_client
from cpumon.review.resolve import RUN_HELP, resolve_run
from cpumon.settings import AgentSettings


class DeleteCommand:
    name = "delete"
    help = "delete a run and its samples (asks first on a terminal; --yes for scripts)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", metavar="RUN", help=RUN_HELP)
        parser.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        if not args.yes and not sys.stdin.isatty():
            # Nobody can answer the question: a script must say --yes rather than delete by default.
            raise SettingsError("not on a terminal: cpumon delete asks first; add --yes to delete without asking")

        async def work(client: ReviewClient) -> Run | None:
            run = await resolve_run(client, args.run)
            if not args.yes and not _confirmed(run, console):
                return None
            await client.delete_run(run.id)
            return run

        deleted = with_client(settings, work)
        if deleted is None:
            console.print("nothing deleted", soft_wrap=True)
            return 1
        console.print(f"deleted run {deleted.name} ({deleted.id})", soft_wrap=True, highlight=False)
        return 0


def _confirmed(run: Run, console: Console) -> bool:
    count = run.summary.sample_count if run.summary else 0
    question = (
        f"delete run {run.name} ({run.id}), started {format_time(run.started_at, console)}, "
        f"with {count:,} samples? [y/N] "
    )
    try:
        answer = console.input(question)
    except EOFError:
        raise CpumonError("no answer: nothing deleted") from None
    return answer.strip().lower() in {"y", "yes"}
