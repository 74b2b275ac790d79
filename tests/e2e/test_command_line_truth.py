"""What the command line says is true: an API that is away is said before a missing password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import free_port

from .conftest import agent_env, spool_a_run
from .test_login_once import cpumon

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", [["--require-api"], ["runs"], ["sync"]])
def test_an_api_that_is_down_is_exit_4_even_without_a_saved_login_or_password(
    command: list[str], tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = agent_env(down, tmp_path / "spool")
    del env["CPUMON_PASSWORD"]  # and none saved: the password would be the first thing missing
    if command == ["sync"]:  # nothing to do with an empty spool: a run to deliver
        spool_a_run(tmp_path / "spool", down, 3)
    result = cpumon(env, *command)
    assert result.returncode == 4, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert down in line
    assert "password" not in line
