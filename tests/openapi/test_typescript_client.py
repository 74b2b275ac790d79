"""openapi-typescript + openapi-fetch, on Node, from the served document: no warning, and the whole workflow.

tests/openapi/ts is a small npm project (package.json and package-lock.json are committed; `npm ci`
runs once per lock file, its node_modules stays in that folder). The types are generated from the
document the real server serves; tsc type-checks workflow.ts against them (strict), and node runs it
against the same server. Redocly lints the same document with its recommended rules: no error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.reliability.conftest import PASSWORD, USERNAME, Server

from . import workflow as wf

# Generous: npm ci, the generator and tsc each take seconds, tens of them on two busy cores.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("openapi-ts"), pytest.mark.timeout(600)]

PROJECT = Path(__file__).parent / "ts"
BIN = PROJECT / "node_modules" / ".bin"
STAMP = PROJECT / "node_modules" / ".cpumon-lock-sha256"


def run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def node_project() -> Path:
    """The npm project with its locked packages installed: `npm ci` only when the lock file changed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if IN_CI:
            pytest.fail("CI is set but node/npm are missing", pytrace=False)
        pytest.skip("node and npm are not installed")
    lock = hashlib.sha256((PROJECT / "package-lock.json").read_bytes()).hexdigest()
    with (PROJECT / ".npm-ci.lock").open("w") as guard:  # one install at a time across test processes
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not STAMP.exists() or STAMP.read_text() != lock:
            run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=600)
            STAMP.write_text(lock)
    return PROJECT


@pytest.fixture(scope="module")
def compiled_workflow(node_project: Path, served_document: Path) -> Path:
    generated = node_project / "generated" / "cpumon.d.ts"
    result = run(str(BIN / "openapi-typescript"), str(served_document), "--output", str(generated))
    assert "warn" not in (result.stdout + result.stderr).lower(), result.stderr
    assert "export interface paths" in generated.read_text()
    run(str(BIN / "tsc"), "--project", "tsconfig.json")
    return node_project / "build" / "workflow.js"


def test_the_generated_typescript_client_runs_the_whole_workflow(compiled_workflow: Path, api_server: Server) -> None:
    result = run("node", str(compiled_workflow), api_server.url, USERNAME, PASSWORD)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["pages"] == wf.PAGES
    assert summary["samples"] == wf.SAMPLES
    assert 1 < summary["buckets"] <= wf.SERIES_POINTS
    assert summary["events"] == wf.EVENTS_IN_ORDER
    assert "log" in summary["after_logout"]


def test_redocly_recommended_rules_find_no_error(node_project: Path, served_document: Path) -> None:
    result = run(str(BIN / "redocly"), "lint", str(served_document), "--extends=recommended", "--format=json")
    report = json.loads(result.stdout)
    errors = [problem for problem in report["problems"] if problem["severity"] == "error"]
    assert report["totals"]["errors"] == 0, errors
    # The only warnings allowed: /health and /ready have no 4xx answer, because they have none.
    warned = {(problem["ruleId"], problem["location"][0]["pointer"]) for problem in report["problems"]}
    assert warned <= {
        ("operation-4xx-response", "#/paths/~1health/get/responses"),
        ("operation-4xx-response", "#/paths/~1ready/get/responses"),
    }, warned
