"""The command line: help, one-line errors and exit codes (nothing here reaches a network)."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cpumon.cli import build_parser, main
from cpumon.review.client import Run
from cpumon.review.delete import _confirmed
from cpumon.settings import AgentSettings, env_var, flag, setting_fields
from cpumon.theme import make_console


def test_help_names_every_setting_with_its_env_var(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's wrapping
    for name in setting_fields():
        assert env_var(name) in text
        if name != "password":
            assert flag(name) in text


def test_there_is_no_password_flag() -> None:
    assert "--password" not in build_parser().format_help()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [["--interval", "0"], ["--threshold", "101"], ["--bogus"], ["--config", "/nonexistent/cpumon.toml"]],
)
def test_bad_settings_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("cpumon: ")


def test_unknown_key_in_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("colour = 'red'\n")
    code, _, err = run(["--config", str(config)], capsys)
    assert code == 2
    assert "unknown setting 'colour'" in err


def test_missing_credentials_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run([], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "no username" in err
    code, _, err = run(["--username", "ada"], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "no password: set CPUMON_PASSWORD" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("cpumon ")


class EchoCommand:
    """A stand-in for the review commands (`cpumon runs` ...), which plug in the same way."""

    name = "echo"
    help = "print the threshold and --times"

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--times", type=int, default=1)

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        self.calls.append((settings.threshold, args.times))
        return 7


def test_subcommands_share_the_settings_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    command = EchoCommand()
    monkeypatch.setattr("cpumon.cli.subcommands", lambda: [command])
    monkeypatch.setenv("CPUMON_THRESHOLD", "40")
    assert main(["echo", "--times", "3"]) == 7
    assert main(["echo", "--threshold", "50"]) == 7
    assert main(["--threshold", "60", "echo"]) == 7
    assert command.calls == [(40.0, 3), (50.0, 1), (60.0, 1)]
    assert "echo" in build_parser().format_help()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["--username", "ada"]) == 2  # plain `cpumon` still monitors (here: no password)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        (0o644, "holds a password and other users can read it (mode 0644): run `chmod 600"),
        (0o640, "holds a password and other users can read it (mode 0640)"),
        (0o666, "can be changed by other users (mode 0666)"),
    ],
)
def test_a_config_file_with_a_password_others_can_read_or_write_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, says: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('username = "ada"\npassword = "secret-pw"\napi_url = "http://127.0.0.1:9"\n')
    config.chmod(mode)
    assert main(["--config", str(config), "runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert says in err
    assert "secret-pw" not in err


def test_a_world_writable_config_is_refused_even_without_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('api_url = "http://127.0.0.1:9"\n')
    config.chmod(0o646)
    assert main(["--config", str(config), "runs"]) == 2
    assert "can be changed by other users" in capsys.readouterr().err
    config.chmod(0o644)  # readable is fine when no password is in it
    assert main(["--config", str(config), "--interval", "0"]) == 2
    assert "invalid interval" in capsys.readouterr().err


def test_the_commands_and_the_cli_do_not_import_each_other() -> None:
    code = "import sys, cpumon.review; print('cpumon.cli' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(("answer", "deleted"), [("y", True), ("yes", True), ("", False), ("n", False)])
def test_delete_asks_and_only_yes_deletes(monkeypatch: pytest.MonkeyPatch, answer: str, deleted: bool) -> None:
    asked: list[str] = []

    def typed(prompt: str = "") -> str:
        asked.append(prompt)
        return answer

    monkeypatch.setattr("builtins.input", typed)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    run = Run("r1", "nightly", "host", 1.0, 80.0, started_at=at, ended_at=None, created_at=at, updated_at=at)
    out = io.StringIO()
    assert _confirmed(run, make_console(file=out, force_terminal=False)) is deleted
    assert "delete run nightly (r1)" in out.getvalue() + "".join(asked)
