"""Real headless Locust runs with `import cpumon.locust`, a real agent recording this machine and a real server."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.locust.conftest import Recording, free_port, locust_command, locust_env, run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
# A test window may be shorter than --run-time by the time between arming the run-time timer and
# starting the test (both in Locust): milliseconds, a fraction of a second on busy cores.
RUN_TIME_SLACK_S = 1.0


def cpumon_rows(prefix: Path) -> list[dict[str, str]]:
    with Path(f"{prefix}_cpumon.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def window_seconds(row: dict[str, str]) -> float:
    """How long the test window the plugin reported lasted."""
    start, end = (dt.datetime.fromisoformat(row[key]) for key in ("window_from", "window_to"))
    return (end - start).total_seconds()


def window_summary(recording: Recording, row: dict[str, str]) -> dict[str, Any]:
    """The API's summary of the agent's run over the window the plugin reported."""
    (run,) = [run for run in recording.runs() if run["hostname"] == recording.hostname]
    params = {"from": row["window_from"], "to": row["window_to"]}
    response = recording.reader.http.get(f"/api/test-runs/{run['id']}", params=params)
    response.raise_for_status()
    summary: dict[str, Any] = response.json()["summary"]
    return summary


def test_end_table_csv_and_html_report_agree_with_the_api(recording: Recording, target: str, tmp_path: Path) -> None:
    prefix, report = tmp_path / "result", tmp_path / "report.html"
    args = ["--headless", "--run-time", "3s", "--csv", str(prefix), "--html", str(report)]
    run = run_locust(locust_command(target, recording.server.url, *args), locust_env(tmp_path), tmp_path)
    assert run.returncode == 0, run.output

    (row,) = [row for row in cpumon_rows(prefix) if row["host"] == recording.hostname]
    # --run-time is honoured: Locust's timer once counted from a clock cached before start-up.
    assert window_seconds(row) >= 3 - RUN_TIME_SLACK_S, row
    summary = window_summary(recording, row)
    assert int(row["samples"]) == summary["sample_count"] >= 1
    assert row["avg_percent"] == f"{summary['avg_percent']:.1f}"
    assert row["max_percent"] == f"{summary['max_percent']:.1f}"
    assert row["above_s"] == f"{summary['time_above_threshold_s']:.1f}"
    assert row["threshold_percent"] == "80.0"  # the run's own threshold

    # The console table comes with Locust's summary and names the host with the same figures.
    assert "System under test (cpumon)" in run.output
    assert run.output.index("System under test (cpumon)") > run.output.index("Response time percentiles")
    (line,) = [line for line in run.output.splitlines() if line.startswith(recording.hostname)]
    assert line.split() == [row["host"], "1", row["samples"], *line.split()[3:4], row["avg_percent"],
                            row["max_percent"], "80.0", row["above_s"]]  # fmt: skip

    page = report.read_text(encoding="utf-8")
    assert page.count('<section id="cpumon"') == 1
    assert f"<td>{recording.hostname}</td>" in page
    assert f"<td>{row['avg_percent']}</td>" in page


@pytest.fixture
def cpu_burst(recording: Recording) -> Iterator[None]:
    """Every core busy until the test ends: the machine goes above any threshold below 100 %.

    After the recording has started: a server starting on starved cores could miss its deadline.
    """
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(os.cpu_count() or 2)
    ]
    yield
    for burner in burners:
        burner.kill()
        burner.wait(timeout=10)


@pytest.mark.usefixtures("cpu_burst")
def test_too_hot_fails_the_run_only_with_max_above(recording: Recording, target: str, tmp_path: Path) -> None:
    common = ["--headless", "--run-time", "4s", "--cpumon-threshold", "50", "--cpumon-hosts", recording.hostname]
    env = locust_env(tmp_path)
    prefix = tmp_path / "gated"
    gated = subprocess.Popen(
        locust_command(target, recording.server.url, *common, "--cpumon-max-above", "1", "--csv", str(prefix)),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    ungated = run_locust(locust_command(target, recording.server.url, *common), env, tmp_path)
    output = gated.communicate(timeout=120)[0].decode(errors="replace")
    # The whole 4 s are measured even though start-up on busy cores takes seconds: with Locust's
    # stale timer the run once lasted 0.1 s, 0.2 s above the threshold, and the gate did not trip.
    (row,) = cpumon_rows(prefix)
    assert window_seconds(row) >= 4 - RUN_TIME_SLACK_S, output
    assert gated.returncode == 5, output
    assert f"cpumon: {recording.hostname} spent" in output
    assert "more than --cpumon-max-above 1 s" in output
    assert ungated.returncode == 0, ungated.output
    assert "--cpumon-max-above" not in ungated.output
    assert recording.hostname in ungated.output


def test_unreachable_api_warns_once_and_the_test_goes_on(target: str, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    # --cpumon-allow-missing: without it the gate fails a run it cannot judge (tests/locust/test_load_events.py).
    args = ["--headless", "--run-time", "3s", "--cpumon-max-above", "0", "--cpumon-allow-missing"]
    run = run_locust(locust_command(target, nowhere, *args), locust_env(tmp_path), tmp_path)
    assert run.returncode == 0, run.output
    assert run.output.count(f"cpumon: cannot connect to {nowhere}") == 1, run.output
    assert "the load test goes on without it" in run.output
    assert "Traceback" not in run.output
    assert "Aggregated" in run.output  # Locust's own summary is there


def test_missing_password_is_the_agents_one_line(target: str, tmp_path: Path) -> None:
    env = locust_env(tmp_path)
    del env["CPUMON_PASSWORD"]
    run = run_locust(locust_command(target, "http://127.0.0.1:9", "--headless", "--run-time", "1s"), env, tmp_path)
    assert run.returncode == 0, run.output
    assert run.output.count("cpumon: no password: set CPUMON_PASSWORD or `password` in the config file") == 1
    assert "Traceback" not in run.output
