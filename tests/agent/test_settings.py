"""Settings: each pair of sources in precedence order, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpumon.errors import SettingsError
from cpumon.settings import (
    AgentSettings,
    default_spool_dir,
    load_settings,
    read_config_file,
    resolve_config_file,
)


def load(
    monkeypatch: pytest.MonkeyPatch,
    *,
    flag: object = None,
    env: str | None = None,
    toml: object = None,
) -> AgentSettings:
    """Settings with `interval` given by any of the sources (None: not given)."""
    if env is not None:
        monkeypatch.setenv("CPUMON_INTERVAL", env)
    return load_settings(
        {} if flag is None else {"interval": flag},
        config_values={} if toml is None else {"interval": toml},
    )


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.api_url == "http://127.0.0.1:8000"
    assert settings.interval == 1.0
    assert settings.print_interval == 5.0
    assert settings.threshold == 80.0
    assert settings.username is None
    assert settings.password is None
    assert settings.spool_dir == default_spool_dir()


def test_flag_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, flag="2", env="3").interval == 2.0


def test_flag_beats_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, flag="2", toml=4).interval == 2.0


def test_flag_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, flag="2").interval == 2.0


def test_env_beats_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, env="3", toml=4).interval == 3.0


def test_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, env="3").interval == 3.0


def test_toml_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, toml=4).interval == 4.0


def test_all_four_sources_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_THRESHOLD", "70")
    monkeypatch.setenv("CPUMON_PRINT_INTERVAL", "9")
    settings = load_settings(
        {"threshold": "60"},
        config_values={"threshold": 50, "print_interval": 8, "batch_size": 7},
    )
    assert settings.threshold == 60.0  # flag
    assert settings.print_interval == 9.0  # env
    assert settings.batch_size == 7  # toml
    assert settings.flush_interval == 5.0  # default


def test_the_server_settings_in_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    monkeypatch.setenv("CPUMON_PORT", "9000")
    assert load_settings({}).interval == 1.0


def test_password_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_PASSWORD", "hunter2")
    settings = load_settings({})
    assert settings.password is not None
    assert settings.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_empty_password_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_PASSWORD", "")
    assert load_settings({}).password is None
    monkeypatch.setenv("CPUMON_PASSWORD", "x")
    assert load_settings({}).password is not None


def test_api_url_trailing_slash_is_dropped() -> None:
    assert load_settings({"api_url": "http://example.test:8000/"}).api_url == "http://example.test:8000"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"interval": "0"}, "invalid interval (from --interval): Input should be greater than or equal to 0.05"),
        ({"interval": "-1"}, "invalid interval (from --interval)"),
        ({"interval": "soon"}, "invalid interval (from --interval): Input should be a valid number"),
        ({"threshold": "101"}, "invalid threshold (from --threshold)"),
        ({"threshold": "-5"}, "invalid threshold (from --threshold)"),
        ({"batch_size": "20000"}, "invalid batch_size (from --batch-size)"),
        ({"api_url": "localhost:8000"}, "invalid api_url (from --api-url): must be an http:// or https:// URL"),
    ],
)
def test_bad_flag_values_are_one_line_naming_the_flag(flags: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags)
    assert caught.value.message.startswith(message)
    assert "\n" not in caught.value.message
    assert caught.value.exit_code == 2


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_THRESHOLD", "150")
    with pytest.raises(SettingsError, match=r"invalid threshold \(from CPUMON_THRESHOLD\)"):
        load_settings({})


def test_bad_toml_value_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("interval = 0\n")
    with pytest.raises(SettingsError, match=rf"invalid interval \(from {config}\)"):
        load_settings({}, config_file=config)


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('intervall = 1\napi_url = "http://x.test"\n')
    with pytest.raises(SettingsError, match=r"unknown setting 'intervall' in config file"):
        read_config_file(config)


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("interval = = 1\n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        read_config_file(config)


def test_unreadable_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read config file"):
        read_config_file(tmp_path)  # a directory


def test_toml_file_values_load(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'api_url = "https://cpumon.example.test"\nusername = "ada"\npassword = "pw"\n'
        'interval = 0.5\nthreshold = 90\nspool_dir = "~/spool"\n'
    )
    config.chmod(0o600)  # it holds a password
    settings = load_settings({}, config_file=config)
    assert settings.api_url == "https://cpumon.example.test"
    assert settings.username == "ada"
    assert settings.interval == 0.5
    assert settings.threshold == 90.0
    assert settings.spool_dir == Path("~/spool").expanduser()


def test_config_file_resolution(tmp_path: Path) -> None:
    explicit = tmp_path / "mine.toml"
    explicit.write_text("")
    from_env = tmp_path / "env.toml"
    from_env.write_text("")
    assert resolve_config_file(explicit, {"CPUMON_CONFIG": str(from_env)}) == explicit
    assert resolve_config_file(None, {"CPUMON_CONFIG": str(from_env)}) == from_env
    assert resolve_config_file(None, {}) is None  # no default file in the isolated config dir
    default = tmp_path / "config" / "cpumon" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("")
    assert resolve_config_file(None, {}) == default
    with pytest.raises(SettingsError, match="not found"):
        resolve_config_file(tmp_path / "missing.toml", {})
