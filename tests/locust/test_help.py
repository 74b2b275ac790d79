"""`locust --help` lists the plugin's options although Locust prints its help before it imports the locustfile:
the installed .pth file (cpumon/locust/cpumon_locust_help.pth) imports the plugin first, in that process only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cpumon.locust_options import add_options
from tests.locust.conftest import LOCUSTFILE

BIN = Path(sys.executable).parent


class OptionRecorder:
    """Stands in for Locust's parser (importing Locust here would monkey-patch the test process)."""

    def __init__(self) -> None:
        self.options: list[str] = []

    def add_argument_group(self, *_: Any) -> OptionRecorder:
        return self

    def add_argument(self, *names: str, **_: Any) -> None:
        self.options += [name for name in names if name.startswith("--")]


def plugin_options() -> list[str]:
    """Every option the plugin adds, read from the plugin itself."""
    parser = OptionRecorder()
    add_options(parser)
    assert parser.options, "the plugin adds no option"
    return parser.options


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(BIN / "locust"), "-f", LOCUSTFILE.name, "--help"], id="locust -f --help"),
        pytest.param([sys.executable, "-m", "locust", "-f", LOCUSTFILE.name, "-h"], id="python -m locust -h"),
    ],
)
def test_help_lists_every_cpumon_option(command: list[str]) -> None:
    result = subprocess.run(command, cwd=LOCUSTFILE.parent, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    missing = [option for option in plugin_options() if option not in result.stdout]
    assert not missing, f"locust --help does not list {missing}"
    assert "CPU of the system under test" in result.stdout  # the group's title, once
    assert result.stdout.count("--cpumon-url") == 1


def test_other_programs_asked_for_help_import_neither_locust_nor_cpumon() -> None:
    """The hook runs in every Python of the environment: it must cost nothing outside `locust --help`."""
    check = "import sys; print('locust' in sys.modules, 'cpumon' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", check, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]
