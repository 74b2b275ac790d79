"""`cpumon sync`: deliver what the spool holds (runs an earlier start could not finish) without a new run."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from cpumon.api import ApiClient, ApiTransientError
from cpumon.commands import WithoutArguments
from cpumon.credentials import Credentials
from cpumon.login import log_in, unavailable
from cpumon.outbox import Outbox
from cpumon.recovery import recoverable_runs
from cpumon.settings import AgentSettings
from cpumon.spool import Spool
from cpumon.uploader import Uploader

GIVE_UP_AFTER = 5  # failed attempts in a row: the API is away, and sync has nothing to wait for


class ConsoleNotices:
    def __init__(self, console: Console) -> None:
        self.console = console

    def info(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(f"warning: {text}", style="cpumon.warn", soft_wrap=True)


class SyncCommand(WithoutArguments):
    name = "sync"
    help = "deliver the samples the spool holds for this API and user (and finish their runs), then exit"

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        credentials = Credentials(settings)
        notices = ConsoleNotices(console)
        outboxes = recoverable_runs(
            Spool(settings.spool_dir),
            api_url=settings.api_url,
            username=credentials.username,
            batch_size=settings.batch_size,
            notices=notices,
        )
        if not outboxes:
            notices.info(f"nothing waits in {settings.spool_dir} for {credentials.username} at {settings.api_url}")
            return 0
        asyncio.run(_deliver(settings, credentials, outboxes, notices))
        ours = {outbox.meta.run_id for outbox in outboxes}
        left = [run_spool.run_id for run_spool in Spool(settings.spool_dir).run_dirs() if run_spool.run_id in ours]
        if left:
            notices.warn(f"{len(left)} of the runs are still in {settings.spool_dir} (see the lines above)")
            return 1
        notices.info(f"the spool holds nothing more for {credentials.username} at {settings.api_url}")
        return 0


async def _deliver(
    settings: AgentSettings, credentials: Credentials, outboxes: list[Outbox], notices: ConsoleNotices
) -> None:
    api = ApiClient.for_settings(settings, credentials.username, credentials)
    try:
        await log_in(api)
        uploader = Uploader(
            api,
            None,
            notices=notices,
            recovered=outboxes,
            flush_interval=settings.flush_interval,
            retry_max_delay=settings.retry_max_delay,
            give_up_after=GIVE_UP_AFTER,
        )
        try:
            await uploader.run()
        except ApiTransientError as exc:
            raise unavailable(settings.api_url, exc) from None
    finally:
        for outbox in outboxes:
            outbox.spool.unlock()
        await api.aclose()
