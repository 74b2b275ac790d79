"""The --cpumon-* options set as Locust's own options are: by environment variable and by Locust's config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.locust.conftest import USERNAME, Recording, bare_locust_command, locust_env, run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def decoy_run(recording: Recording) -> str:
    """Another host with a run active during the test: shown only if --cpumon-hosts is not applied."""
    hostname = f"decoy-{recording.hostname}"
    response = recording.reader.http.post("/api/test-runs", json={"hostname": hostname})
    response.raise_for_status()
    return hostname


@pytest.mark.parametrize("source", ["env", "config-file"])
def test_every_option_from_the_environment_or_locust_conf(
    recording: Recording, target: str, tmp_path: Path, source: str
) -> None:
    decoy = decoy_run(recording)
    # Threshold 0 and max-above 0: any CPU at all trips the gate, which the run's own 80 % would not.
    options = {
        "cpumon-url": recording.server.url,
        "cpumon-username": USERNAME,
        "cpumon-hosts": recording.hostname,
        "cpumon-threshold": "0",
        "cpumon-max-above": "0",
    }
    if source == "env":
        env = locust_env(tmp_path, **{f"LOCUST_{key.upper().replace('-', '_')}": v for key, v in options.items()})
    else:  # Locust reads ./locust.conf by default
        env = locust_env(tmp_path)
        (tmp_path / "locust.conf").write_text("".join(f"{key} = {v}\n" for key, v in options.items()))
    run = run_locust(bare_locust_command(target, "--headless", "--run-time", "2s"), env, tmp_path)

    assert run.returncode == 5, run.output  # the gate: max-above 0 s at threshold 0 %
    assert "more than --cpumon-max-above 0 s" in run.output
    (line,) = [line for line in run.output.splitlines() if line.startswith(recording.hostname)]
    assert line.split()[6] == "0.0"  # the threshold column
    assert decoy not in run.output
