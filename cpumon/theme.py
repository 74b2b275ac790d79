"""How the agent's output looks: one Rich theme, the one console factory, the one terminal rule.

Code elsewhere names what a piece of text means (`cpumon.hot`, `cpumon.warn` ...), never a
colour: the colours live here only. Rich resolves a style name when it renders and raises
MissingStyle on a console without the theme, so every console of the agent comes from
`make_console` (tests/agent/test_theme.py checks that no other `Console(` exists in the package).
"""

from __future__ import annotations

import functools

from rich.console import Console
from rich.theme import Theme

THEME = Theme(
    {
        # Figures against the threshold.
        "cpumon.hot": "red",  # a value above the threshold (max cells, bars, the chart's area)
        "cpumon.usage": "cyan",  # usage at or below the threshold (bars, the chart's area and legend)
        "cpumon.core": "magenta",  # the hottest core on the chart
        "cpumon.threshold": "yellow",  # the threshold's line and label on the chart
        "cpumon.reading": "bold",  # the live reading on a usage line and the status bar
        "cpumon.reading.hot": "bold red",  # the live reading above the threshold
        # States and messages.
        "cpumon.alert": "bold red",  # the usage crossed above the threshold
        "cpumon.error": "bold red",  # something is lost or failed (samples, the gate, uploads)
        "cpumon.warn": "yellow",  # needs attention: warnings, kept samples, open runs
        "cpumon.ok": "green",  # all is well: back below, finished, gate within
        "cpumon.recording": "bold green",  # the status bar while recording
        "cpumon.stopping": "bold yellow",  # the status bar while stopping
        # Layout.
        "cpumon.label": "bold",  # table row labels, column headers, the chart's title
        "cpumon.emphasis": "bold",  # a word to notice in a sentence (a run name, a key to press)
        "cpumon.muted": "dim",  # what frames the output: times, ids, hints, axes
        "cpumon.id": "cyan",  # run ids in a listing
    }
)

#: The agent's console factory: a Rich Console with the theme, taking Console's own options (stderr, file,
#: force_terminal, width, color_system ...). No markup and no highlighting: the agent styles text only through
#: the theme's names, so a run named '[red]' or '[/x]' prints as it is and numbers are not recoloured.
make_console = functools.partial(Console, theme=THEME, markup=False, highlight=False)


def interactive(console: Console) -> bool:
    """The one "is this a terminal" rule: colour, local times and live widgets, or plain lines.

    A pipe, a file or TERM=dumb is not interactive; Rich's own overrides (FORCE_COLOR,
    TTY_COMPATIBLE) count, and NO_COLOR keeps a terminal interactive without colour.
    """
    return console.is_terminal and not console.is_dumb_terminal
