"""The "time above threshold" rule: every implementation passes the cases of threshold_cases.json.

The SQL of the summaries (on SQLite and MariaDB, through the API), the agent's running figures
(cpumon.stats) and the dashboard's live summary (frontend/src/threshold.ts, on Node).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from cpumon.sample import Sample
from cpumon.stats import RunStats
from cpumon_backend.app import create_app
from tests.backend.conftest import PASSWORD, add_user
from tests.conftest import IN_CI, emptied_backend

HERE = Path(__file__).parent
FRONTEND = HERE.parents[1] / "frontend"
THRESHOLD_TS = str(FRONTEND / "src" / "threshold.ts")
CASES: list[dict[str, Any]] = json.loads((HERE / "threshold_cases.json").read_text())["cases"]
START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return START + dt.timedelta(microseconds=round(seconds * 1_000_000))


def expected() -> list[float]:
    return [float(case["above_s"]) for case in CASES]


def test_the_agent_follows_the_cases() -> None:
    answers = []
    for case in CASES:
        stats = RunStats(threshold=case["threshold"])
        for seq, (seconds, cpu) in enumerate(case["samples"]):
            stats.add(Sample(seq=seq, recorded_at=at(seconds), cpu_percent=float(cpu)))
        answers.append(stats.time_above_s)
    assert answers == pytest.approx(expected(), abs=1e-9)


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_the_sql_follows_the_cases(kind: str, request: pytest.FixtureRequest) -> None:
    settings = emptied_backend(request, kind).settings()
    add_user(settings, "thresholds")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        login = client.post("/api/auth/login", json={"username": "thresholds", "password": PASSWORD})
        assert login.status_code == 200, login.text
        answers = [_summarised(client, case) for case in CASES]
    assert answers == pytest.approx(expected(), abs=1e-6)


def _summarised(client: TestClient[Any], case: dict[str, Any]) -> float:
    run = client.post("/api/test-runs", json={"name": case["name"], "threshold_percent": case["threshold"]})
    assert run.status_code == 201, run.text
    path = f"/api/test-runs/{run.json()['id']}"
    body = [
        {"seq": seq, "recorded_at": at(seconds).isoformat(), "cpu_percent": cpu}
        for seq, (seconds, cpu) in enumerate(case["samples"])
    ]
    assert client.post(f"{path}/cpu-usage", json=body).status_code == 201
    return float(client.get(path).json()["summary"]["time_above_threshold_s"])


def test_the_dashboard_follows_the_cases(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if IN_CI:
            pytest.fail("CI is set but node/npm are missing", pytrace=False)
        pytest.skip("node and npm are not installed")
    tsc = FRONTEND / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], FRONTEND, timeout=600)
    source = FRONTEND / "src" / "threshold.ts"
    _run(
        [str(tsc), "--ignoreConfig", "--outDir", str(tmp_path), "--module", "es2022", "--target", "es2022", str(source)]
    )
    runner = HERE / "threshold_cases.mjs"
    answer = _run(["node", str(runner), str(tmp_path / "threshold.js"), str(HERE / "threshold_cases.json")])
    assert json.loads(answer) == pytest.approx(expected(), abs=1e-9)


def _run(command: list[str], cwd: Path = HERE, timeout: float = 120) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"
    return done.stdout
