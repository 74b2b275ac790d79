"""`cpumon export RUN [-o FILE]`: the run's samples as CSV, streamed from the API chunk by chunk.

Memory stays flat at any run size: each chunk is written as it arrives. A file is written under
a temporary name beside it and renamed when complete, so a broken export never leaves a file that
looks whole; an export that breaks off (the API ended the stream without its final chunk, or the
connection failed) exits non-zero and says how many rows it received. A progress bar shows on
stderr when it is a terminal and the CSV is not going to the terminal.
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
from cpumon.formats import format_size
from cpumon.review.client import ExportBrokeOffError, ReviewClient
from cpumon.review.common import note, reader_may_leave, with_client
from cpumon.review.resolve import RUN_HELP, resolve_run
from cpumon.settings import AgentSettings
from cpumon.theme import interactive, make_console

STDOUT = "-"

#: The CSV's columns, in order, as the API writes them (tests/review/test_export_format.py checks the server's header).
CSV_COLUMNS = (
    ("id", "the sample's id at the API (a whole number)"),
    ("seq", "its number in the run: 0, 1, 2 ... (empty if none was sent)"),
    ("recorded_at", "when it was taken: ISO 8601 UTC (+00:00), to the microsecond"),
    ("cpu_percent", "CPU busy over the interval before it, % of all cores"),
    ("user_percent", "of that, user space (nice included)"),
    ("system_percent", "of that, the kernel (interrupts included)"),
    ("iowait_percent", "idle, waiting for I/O (Linux)"),
    ("steal_percent", "stolen by the hypervisor (Linux)"),
    ("max_core_percent", "the busiest core's usage"),
)
COLUMNS_EPILOG = "\n".join(
    [
        "The CSV has a header line, then one line per sample, oldest first:",
        *(f"  {name:<18}{meaning}" for name, meaning in CSV_COLUMNS),
        "Percentages have one decimal (the agent measures to 0.1 %). The last five are",
        "empty when the agent that recorded the run did not measure them. No field is",
        "quoted: none holds a comma.",
    ]
)


class ExportCommand:
    name = "export"
    help = "write a run's samples as CSV (id, seq, recorded_at, cpu_percent, breakdown) to a file or stdout"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = COLUMNS_EPILOG
        parser.formatter_class = _ColumnsHelp
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

        async def work(client: ReviewClient) -> tuple[str, Received]:
            run = await resolve_run(client, args.run)
            expected = run.summary.sample_count if run.summary else 0
            received = Received()
            with _destination(target) as sink, _progress(stderr, show_progress, expected) as advance:
                try:
                    async with client.csv(run.id) as chunks:
                        async for chunk in chunks:
                            sink.write(chunk)
                            advance(received.add(chunk))
                except ExportBrokeOffError as exc:
                    raise ExportBrokeOffError(_broke_off(exc.message, received, expected, target)) from None
                if run.ended_at is not None and received.rows < expected:
                    raise CpumonError(_broke_off("the API ended it early", received, expected, target))
            return run.name, received

        done: tuple[str, Received] | None = None
        with reader_may_leave():
            done = with_client(settings, work)
        if target is not None and done is not None:
            name, received = done
            size = format_size(received.size)
            note(console, f"wrote {received.rows:,} samples of run {name} to {target} ({size})")
        return 0


class Received:
    """What an export has received so far: bytes, and rows (lines after the header)."""

    def __init__(self) -> None:
        self.size = 0
        self.lines = 0

    @property
    def rows(self) -> int:
        return max(0, self.lines - 1)

    def add(self, chunk: bytes) -> int:
        """Count `chunk`; the rows it completed."""
        before = self.rows
        self.size += len(chunk)
        self.lines += chunk.count(b"\n")
        return self.rows - before


def _broke_off(why: str, received: Received, expected: int, target: Path | None) -> str:
    """The one line for an export that did not finish: why, how much came, what became of the output."""
    of = f" of {expected:,}" if expected else ""
    kept = f"{target} was not written" if target is not None else "the CSV on stdout is incomplete"
    return f"the export broke off ({why}) after {received.rows:,}{of} rows: {kept}; try again"


class _ColumnsHelp(argparse.HelpFormatter):
    """Help wrapped as usual, except a text with line breaks of its own (the column list): kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" not in text:
            return super()._fill_text(text, width, indent)
        return "".join(indent + line for line in text.splitlines(keepends=True))


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
