"""`cpumon show RUN` against the real server: summary and chart agree with what was stored."""

from __future__ import annotations

import re

import pytest

from cpumon.formats import format_duration
from tests.review.conftest import KNOWN_VALUES, Seeded, run_cpumon

pytestmark = pytest.mark.e2e

CHART_ROWS = 10


def _summary(stdout: str) -> dict[str, str]:
    return {
        match.group(1).strip(): match.group(2).strip()
        for match in re.finditer(r"^│ ([A-Z][A-Za-z ]+?) +│ (.*?) *│$", stdout, re.MULTILINE)
    }


def _chart(stdout: str) -> list[str]:
    """The plot rows, top first, without the y axis."""
    rows = [line for line in stdout.splitlines() if re.match(r"^ *\S* [┤│]", line)]
    return [re.sub(r"^ *\S* [┤│]", "", row) for row in rows]


def test_summary_and_chart_of_a_ten_sample_run(seeded: Seeded, env: dict[str, str]) -> None:
    known = seeded.runs["known"]
    result = run_cpumon(env, "show", known.id)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    summary = _summary(result.stdout)
    assert summary["Run"] == known.id
    assert summary["Samples"] == "10"
    assert summary["Average CPU"] == "42.8 %"
    assert summary["Min CPU"] == "10.0 %"
    assert summary["Max CPU"] == "90.0 %"
    assert summary["Threshold"] == "50.0 %"
    assert summary["Time above threshold"].startswith("4.0 s")
    assert summary["Duration"] == "10.0 s"
    rows = _chart(result.stdout)
    assert len(rows) == CHART_ROWS
    width = len(rows[0])
    assert width == 80 - 6  # a pipe is 80 columns: the plot takes what the axis leaves
    # Column by column, the filled height follows the samples: the first column is the first
    # sample, the last the last, and the highest point is the 90 % sample.
    heights = [sum(1 for row in rows if row[col] == "█") for col in range(width)]
    assert heights[0] == int(KNOWN_VALUES[0] // 10)
    assert heights[-1] == int(KNOWN_VALUES[-1] // 10)
    assert max(heights) == 9
    # The threshold (50 %) is a line across the chart where no bar covers it.
    threshold_row = rows[CHART_ROWS - 1 - 5]
    assert set(threshold_row) <= {"▁", "█", "▂", "▃", "▄", "▅", "▆", "▇"}
    assert threshold_row.count("▁") > width // 3
    assert "threshold 50 %" in result.stdout


@pytest.mark.xdist_group("review-big")
def test_big_run_is_charted_from_the_series_without_loading_every_sample(
    big_seeded: Seeded, big_env: dict[str, str]
) -> None:
    big = big_seeded.runs["big"]
    result = run_cpumon(big_env, "show", big.id[:13], "--above", "90", "--height", "8")
    assert result.returncode == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["Samples"] == "200,000"
    assert summary["Threshold"] == "90.0 %"
    assert summary["Time above threshold"].startswith(format_duration(big.time_above(90.0)) + " (")
    rows = _chart(result.stdout)
    assert len(rows) == 8
    # Uniformly spread values: every column averages about 50 % and reaches a max near 100 %.
    assert all(row.strip() for row in rows[4:]), "every column is filled up to the average"
    assert "·" in rows[0], "the maximum shows above the average"


def test_latest_is_the_newest_run_and_an_open_run_says_running(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon(env, "show", "latest")
    assert result.returncode == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["Run"] == seeded.runs["open"].id
    assert summary["Ended"] == "running"


def test_a_run_without_samples_has_no_chart(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon(env, "show", seeded.runs["empty"].id)
    assert result.returncode == 0, result.stderr
    assert _summary(result.stdout)["Samples"] == "0"
    assert "no samples stored for this run" in result.stdout


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("00000000-0000-7000-8000-000000000000", "no run '00000000-0000-7000-8000-000000000000'"),
        ("ffff", "no run id starts with 'ffff'"),
        ("not-an-id!", "is not a run id"),
    ],
)
def test_unknown_run_is_one_line_and_exit_1(env: dict[str, str], given: str, says: str) -> None:
    result = run_cpumon(env, "show", given)  # `export` resolves RUN the same way (see test_export)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert says in lines[0]


def test_ambiguous_prefix_is_one_line_and_exit_1(seeded: Seeded, env: dict[str, str]) -> None:
    ids = [run.id for run in seeded.runs.values()]
    shared = ids[0][:8]  # UUIDv7: runs created within a minute share the first 8 digits
    assert sum(run_id.startswith(shared) for run_id in ids) > 1
    result = run_cpumon(env, "show", shared)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "type more of the id" in lines[0]


def test_wrong_password_is_exit_3(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon({**env, "CPUMON_PASSWORD": "wrong-password"}, "show", "latest")
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1
