"""`cpumon export RUN [-o FILE]`: the run's samples as CSV, streamed from the API chunk by chunk.

Memory stays flat at any run size: each chunk is written as it arrives. A file is written under
a temporary name beside it and renamed when complete, so a broken export never leaves a file that
looks whole. A progress bar shows on stderr when it is a terminal and the CSV is not going to it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from cpumon.errors import CpumonError
from cpumon.review.client import ReviewClient
from cpumon.review.common import note, reader_may_leave, with_client
from cpumon.review.resolve import RUN_HELP, resolve_run
from cpumon.settings import AgentSettings
from cpumon.theme import interactive, make_console

STDOUT = "-"


class ExportCommand:
    name = "export"
    help = "write a run's samples as CSV (id, seq, recorded_at, cpu_percent) to a file or stdout"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", metavar="RUN", help=RUN_HELP)
        parser.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            default=STDOUT,
            help="write to FILE instead of stdout (replaced if it exists)",
        )

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        to_stdout = args.output == STDOUT
        target = None if to_stdout else Path(args.output).expanduser()
        if target is not None and target.is_dir():
            raise CpumonError(f"{target} is a directory: give a file name with -o")
        stderr = make_console(stderr=True)
        # Not when the CSV itself goes to the terminal: the bar would be drawn over it.
        show_progress = interactive(stderr) and not (to_stdout and interactive(console))

        async def work(client: ReviewClient) -> tuple[str, int, int]:
            run = await resolve_run(client, args.run)
            expected = run.summary.sample_count if run.summary else 0
            with _destination(target) as sink, _progress(stderr, show_progress, expected) as advance:
                lines, size = 0, 0
                async with client.csv(run.id) as chunks:
                    async for chunk in chunks:
                        sink.write(chunk)
                        size += len(chunk)
                        before, lines = lines, lines + chunk.count(b"\n")
                        advance(max(0, lines - 1) - max(0, before - 1))  # rows, not counting the header
                rows = max(0, lines - 1)
                if run.ended_at is not None and rows < expected:
                    raise CpumonError(f"the export ended early: {rows:,} of {expected:,} samples; try again")
            return run.name, rows, size

        done: tuple[str, int, int] | None = None
        with reader_may_leave():
            done = with_client(settings, work)
        if target is not None and done is not None:
            name, rows, size = done
            note(console, f"wrote {rows:,} samples of run {name} to {target} ({size / 1e6:.1f} MB)")
        return 0


@contextlib.contextmanager
def _destination(target: Path | None) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file beside `target` that becomes `target` only when complete."""
    if target is None:
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise CpumonError(f"cannot write {target}: {exc.strerror or exc}") from None
    partial = Path(handle.name)
    try:
        with handle:
            yield handle
        os.chmod(partial, 0o666 & ~_umask())  # as an ordinary new file (temporary files are 0600)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CpumonError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _progress(console: Console, shown: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not shown:
        yield lambda _: None
        return
    columns = (
        TextColumn("exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("samples"),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("export", total=total)
        yield lambda rows: progress.advance(task, rows)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
