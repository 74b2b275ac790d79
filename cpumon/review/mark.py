"""`cpumon mark TEXT`: add an event ("deployed v2") to the run this machine is recording, or to `--run RUN`."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

from rich.console import Console

from cpumon.errors import CpumonError
from cpumon.recording import ActiveRun, active_runs, recording_dir
from cpumon.review.client import Event, ReviewClient
from cpumon.review.common import format_time, with_client
from cpumon.review.resolve import RUN_HELP, resolve_run
from cpumon.settings import AgentSettings
from cpumon.wire import EVENT_KIND_DEFAULT, EVENT_KIND_MAX, EVENT_KIND_PATTERN, EVENT_TEXT_MAX

_KIND = re.compile(EVENT_KIND_PATTERN)


def event_text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError('the text is empty: say what happened, e.g. "deployed v2"')
    if len(value) > EVENT_TEXT_MAX:
        raise argparse.ArgumentTypeError(f"the text has {len(value):,} characters: at most {EVENT_TEXT_MAX}")
    return value


def event_kind(value: str) -> str:
    if not value or len(value) > EVENT_KIND_MAX or not _KIND.match(value):
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r} is not one short word: up to {EVENT_KIND_MAX} letters, digits, _ . or -"
        )
    return value


def event_time(value: str) -> dt.datetime:
    """ISO-8601; a time without an offset is this machine's local time."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a time: e.g. 2026-03-02T14:05:00Z") from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


class MarkCommand:
    name = "mark"
    help = 'add an event (e.g. "deployed v2") to the run this machine is recording, or to --run RUN'

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "text", metavar="TEXT", type=event_text, help=f"what happened (1 to {EVENT_TEXT_MAX} characters)"
        )
        parser.add_argument("--run", metavar="RUN", help=f"{RUN_HELP} (default: the run cpumon is recording here)")
        parser.add_argument(
            "--kind",
            type=event_kind,
            default=EVENT_KIND_DEFAULT,
            help=f"one short word (default: {EVENT_KIND_DEFAULT})",
        )
        parser.add_argument(
            "--at", type=event_time, metavar="TIME", help="when it happened, ISO-8601 (default: now; no offset: local)"
        )

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        active = None if args.run else recorded_here(settings)
        body: dict[str, Any] = {"text": args.text, "kind": args.kind}
        if args.at is not None:
            body["at"] = args.at.isoformat()

        async def work(client: ReviewClient) -> tuple[str, str, Event]:
            if active is not None:
                return active.run_id, active.name, await client.add_event(active.run_id, body)
            run = await resolve_run(client, args.run)
            return run.id, run.name, await client.add_event(run.id, body)

        run_id, name, event = with_client(settings, work)
        console.print(
            f"marked run {name} ({run_id}) at {format_time(event.at, console)}: {event.text}",
            soft_wrap=True,
            highlight=False,
        )
        return 0


def recorded_here(settings: AgentSettings) -> ActiveRun:
    """The one run cpumon records on this machine for these settings' user and API, else a one-line error."""
    runs = active_runs(settings.api_url, settings.username or "")
    if not runs:
        raise CpumonError(
            f"cpumon is not recording a run here for {settings.username!r} at {settings.api_url} "
            f"(none listed in {recording_dir()}): start `cpumon`, or name a run with --run RUN"
        )
    if len(runs) > 1:
        shown = ", ".join(f"{run.run_id} ({run.name})" for run in runs)
        raise CpumonError(f"{len(runs)} runs are being recorded here: {shown}; choose one with --run RUN")
    return runs[0]
