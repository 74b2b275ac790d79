"""Real headless Locust runs: the load's phases as events on the agent's run, the chart and capacity in the
report and CSV files (agreeing with the API's window summaries), a controlled load step's capacity, and
the strict gate without data.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpumon.locust_gate import NO_DATA_EXIT_CODE
from tests.browser import BrowserPage
from tests.e2e.conftest import USERNAME, ServerProcess
from tests.locust.conftest import Recording, free_port, locust_command, locust_env, run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
#: Set to a folder (e.g. docs/screenshots) to keep the report's capacity section as locust-report.png there.
SCREENSHOT_DIR = os.environ.get("CPUMON_SCREENSHOT_DIR")
STEP_LOCUSTFILE = Path(__file__).with_name("locustfile_step.py")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def window_summary(http: httpx.Client, run_id: str, start: str, end: str) -> dict[str, Any]:
    response = http.get(f"/api/test-runs/{run_id}", params={"from": start, "to": end})
    response.raise_for_status()
    summary: dict[str, Any] = response.json()["summary"]
    return summary


def test_phases_become_events_and_the_report_charts_the_api_figures(
    recording: Recording, target: str, tmp_path: Path
) -> None:
    prefix, report = tmp_path / "result", tmp_path / "report.html"
    args = ["--headless", "--run-time", "4s", "--cpumon-interval", "1", "--csv", str(prefix), "--html", str(report)]
    run = run_locust(locust_command(target, recording.server.url, *args), locust_env(tmp_path), tmp_path)
    assert run.returncode == 0, run.output

    # The phases, in time order, on the run the agent records (Locust's --users 2).
    (agent_run,) = [r for r in recording.runs() if r["hostname"] == recording.hostname]
    listed = recording.reader.http.get(f"/api/test-runs/{agent_run['id']}/events").json()["items"]
    assert [(e["text"], e["kind"]) for e in listed] == [("test start", "load"), ("users 0 -> 2", "load"),
                                                        ("test stop", "load")]  # fmt: skip

    # Each interval's CPU is the API's window summary of that interval.
    intervals = [row for row in read_csv(Path(f"{prefix}_cpumon_intervals.csv")) if row["host"] == recording.hostname]
    assert len(intervals) >= 3, intervals
    sampled = [row for row in intervals if int(row["samples"]) > 0]
    assert len(sampled) >= 3, intervals
    for row in sampled:
        summary = window_summary(recording.reader.http, agent_run["id"], row["window_from"], row["window_to"])
        assert int(row["samples"]) == summary["sample_count"]
        assert float(row["cpu_percent"]) == pytest.approx(summary["avg_percent"], abs=1e-5)
        assert float(row["rps"]) > 0
    (fit,) = [row for row in read_csv(Path(f"{prefix}_cpumon_capacity.csv")) if row["host"] == recording.hostname]
    assert int(fit["points"]) == len(sampled)

    # The report: one self-contained page with the chart of the host and the capacity table.
    page = report.read_text(encoding="utf-8")
    assert page.count('<section id="cpumon-capacity"') == 1
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert f'data-host="{recording.hostname}"' in page
    assert page.count('<g class="event">') == 3
    assert "Req/s at threshold" in page
    assert "http://" not in page.split('<section id="cpumon"')[1].replace("http://www.w3.org/2000/svg", "")
    assert "Capacity (cpumon)" in run.output


class Feeder:
    """A synthetic agent: posts a sample every 0.1 s whose CPU is 10 % + 0.1 % per request/s the target served
    over the last half second, so the capacity the plugin finds is known: 100 % per 1,000 req/s, 700 req/s at 80 %.
    """

    BASE, PER_RPS, WINDOW_S = 10.0, 0.1, 0.5

    def __init__(self, server: ServerProcess, hostname: str) -> None:
        self.http = server.client().http
        body = {"hostname": hostname, "interval_s": 0.1, "threshold_percent": 80.0, "name": "controlled step"}
        self.run_id = self.http.post("/api/test-runs", json=body).json()["id"]
        self.served: collections.deque[float] = collections.deque(maxlen=100_000)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.feed, daemon=True)

    def cpu_now(self) -> float:
        now = time.monotonic()
        recent = sum(1 for at in list(self.served) if at >= now - self.WINDOW_S)
        return min(100.0, self.BASE + self.PER_RPS * recent / self.WINDOW_S)

    def feed(self) -> None:
        seq = 0
        while not self.stop.wait(0.1):
            sample = {"seq": seq, "cpu_percent": self.cpu_now(), "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
            self.http.post(f"/api/test-runs/{self.run_id}/cpu-usage", json=sample).raise_for_status()
            seq += 1


@pytest.fixture
def fed_target(cpumon_server: ServerProcess) -> Iterator[tuple[str, Feeder]]:
    feeder = Feeder(cpumon_server, f"step-{uuid.uuid4().hex[:8]}")

    class Counting(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            feeder.served.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    feeder.thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", feeder
    feeder.stop.set()
    feeder.thread.join(timeout=10)
    server.shutdown()
    server.server_close()


def test_a_controlled_load_step_gives_the_capacity_it_was_made_with(
    cpumon_server: ServerProcess, fed_target: tuple[str, Feeder], tmp_path: Path, browser_page: BrowserPage
) -> None:
    target, _ = fed_target
    prefix, report = tmp_path / "step", tmp_path / "report.html"
    command = [sys.executable, "-m", "locust", "-f", str(STEP_LOCUSTFILE), "--host", target, "--headless"]
    command += ["--only-summary", "--cpumon-url", cpumon_server.url, "--cpumon-username", USERNAME]
    command += ["--cpumon-interval", "1", "--csv", str(prefix), "--html", str(report)]
    run = run_locust(command, locust_env(tmp_path), tmp_path)
    assert run.returncode == 0, run.output

    (fit,) = [row for row in read_csv(Path(f"{prefix}_cpumon_capacity.csv")) if row["host"].startswith("step-")]
    assert float(fit["r2"]) >= 0.8, fit
    assert 70 <= float(fit["cpu_per_1000_rps"]) <= 130, fit  # made with 100
    assert 500 <= float(fit["projected_rps"]) <= 950, fit  # made with (80 - 10) / 0.1 = 700
    assert 8 <= int(fit["points"]) <= 20, fit
    show_the_report(report, fit, browser_page)
    capacity_table = run.output[run.output.index("Capacity (cpumon)") :]
    (line,) = [line for line in capacity_table.splitlines() if line.strip().startswith(fit["host"])]
    # The table rounds the exact figures (0.1, 1, 0.01), the CSV keeps more digits (0.001, 0.1, 0.0001):
    # each shown figure is within both roundings of the CSV's (re-rounding the CSV's would round twice).
    keys, table_steps, csv_steps = ("cpu_per_1000_rps", "projected_rps", "r2"), (0.1, 1.0, 0.01), (0.001, 0.1, 0.0001)
    for text, key, table_step, csv_step in zip(line.split()[1:], keys, table_steps, csv_steps, strict=True):
        assert close_to(text, float(fit[key]), table_step, csv_step), (key, line, fit)


def close_to(shown: str, csv_figure: float, shown_step: float, csv_step: float) -> bool:
    """`shown` (rounded to `shown_step`) is the same figure as the CSV's (rounded to `csv_step`)."""
    try:
        figure = float(shown.replace(",", ""))
    except ValueError:
        return False
    return abs(figure - csv_figure) <= (shown_step + csv_step) / 2 + 1e-9


