"""How figures read, in one place: percents, durations, times, counts, and the texts the
end-of-run report and `cpumon show` share. Pure functions of their values (whether the output
is a terminal is the caller's `local` argument, decided by `cpumon.theme.interactive`)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from rich.text import Text


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


SIZE_UNITS = ("kB", "MB", "GB", "TB")


def format_size(count: int) -> str:
    """A size in bytes as people read it: 812 B, 45.3 kB, 10.2 MB, 1.4 GB (decimal units, as file managers show)."""
    if count < 1000:
        return f"{count} B"
    value = count / 1000
    for unit in SIZE_UNITS[:-1]:
        if round(value, 1) < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} {SIZE_UNITS[-1]}"


def format_percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def hot_style(hot: bool, otherwise: str = "") -> str:
    """`cpumon.hot` for a value above the threshold, else `otherwise` (no style by default)."""
    return "cpumon.hot" if hot else otherwise


def hot_percent(value: float | None, threshold: float) -> Text:
    """A percent, styled as hot when above the threshold (the max cells of the report, `runs` and `show`)."""
    return Text(format_percent(value), style=hot_style(value is not None and value > threshold))


def format_seconds(value: float) -> str:
    """A setting or an interval as given: 0.5 s, 10 s."""
    return f"{value:g} s"


def format_duration(seconds: float) -> str:
    """12.3 s, 4 min 05.0 s, 2 h 03 min 04 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)} min {rest:04.1f} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s"


def compact_duration(seconds: float) -> str:
    """12.3 s, 4m05s, 2h03m04s: short enough for a table cell or an axis label."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def local_time(when: dt.datetime, *, date: bool = False, seconds: bool = True) -> str:
    """Local time with its zone, the one convention on a terminal: 14:03:07 CET."""
    return when.astimezone().strftime(("%Y-%m-%d " if date else "") + ("%H:%M:%S %Z" if seconds else "%H:%M %Z"))


def iso_utc(when: dt.datetime, timespec: str = "seconds") -> str:
    """ISO-8601 UTC with a Z, the one convention when piped: sortable and greppable."""
    return when.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def format_when(when: dt.datetime, *, local: bool, seconds: bool = True) -> str:
    """A date and time: local with its zone on a terminal; ISO-8601 UTC when piped."""
    return local_time(when, date=True, seconds=seconds) if local else iso_utc(when)


def above_share(time_above_s: float, first: dt.datetime | None, last: dt.datetime | None) -> float | None:
    """Time above threshold as a fraction of the sampled time (first to last sample): the one
    definition the report and `cpumon show` use, since time above is only ever measured between samples."""
    covered = (last - first).total_seconds() if first is not None and last is not None else 0.0
    return time_above_s / covered if covered > 0 else None


def time_above_text(time_above_s: float, first: dt.datetime | None, last: dt.datetime | None) -> str:
    """12.0 s (40 % of the sampled time)."""
    text = format_duration(time_above_s)
    share = above_share(time_above_s, first, last)
    return text if share is None else f"{text} ({share * 100:.0f} % of the sampled time)"


class Breakdown(Protocol):
    """The breakdown's averages: a run's report figures, or a stored run's summary (`cpumon show`)."""

    @property
    def avg_user_percent(self) -> float | None: ...
    @property
    def avg_system_percent(self) -> float | None: ...
    @property
    def avg_iowait_percent(self) -> float | None: ...
    @property
    def avg_steal_percent(self) -> float | None: ...


def breakdown_text(figures: Breakdown) -> str:
    """user 30.1 %, system 5.2 %, iowait 0.1 %, steal 0.0 % (the parts this platform measures)."""
    parts = [
        ("user", figures.avg_user_percent),
        ("system", figures.avg_system_percent),
        ("iowait", figures.avg_iowait_percent),
        ("steal", figures.avg_steal_percent),
    ]
    shown = [f"{label} {format_percent(value)}" for label, value in parts if value is not None]
    return ", ".join(shown) or "-"
