"""Log in once: the review commands and the monitor reuse a saved session; `cpumon logout` ends it."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import clean_environ, run_cpumon

from .conftest import PASSWORD, USERNAME, ServerProcess

# Several cpumon processes and server starts each: on two busy cores that outlasts the default 120 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def cpumon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cpumon(env, *args, timeout=240)


def session_files(state: Path) -> list[Path]:
    return sorted((state / "cpumon" / "sessions").glob("*.json"))


def test_one_login_serves_later_commands_until_logout(cpumon_server: ServerProcess, tmp_path: Path) -> None:
    state = tmp_path / "state"
    base = {
        "CPUMON_API_URL": cpumon_server.url,
        "CPUMON_USERNAME": USERNAME,
        "XDG_STATE_HOME": str(state),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "CPUMON_SPOOL_DIR": str(tmp_path / "spool"),
    }
    with_password = clean_environ(**base, CPUMON_PASSWORD=PASSWORD)
    without = clean_environ(**base)

    first = cpumon(with_password, "runs")
    assert first.returncode == 0, first.stderr
    (saved,) = session_files(state)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    cookie = json.loads(saved.read_text())["cookies"]

    # No password anywhere: the saved session is enough, for the review commands and the monitor.
    assert cpumon(without, "runs").returncode == 0
    monitor = cpumon(without, "--duration", "1", "--interval", "0.1", "--run-name", "no password")
    assert monitor.returncode == 0, monitor.stderr
    listed = cpumon(without, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [run["name"] for run in json.loads(listed.stdout)] == ["no password"]
    shown = cpumon(without, "show", "latest")
    assert shown.returncode == 0, shown.stderr

    out = cpumon(without, "logout")
    assert out.returncode == 0, out.stderr
    assert "logged out" in out.stdout
    assert session_files(state) == []
    # Ended on the server too: the old cookie is refused.
    assert httpx.get(f"{cpumon_server.url}/api/auth/me", cookies=cookie, timeout=10).status_code == 401

    again = cpumon(without, "runs")
    assert again.returncode == 2
    assert "no password" in again.stderr
    assert cpumon(without, "logout").stdout.startswith("no saved session")


def test_a_refused_session_logs_in_again_without_a_word(cpumon_server: ServerProcess, tmp_path: Path) -> None:
    env = clean_environ(
        CPUMON_API_URL=cpumon_server.url,
        CPUMON_USERNAME=USERNAME,
        CPUMON_PASSWORD=PASSWORD,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    assert cpumon(env, "runs").returncode == 0
    (saved,) = session_files(tmp_path / "state")
    body = json.loads(saved.read_text())
    body["cookies"] = dict.fromkeys(body["cookies"], "not-a-session")  # as if the server forgot it
    saved.write_text(json.dumps(body))

    result = cpumon(env, "runs")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["no runs yet: start one with `cpumon`"]  # the note, nothing about logins
    assert "not-a-session" not in saved.read_text()  # the new session replaced it


def test_a_wrong_password_names_where_it_came_from(cpumon_server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'username = "{USERNAME}"\npassword = "wrong-password"\n')
    config.chmod(0o600)
    env = clean_environ(
        CPUMON_API_URL=cpumon_server.url, XDG_STATE_HOME=str(tmp_path / "state"), CPUMON_CONFIG=str(config)
    )
    result = cpumon(env, "runs")
    assert result.returncode == 3
    assert "the config file" in result.stderr
    assert "CPUMON_PASSWORD" not in result.stderr
    assert "wrong-password" not in result.stderr
