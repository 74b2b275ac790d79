"""One theme, one console factory, one terminal rule: checked on the package's own source.

Rich resolves a style name only when it renders, so a name missing from the theme, or a console
made without it, fails late (MissingStyle) and only on the path that prints it. These tests
read the whole package instead, so such a mistake fails here whatever path it is on.
"""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.color import ANSI_COLOR_NAMES, ColorSystem
from rich.errors import StyleSyntaxError
from rich.style import Style

import cpumon
from cpumon.display import Display, Progress
from cpumon.formats import hot_percent
from cpumon.report import report_table
from cpumon.stats import RunStats
from cpumon.theme import THEME, interactive, make_console

from .conftest import report_of, samples

PACKAGE = Path(cpumon.__file__).parent
THEME_MODULE = PACKAGE / "theme.py"
STYLE_NAME = re.compile(r"cpumon(\.[a-z_]+)+")
# Words of a literal style ("bold red", "dim", "on yellow"); one-letter abbreviations ("s") are left
# out, since f-string pieces such as " s" parse as styles too.
ATTRIBUTES = {"bold", "dim", "italic", "underline", "blink", "reverse", "strike", "conceal", "overline"}
STYLE_WORDS = ATTRIBUTES | set(ANSI_COLOR_NAMES) | {"on", "not"}
MARKUP_TAG = re.compile(r"\[/?(" + "|".join(sorted(STYLE_WORDS - {"on", "not"})) + r")\b")


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Each string constant, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def logger_names(tree: ast.AST) -> set[str]:
    """Names given to getLogger ('cpumon.locust'): module names, not style names."""
    return {
        argument.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "getLogger"
        for argument in node.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    }


def style_names_used() -> dict[str, str]:
    """Every `cpumon.*` style name written in the package, with where it is written first."""
    used: dict[str, str] = {}
    for path, tree in sources():
        if path == THEME_MODULE:
            continue
        loggers = logger_names(tree)
        for line, text in strings(tree):
            if STYLE_NAME.fullmatch(text) and text not in loggers:
                used.setdefault(text, f"{path.relative_to(PACKAGE)}:{line}")
    return used


def outside_the_theme(match: Callable[[ast.AST], bool]) -> list[str]:
    """Where, in the package but outside cpumon/theme.py, a node matches."""
    return [
        f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"
        for path, tree in sources()
        if path != THEME_MODULE
        for node in ast.walk(tree)
        if match(node)
    ]


def is_literal_style(text: str) -> bool:
    words = text.split()
    if not words or not all(word in STYLE_WORDS for word in words):
        return False
    try:
        return bool(Style.parse(text))
    except StyleSyntaxError:
        return False


def test_every_style_name_the_code_uses_is_in_the_theme() -> None:
    used = style_names_used()
    assert "cpumon.hot" in used, "the scan found none of the names it should"
    assert "cpumon.locust" not in used  # the plugin's logger
    missing = {name: where for name, where in used.items() if name not in THEME.styles}
    assert not missing, f"style names missing from cpumon/theme.py: {missing}"


def test_every_style_of_the_theme_is_used() -> None:
    ours = {name for name in THEME.styles if name.startswith("cpumon.")}
    assert ours - set(style_names_used()) == set()


def test_only_the_factory_makes_a_console() -> None:
    calls = outside_the_theme(
        lambda node: (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "Console")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "Console")
            )
        )
    )
    assert calls == [], "make a console with cpumon.theme.make_console, which carries the theme"


def test_no_literal_colour_style_outside_the_theme() -> None:
    literal = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for path, tree in sources()
        if path != THEME_MODULE
        for line, text in strings(tree)
        if is_literal_style(text) or MARKUP_TAG.search(text)
    ]
    assert literal == [], "name what the text means (a cpumon.* style of cpumon/theme.py), not its colour"


def test_the_literal_style_check_recognises_literal_styles() -> None:
    assert [is_literal_style(text) for text in ("bold red", "dim", "on yellow")] == [True, True, True]
    assert [is_literal_style(text) for text in (" s", "cpumon.hot", "red alert", "")] == [False] * 4
    assert MARKUP_TAG.search("[yellow]skipping")
    assert not MARKUP_TAG.search("[y/N]")