def show_the_report(report: Path, fit: dict[str, str], browser_page: BrowserPage) -> None:
    """Chromium opens the report from disk with every request off the file refused: it needs nothing else."""
    page = browser_page(report.as_uri(), width=1000, height=900)
    page.goto(report.as_uri())
    section = page.locator("#cpumon-capacity")
    section.locator(f'svg[data-host="{fit["host"]}"]').wait_for()
    cells = section.locator("tr", has_text=fit["host"]).first.locator("td, th").all_inner_texts()
    assert any(close_to(cell, float(fit["cpu_per_1000_rps"]), 0.1, 0.001) for cell in cells), (cells, fit)
    if SCREENSHOT_DIR:
        section.screenshot(path=str(Path(SCREENSHOT_DIR) / "locust-report.png"))


def test_the_gate_fails_without_data_unless_missing_data_is_allowed(
    cpumon_server: ServerProcess, target: str, tmp_path: Path
) -> None:
    """No agent records anything: --cpumon-max-above cannot judge the run, and says so."""
    gate = ["--headless", "--run-time", "2s", "--cpumon-max-above", "10"]
    env = locust_env(tmp_path)
    strict = run_locust(locust_command(target, cpumon_server.url, *gate), env, tmp_path)
    assert strict.returncode == NO_DATA_EXIT_CODE, strict.output
    assert "cpumon: no cpumon data for the test window: no agent of yours recorded any host" in strict.output
    assert "--cpumon-allow-missing lets it pass" in strict.output

    allowed = run_locust(locust_command(target, cpumon_server.url, *gate, "--cpumon-allow-missing"), env, tmp_path)
    assert allowed.returncode == 0, allowed.output

    refused = run_locust(locust_command(target, cpumon_server.url, *gate), {**env, "CPUMON_PASSWORD": "nope"}, tmp_path)
    assert refused.returncode == NO_DATA_EXIT_CODE, refused.output
    assert "refused the username and password" in refused.output

    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = run_locust(locust_command(target, nowhere, *gate), env, tmp_path)
    assert unreachable.returncode == NO_DATA_EXIT_CODE, unreachable.output
    assert f"no cpumon data for the test window: cannot connect to {nowhere}" in unreachable.output
    for run in (strict, refused, unreachable):
        assert "Traceback" not in run.output
