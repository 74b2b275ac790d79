"""`cpumon runs` against the real server: what it lists agrees with what was stored."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from cpumon.formats import compact_duration
from cpumon.review.client import ReviewClient
from cpumon.settings import load_settings
from tests.e2e.conftest import PASSWORD, USERNAME
from tests.review.conftest import Seeded, run_cpumon

pytestmark = pytest.mark.e2e

NEWEST_FIRST = ["open", "known", "empty", "small"]


def _plain_rows(stdout: str) -> list[list[str]]:
    """The piped table: a header line, then one line per run, columns two or more spaces apart."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_json_lists_every_run_newest_first_with_the_stored_figures(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon(env, "runs", "--json")
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    assert [item["id"] for item in listed] == [seeded.runs[key].id for key in NEWEST_FIRST]
    by_id = {item["id"]: item for item in listed}
    for key, run in seeded.runs.items():
        item = by_id[run.id]
        summary = item["summary"]
        assert summary["sample_count"] == len(run.values), key
        assert summary["threshold_percent"] == run.threshold
        assert summary["time_above_threshold_s"] == pytest.approx(run.time_above_s, abs=1e-6), key
        if run.values:
            assert summary["avg_percent"] == pytest.approx(sum(run.values) / len(run.values)), key
            assert summary["max_percent"] == max(run.values)
            assert summary["min_percent"] == min(run.values)
        else:
            assert summary["avg_percent"] is None
        if run.ended_at is None:
            assert item["ended_at"] is None
            assert item["duration_s"] is None
        else:
            assert item["duration_s"] == pytest.approx((run.ended_at - run.started_at).total_seconds())


def test_table_shows_each_run_with_its_figures_in_plain_text(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon(env, "runs")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    header, *rows = _plain_rows(result.stdout)
    assert header == ["id", "name", "host", "started", "duration", "samples", "avg", "max", "above threshold"]
    assert [row[1] for row in rows] == ["still open", "known", "empty", "small"]
    table = {row[1]: row for row in rows}
    for run in seeded.runs.values():
        assert run.id.startswith(table[run.name][0]), "the id column holds a prefix of the id"
    # known: 10 samples, avg 42.75, max 90, 4 s above 50 %, 10 s long (ISO UTC start when piped)
    assert table["known"][2:] == [
        "review-host",
        "2026-03-04T12:00:00Z",
        "10.0 s",
        "10",
        "42.8 %",
        "90.0 %",
        "4.0 s > 50 %",
    ]
    assert table["still open"][4:] == ["running", "3", "66.7 %", "95.0 %", "1.0 s > 80 %"]
    assert table["empty"][5:] == ["0", "-", "-", "0.0 s > 80 %"]
    small = seeded.runs["small"]
    assert table["small"][4:6] == ["10.0 s", "1,000"]  # 1,000 samples at 0.01 s
    assert table["small"][8] == f"{compact_duration(small.time_above_s)} > 75 %"
    # the prefixes shown are enough for `show`
    shown = run_cpumon(env, "show", table["known"][0])
    assert shown.returncode == 0, shown.stderr
    assert seeded.runs["known"].id in shown.stdout


def test_limit_shows_the_newest_and_says_how_many_there_are(seeded: Seeded, env: dict[str, str]) -> None:
    result = run_cpumon(env, "runs", "--limit", "2")
    assert result.returncode == 0, result.stderr
    _, *rows = _plain_rows(result.stdout)
    assert [row[1] for row in rows] == ["still open", "known"]
    assert "newest 2 of 4 runs" in result.stderr  # a note, kept out of the piped data
    # the ids shown are unambiguous among all the runs, listed or not
    shown = run_cpumon(env, "export", rows[1][0])
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == len(seeded.runs["known"].values) + 1
    every = run_cpumon(env, "runs", "--all", "--limit", "1", "--json")
    assert len(json.loads(every.stdout)) == len(seeded.runs)


def test_all_pages_through_every_run(seeded: Seeded) -> None:
    settings = load_settings({"api_url": seeded.server.url, "username": USERNAME, "password": PASSWORD})

    async def listed() -> list[str]:
        assert settings.password is not None
        async with ReviewClient.open(settings, settings.password) as client:
            return [run.id async for run in client.all_runs(page_size=2)]

    assert asyncio.run(listed()) == [seeded.runs[key].id for key in NEWEST_FIRST]


def test_bad_limit_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    result = run_cpumon(env, "runs", "--limit", "0")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
