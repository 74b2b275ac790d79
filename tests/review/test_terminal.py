"""On a terminal (a pseudo-terminal here) the same commands use colour, and export shows progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.review.conftest import COMMAND_TIMEOUT_S, SMALL_SAMPLES, Seeded, cpumon_command
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.e2e


def _run_on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal; its exit code and everything it wrote."""
    return run_on_terminal(
        cpumon_command(*args), {**env, "COLUMNS": "100", "LINES": "40"}, cwd, within=COMMAND_TIMEOUT_S
    )


def test_show_on_a_terminal_is_coloured_and_as_wide_as_the_terminal(
    seeded: Seeded, env: dict[str, str], tmp_path: Path
) -> None:
    code, output = _run_on_terminal(["show", seeded.runs["known"].id], env, tmp_path)
    assert code == 0, output
    assert "\x1b[" in output
    plot_rows = [line for line in output.splitlines() if "┤" in line or "│\x1b" in line or "█" in line]
    assert plot_rows
    assert "threshold 50 %" in output


def test_export_to_a_file_shows_progress_on_a_terminal(seeded: Seeded, env: dict[str, str], tmp_path: Path) -> None:
    code, output = _run_on_terminal(["export", seeded.runs["small"].id, "-o", "out.csv"], env, tmp_path)
    assert code == 0, output
    assert "exporting" in output
    assert f"wrote {SMALL_SAMPLES:,} samples" in output
    assert len((tmp_path / "out.csv").read_text().splitlines()) == SMALL_SAMPLES + 1