def test_one_terminal_rule() -> None:
    """Whether output is a terminal is asked in cpumon/theme.py only.

    (Whether stdin is one, to ask a question, is another matter: delete and the password prompt ask it.)
    """
    asked = outside_the_theme(
        lambda node: (
            isinstance(node, ast.Attribute)
            and (
                node.attr in {"is_terminal", "is_dumb_terminal"}
                or (
                    node.attr == "isatty"
                    and isinstance(node.value, ast.Attribute)
                    and node.value.attr in {"stdout", "stderr"}
                )
            )
        )
    )
    assert asked == [], "use cpumon.theme.interactive"


def render(*, force_terminal: bool) -> str:
    """A report with a hot max, the live lines of a hot sample and a warning, as a factory console prints them."""
    out = io.StringIO()
    # As the product's consoles: colours detected ("auto") when piped; 16 colours on the forced terminal.
    console = make_console(
        file=out, force_terminal=force_terminal, width=100, color_system="standard" if force_terminal else "auto"
    )
    stats = RunStats(threshold=80.0)
    for sample in samples([50.0, 95.0, 60.0]):
        stats.add(sample)
    console.print(report_table(report_of(stats, kept=1, stored=2, finished=False), local=interactive(console)))
    display = Display(console, threshold=80.0, print_interval=1.0)
    display.start(run_id="r1", run_name="n", api_url="http://x", interval=1.0, started_mono=0.0)
    for number, sample in enumerate(samples([95.0, 10.0])):
        display.sample(sample, float(number + 1), None, Progress(taken=number + 1, failing=True))
    display.warn("uploads fail")
    display.close()
    return out.getvalue()


def test_a_pipe_gets_no_escape_codes() -> None:
    out = render(force_terminal=False)
    assert "Max CPU" in out
    assert "avg  95.0 %" in out
    assert "\x1b" not in out


def ansi(name: str) -> str:
    """The escape sequence the theme gives `name` on a 16-colour terminal."""
    return f"\x1b[{THEME.styles[name]._make_ansi_codes(ColorSystem.STANDARD)}m"


def test_a_terminal_gets_the_themes_colour_for_a_hot_value() -> None:
    out = io.StringIO()
    console = make_console(file=out, force_terminal=True, width=100, color_system="standard")
    console.print(hot_percent(95.0, 80.0), hot_percent(50.0, 80.0))
    assert ansi("cpumon.hot") == "\x1b[31m"  # the theme's red, as the tests of the terminal output expect
    assert out.getvalue().startswith(f"{ansi('cpumon.hot')}95.0 %\x1b[0m 50.0 %")


def codes_before(output: str, text: str) -> set[str]:
    """The SGR codes in force where `text` starts (the escape right before it)."""
    found = re.search(r"\x1b\[([0-9;]*)m" + re.escape(text), output)
    assert found is not None, f"{text!r} does not follow an escape"
    return set(found.group(1).split(";"))


def theme_codes(name: str) -> set[str]:
    return set(THEME.styles[name]._make_ansi_codes(ColorSystem.STANDARD).split(";"))


def test_the_live_display_colours_a_hot_reading_and_a_warning_on_a_terminal() -> None:
    out = render(force_terminal=True)
    # A line's time stamp is muted; its message is not (the stamp's dim must not carry over to it).
    assert theme_codes("cpumon.reading.hot") <= codes_before(out, "avg  95.0 %")
    assert not theme_codes("cpumon.muted") & codes_before(out, "avg  95.0 %")
    assert not theme_codes("cpumon.muted") & codes_before(out, "uploads fail")
    assert "31" not in codes_before(out, "avg  10.0 %")
    assert theme_codes("cpumon.warn") <= codes_before(out, "uploads fail")
    assert theme_codes("cpumon.hot") <= codes_before(out, "95.0 %     ")  # the report's Max CPU


def test_no_color_keeps_a_terminal_interactive_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = make_console(file=out, force_terminal=True, width=100, color_system="standard")
    console.print(hot_percent(95.0, 80.0))
    assert interactive(console)
    assert out.getvalue() == "95.0 %\n"


def test_a_run_name_is_printed_as_it_is() -> None:
    """No markup: a name with brackets is text, not a style (it used to vanish or raise MarkupError)."""
    out = io.StringIO()
    make_console(file=out, force_terminal=False).print("deleted run [red]x[/oops] ([y/N])")
    assert out.getvalue() == "deleted run [red]x[/oops] ([y/N])\n"
