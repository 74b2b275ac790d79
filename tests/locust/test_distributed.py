"""Distributed Locust (a master and a worker, real processes): cpumon is watched from the master only."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from tests.locust.conftest import (
    LOCUST_DEADLINE_S,
    USERNAME,
    CountingProxy,
    Recording,
    bare_locust_command,
    free_port,
    locust_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def start(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def finish(process: subprocess.Popen[bytes], log: Path) -> tuple[int, str]:
    try:
        process.wait(timeout=LOCUST_DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return process.returncode, log.read_text(errors="replace")


def test_only_the_master_contacts_cpumon_and_reports(
    recording: Recording, counting_proxy: CountingProxy, target: str, tmp_path: Path
) -> None:
    # Master and worker get the same --cpumon-* options, as one config would give them.
    cpumon = ["--cpumon-url", counting_proxy.url, "--cpumon-username", USERNAME, "--cpumon-hosts", recording.hostname]
    port = free_port()
    master_dir, worker_dir = tmp_path / "master", tmp_path / "worker"
    master_dir.mkdir()
    worker_dir.mkdir()
    env = locust_env(tmp_path)
    bind = ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    run = ["--headless", "--expect-workers", "1", "--run-time", "3s", "--csv", "result"]
    master = start(bare_locust_command(target, *cpumon, "--master", *bind, *run), env, master_dir, tmp_path / "m.log")
    worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    worker = start(bare_locust_command(target, *cpumon, *worker_args), env, worker_dir, tmp_path / "w.log")
    master_code, master_output = finish(master, tmp_path / "m.log")
    worker_code, worker_output = finish(worker, tmp_path / "w.log")

    assert master_code == 0, master_output
    assert worker_code == 0, worker_output
    # The load came from the worker: the master itself runs no users.
    with (master_dir / "result_stats.csv").open(encoding="utf-8") as handle:
        (aggregated,) = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    assert int(aggregated["Request Count"]) > 0, master_output

    # One process logged in to cpumon (the master) and polled it; the worker never did.
    assert counting_proxy.logins() == 1, counting_proxy.requests
    assert ("GET", "/api/test-runs") in counting_proxy.requests
    assert "cpumon" not in worker_output, worker_output
    assert list(worker_dir.iterdir()) == []

    # The table follows the master's summary, and the CSV sits beside the master's.
    assert master_output.index("System under test (cpumon)") > master_output.index("Response time percentiles")
    assert master_output.count("System under test (cpumon)") == 1
    (line,) = [line for line in master_output.splitlines() if line.startswith(recording.hostname)]
    with (master_dir / "result_cpumon.csv").open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["host"] == recording.hostname
    assert int(row["samples"]) >= 1
    assert line.split()[2] == row["samples"]
