"""Clients against an API that lies: huge, dripping or invalid answers fail the request, in bounded memory.

A real `cpumon` process (the agent, a review command) or the Locust plugin's client against the tiny
lying server of tests/e2e/lying_api.py. Whatever the answer to its uploads, the agent keeps the samples
in the spool to send them again and counts none as stored; every client's peak memory (the kernel's
high-water mark of the process) stays far below the 400 MB the server offers. Something that is not a
cpumon API at all is one line and exit 4.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cpumon.spool import Spool

from .conftest import agent_env, report_rows, spool_a_run
from .lying_api import RUN_ID, LyingApi, lying_api, wait_pid
from .test_agent import count

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PEAK_RSS_LIMIT_KIB = 100 * 1024
EXIT_WITHIN_S = 120.0
UPLOAD = rf"POST /api/test-runs/{RUN_ID}/cpu-usage"


def short_timeouts(api: LyingApi, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The client's settings against `api`: a request must be whole within 3 + 1 s (3 s for a first
    login on busy cores: were it late, the agent would record as if the API were away)."""
    return agent_env(api.url, tmp_path / "spool", CPUMON_CONNECT_TIMEOUT="3", CPUMON_REQUEST_TIMEOUT="1", **settings)


def run_measured(command: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int | None, int, str, str]:
    """Run `command` to its end: its exit code (None if it did not end in time), peak RSS (KiB), stdout, stderr."""
    out, err = tmp_path / "command.out", tmp_path / "command.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    code, peak = wait_pid(process.pid, within=EXIT_WITHIN_S)
    if code is None:
        process.kill()
        process.wait()
    process.returncode = code  # waited for by wait4: Popen must not wait again
    return code, peak, out.read_text(), err.read_text()


def run_agent(api: LyingApi, tmp_path: Path) -> tuple[int | None, int, str, str]:
    """`cpumon` recording 6 s against `api`: its exit code, peak RSS (KiB), stdout and stderr."""
    env = short_timeouts(api, tmp_path, CPUMON_DURATION="6", CPUMON_FLUSH_TIMEOUT="1")
    return run_measured([sys.executable, "-m", "cpumon"], env, tmp_path)


@pytest.mark.parametrize(
    ("lie", "said"),
    [
        ("huge", "is larger than 8 MiB"),
        ("drip", "not complete in time|no complete answer"),
        ("not-json", "not JSON"),
        ("empty-json", "unexpected body"),
    ],
)
def test_a_lying_answer_to_uploads_fails_them_and_keeps_the_samples(lie: str, said: str, tmp_path: Path) -> None:
    with lying_api({UPLOAD: lie}) as api:
        code, peak_kib, stdout, stderr = run_agent(api, tmp_path)
    assert code == 0, stdout + stderr
    assert peak_kib < PEAK_RSS_LIMIT_KIB, f"peak RSS {peak_kib / 1024:.0f} MB"
    assert re.search(rf"upload failed: .*({said})", stdout), stdout
    assert api.seen[UPLOAD] >= 2, "a failed upload is sent again"
    figures = report_rows(stdout)
    taken = count(figures["Samples taken"])
    assert taken > 0
    assert count(figures["Samples stored"]) == 0  # never counted as stored
    assert count(figures["Kept for later"]) == taken
    (kept,) = Spool(tmp_path / "spool").run_dirs()  # kept to be sent again, not set aside as refused
    assert kept.run_id == RUN_ID
    assert sum(len(kept.read_segment(path)) for path in kept.segments()) == taken


def test_a_huge_answer_to_the_login_is_an_api_away_in_bounded_memory(tmp_path: Path) -> None:
    with lying_api({"POST /api/auth/login": "huge"}) as api:
        code, peak_kib, stdout, stderr = run_agent(api, tmp_path)
    assert code == 0, stdout + stderr
    assert peak_kib < PEAK_RSS_LIMIT_KIB, f"peak RSS {peak_kib / 1024:.0f} MB"
    assert "recording anyway" in stdout
    assert api.seen["POST /api/auth/login"] >= 2
    figures = report_rows(stdout)
    assert count(figures["Samples stored"]) == 0
    assert count(figures["Kept for later"]) == count(figures["Samples taken"]) > 0


@pytest.mark.parametrize(
    "lies",
    [
        {"/api/": "404"},  # a web server without the API
        {"/api/": "501"},  # python -m http.server answers POST so
        {"/api/": "not-json"},  # a catch-all page
        {"/api/": "empty-json"},  # JSON, but no user in the login's answer
    ],
    ids=["404", "501", "not-json", "empty-json"],
)
def test_an_agent_pointed_at_something_else_says_so_in_one_line_and_exits_4(
    lies: dict[str, str], tmp_path: Path
) -> None:
    with lying_api(lies) as api:
        spooled = spool_a_run(tmp_path / "spool", api.url, 7)
        code, _, stdout, stderr = run_agent(api, tmp_path)
    assert code == 4, stdout + stderr
    assert stdout == ""
    (line,) = stderr.splitlines()
    assert line.startswith(f"cpumon: {api.url} does not look like a cpumon API"), line
    assert "check CPUMON_API_URL" in line
    assert sum(len(spooled.read_segment(path)) for path in spooled.segments()) == 7  # kept for the right API


@pytest.mark.parametrize(("lie", "said"), [("huge", "larger than 8 MiB"), ("drip", "not complete in time|within")])
def test_a_review_command_given_a_lying_answer_says_so_in_one_line_and_exits_4(
    lie: str, said: str, tmp_path: Path
) -> None:
    with lying_api({"GET /api/test-runs$": lie}) as api:
        code, peak_kib, stdout, stderr = run_measured(
            [sys.executable, "-m", "cpumon", "runs"], short_timeouts(api, tmp_path), tmp_path
        )
    assert code == 4, stdout + stderr
    assert peak_kib < PEAK_RSS_LIMIT_KIB, f"peak RSS {peak_kib / 1024:.0f} MB"
    (line,) = stderr.splitlines()
    assert re.search(said, line), line


LOCUST_CLIENT = """
import datetime as dt, sys
from pydantic import SecretStr
from cpumon.api import ApiTransientError
from cpumon.locust.client import CpumonApi, plugin_settings
settings, password = plugin_settings(None, None)
api = CpumonApi(settings, password)
at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
try:
    api.windows(None, at, at, None)
except ApiTransientError as exc:
    print(exc.message)
    sys.exit(0)
sys.exit("read the whole answer")
"""


@pytest.mark.parametrize(("lie", "said"), [("huge", "larger than 8 MiB"), ("drip", "not complete in time")])
def test_the_locust_plugins_client_reads_a_lying_answer_within_the_same_bounds(
    lie: str, said: str, tmp_path: Path
) -> None:
    with lying_api({"GET /api/test-runs$": lie}) as api:
        code, peak_kib, stdout, stderr = run_measured(
            [sys.executable, "-c", LOCUST_CLIENT], short_timeouts(api, tmp_path), tmp_path
        )
    assert code == 0, stdout + stderr
    assert said in stdout
    assert peak_kib < PEAK_RSS_LIMIT_KIB + 50 * 1024, f"peak RSS {peak_kib / 1024:.0f} MB"  # Locust itself is big
