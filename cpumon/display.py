"""What the user sees while cpumon records: usage lines, threshold alerts, a status bar.

On a terminal: local clock times with their zone, colour where it carries meaning (red
above the threshold, yellow for warnings), and a one-line status bar that updates with
every sample; every line fits 80 columns. When stdout is a pipe or a file: the same lines
with ISO-8601 UTC times, no colour codes and no live widgets, so logs stay greppable.

Each usage line shows the average and the max over its print interval (not only the last
sample, which would hide a burst between two lines).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cpumon.formats import format_duration, format_percent, format_seconds, hot_style, iso_utc, local_time, plural
from cpumon.report import ReportFigures, report_table
from cpumon.sample import Sample
from cpumon.schedule import TickSchedule
from cpumon.stats import Averager
from cpumon.theme import interactive
from cpumon.threshold import Crossing, Direction, ThresholdOn

BAR_WIDTH = 8
LABEL_WIDTH = len("WARNING")


def usage_bar(percent: float, width: int = BAR_WIDTH) -> str:
    """A text gauge: '█████░░░░░' for 50 % at width 10."""
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


@dataclass
class Progress:
    """Upload progress figures shown beside the usage."""

    taken: int = 0
    stored: int = 0
    on_disk: int = 0
    failing: bool = False


class Display:
    def __init__(
        self,
        console: Console,
        *,
        threshold: float,
        print_interval: float,
        threshold_on: ThresholdOn = ThresholdOn.TOTAL,
    ) -> None:
        self.console = console
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.print_interval = print_interval
        self._interval = Averager()  # the samples since the last usage line
        self.interactive = interactive(console)
        self._print_schedule: TickSchedule | None = None
        self._live: Live | None = None
        self._last_percent: float | None = None
        self._progress = Progress()
        self._state = "recording"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, *, run_id: str | None, run_name: str, api_url: str, interval: float, started_mono: float) -> None:
        """The opening lines; `run_id` None: the API has not created the run yet (a line says when it does)."""
        self._print_schedule = TickSchedule(start=started_mono, interval=self.print_interval)
        watching = "the hottest core" if self.threshold_on is ThresholdOn.CORE else "the total"
        if run_id is None:
            self.line(Text.assemble("recording run ", (run_name, "cpumon.emphasis"), " (not created at the API yet)"))
        elif self.interactive:  # the id on a line of its own, to fit 80 columns
            self.line(Text.assemble("recording run ", (run_name, "cpumon.emphasis")))
            self.line(Text(f"run id {run_id}", style="cpumon.muted"))
        else:  # one line a log reader can grep: name and id together
            self.line(Text.assemble("recording run ", (run_name, "cpumon.emphasis"), f" ({run_id})"))
        self.line(Text(f"to {api_url}, a sample every {format_seconds(interval)}"))
        self.line(
            Text.assemble(
                f"alert when {watching} is above {format_percent(self.threshold)}; ", ("Ctrl-C to stop", "cpumon.muted")
            )
        )
        if self.interactive:
            self._live = Live(self._status(), console=self.console, auto_refresh=False, transient=True)
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """The status bar goes whatever ended the block (as `rich.status`): the report prints on a clean screen."""
        self.close()

    # -- events ---------------------------------------------------------------------------
    def sample(self, sample: Sample, mono: float, crossing: Crossing | None, progress: Progress) -> None:
        self._last_percent = sample.cpu_percent
        self._progress = progress
        self._interval.add(sample.cpu_percent)
        if crossing is not None:
            self._crossing(crossing)
        schedule = self._print_schedule
        if schedule is not None and mono >= schedule.next_due:
            schedule.taken(mono)
            self._usage_line(self._interval, sample.recorded_at, progress)
            self._interval = Averager()
        self._refresh()

    def stopping(self, waiting: int, flush_timeout: float) -> None:
        self._state = "stopping"
        if waiting:
            text = Text(
                f"stopping: uploading the last {plural(waiting, 'sample')} (up to {format_seconds(flush_timeout)}"
            )
            if not self.interactive:  # on a terminal the status bar says "Ctrl-C skips", and the line fits 80 columns
                text.append_text(Text.assemble("; ", ("Ctrl-C again to skip", "cpumon.emphasis")))
            text.append(")")
            self.line(text)
        self._refresh()

    def info(self, text: str) -> None:
        self.line(Text(text))

    def warn(self, text: str) -> None:
        self.line(Text(text, style="cpumon.warn"), label="WARNING")

    def report(self, figures: ReportFigures) -> None:
        self.close()
        self.console.print()
        self.console.print(report_table(figures, local=self.interactive))

    # -- output ---------------------------------------------------------------------------
    def line(self, text: Text, *, label: str = "", at: dt.datetime | None = None) -> None:
        """One line: time stamp, label column, message; the status bar (if any) stays below it."""
        when = at or dt.datetime.now(dt.UTC)
        stamp = local_time(when) if self.interactive else iso_utc(when, "milliseconds")
        # The muted style is the stamp's span only: as the Text's base style it would dim the message too.
        out = Text()
        out.append(stamp + "  ", style="cpumon.muted")
        # A fixed-width label column keeps the messages aligned under each other.
        out.append(f"{label:<{LABEL_WIDTH}}  ", style=text.style or "")
        out.append_text(text)
        self.console.print(out, highlight=False, soft_wrap=not self.interactive)

    def _usage_line(self, interval: Averager, at: dt.datetime, progress: Progress) -> None:
        average, peak = interval.average or 0.0, interval.max or 0.0
        hot = peak > self.threshold
        text = Text(f"avg {average:5.1f} %  max {peak:5.1f} %", style="cpumon.reading.hot" if hot else "cpumon.reading")
        if self.interactive and not progress.on_disk:
            text.append("  ")
            text.append(usage_bar(average), style=hot_style(hot, "cpumon.usage"))
        style = "cpumon.warn" if progress.failing else ""
        if progress.on_disk:  # what matters then is what is safe where; the bar gives way to fit 80 columns
            text.append(f"  stored {progress.stored:,}, {progress.on_disk:,} on disk", style="cpumon.warn")
        else:
            text.append(f"  stored {progress.stored:,}/{progress.taken:,}", style=style)
        self.line(text, label="cpu", at=at)

    def _crossing(self, crossing: Crossing) -> None:
        threshold = format_percent(self.threshold)
        if crossing.direction is Direction.ABOVE:
            text = Text(
                f"cpu {format_percent(crossing.cpu_percent)} is above the {threshold} threshold "
                f"(alert {crossing.alert_number})",
                style="cpumon.alert",
            )
            self.line(text, label="ALERT", at=crossing.at)
        else:
            lasted = f" after {format_duration(crossing.above_for.total_seconds())}" if crossing.above_for else ""
            back = f"cpu {format_percent(crossing.cpu_percent)} is back below {threshold}{lasted}"
            text = Text(back, style="cpumon.ok")
            self.line(text, label="OK", at=crossing.at)

    def _status(self) -> Text:
        progress = self._progress
        text = Text()
        if self._state == "recording":
            text.append("● recording", style="cpumon.error" if progress.failing else "cpumon.recording")
        else:
            text.append("◌ stopping", style="cpumon.stopping")
        if self._last_percent is not None:
            above = self._last_percent > self.threshold
            text.append("  cpu ")
            text.append(f"{self._last_percent:5.1f} %", style="cpumon.reading.hot" if above else "cpumon.reading")
            text.append(" ")
            text.append(usage_bar(self._last_percent, 10), style=hot_style(above, "cpumon.usage"))
        text.append(f"  stored {progress.stored:,}/{progress.taken:,}")
        if progress.failing:
            text.append("  uploads failing", style="cpumon.warn")
        else:
            hint = "Ctrl-C stops" if self._state == "recording" else "Ctrl-C skips"
            text.append(f"  {hint}", style="cpumon.muted")
        return text

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._status(), refresh=True)
