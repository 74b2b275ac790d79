"""The agent's settings: one typed model, four sources.

Precedence, highest first: command-line flags, `CPUMON_*` environment variables, a TOML
file (`--config PATH`, else `config.toml` in the user's config dir), the defaults below.
pydantic-settings does the env part and the validation; the TOML file is read here so
that an unknown key or an unreadable file is reported in one line naming the file.
"""

from __future__ import annotations

import contextvars
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cpumon.errors import SettingsError
from cpumon.threshold import ThresholdOn
from cpumon.wire import HOSTNAME_MAX, MAX_BATCH, NAME_MAX

APP_NAME = "cpumon"
ENV_PREFIX = "CPUMON_"
CONFIG_ENV_VAR = "CPUMON_CONFIG"
# The kernel counts CPU time in 10 ms ticks: below 50 ms a reading is mostly rounding, and alerts flap.
MIN_INTERVAL = 0.05


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def default_spool_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "spool"


# The TOML values of the settings being loaded. A context variable rather than a class
# attribute so that loading settings never leaves global state behind (tests load many).
_toml_values: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar("_toml_values", default=None)


class AgentSettings(BaseSettings):
    """Everything `cpumon` can be told. The password is a SecretStr: it never reaches a repr or a log."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # CPUMON_* also names the server's settings (CPUMON_DATABASE_URL ...): ignore what is not ours.
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    api_url: str = Field(default="http://127.0.0.1:8000", description="base URL of the cpumon API")
    username: str | None = Field(default=None, description="user to log in as")
    password: SecretStr | None = Field(
        default=None, description="password (env or config file only; prompted for on a terminal)"
    )
    run_name: str | None = Field(
        default=None, max_length=NAME_MAX, description="name of the new run (default: host and start time)"
    )
    hostname: str | None = Field(
        default=None, max_length=HOSTNAME_MAX, description="host name of the new run (default: the machine's)"
    )
    interval: float = Field(
        default=1.0, ge=MIN_INTERVAL, le=86_400, description=f"seconds between samples (at least {MIN_INTERVAL:g})"
    )
    print_interval: float = Field(default=5.0, gt=0, description="seconds between usage lines")
    threshold: float = Field(default=80.0, ge=0, le=100, description="CPU percent above which to warn")
    threshold_on: ThresholdOn = Field(
        default=ThresholdOn.TOTAL, description="what the threshold watches: `total` (all cores) or `core` (the busiest)"
    )
    alert_hysteresis: float = Field(
        default=5.0, ge=0, le=100, description="points below the threshold usage must fall to end an alert"
    )
    max_above: float | None = Field(
        default=None, ge=0, description="exit with code 5 when the time above the threshold exceeds this (seconds)"
    )
    duration: float | None = Field(default=None, gt=0, description="stop by itself after this many seconds")
    report_json: Path | None = Field(default=None, description="also write the report as JSON to this file")
    batch_size: int = Field(default=500, ge=1, le=MAX_BATCH, description="most samples per upload request")
    flush_interval: float = Field(default=5.0, gt=0, description="seconds between uploads")
    queue_size: int = Field(
        default=3600, ge=1, description="samples kept in memory while the API is away; the rest spill to disk"
    )
    flush_timeout: float = Field(default=10.0, ge=0, description="seconds to wait at exit for the last uploads")
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds to wait for a connection to the API")
    request_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for an API answer")
    retry_max_delay: float = Field(default=30.0, gt=0, description="longest wait between upload retries")
    spool_dir: Path = Field(default_factory=default_spool_dir, description="where unsent samples are kept on disk")
    require_api: bool = Field(
        default=False,
        description="exit (code 4) when the API does not answer at start, instead of recording until it does",
    )

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("username", "run_name", "hostname")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @field_validator("password", mode="before")
    @classmethod
    def _empty_password_is_unset(cls, value: object) -> object:
        # CPUMON_PASSWORD="" means "not set" (ask, or say so), not a password to send.
        if isinstance(value, str) and not value:
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value():
            return None
        return value

    @field_validator("spool_dir", "report_json")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs are the command-line flags; no .env file: the agent runs from any directory.
        toml_settings = InitSettingsSource(settings_cls, init_kwargs=dict(_toml_values.get() or {}))
        return init_settings, env_settings, toml_settings


def env_var(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def setting_fields() -> dict[str, FieldInfo]:
    return dict(AgentSettings.model_fields)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file; SettingsError for an unreadable file or an unknown key."""
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    _check_config_permissions(path, holds_password="password" in values)
    known = setting_fields()
    for key in values:
        if key not in known:
            raise SettingsError(f"unknown setting {key!r} in config file {path} (known: {', '.join(sorted(known))})")
    return values


def _check_config_permissions(path: Path, *, holds_password: bool) -> None:
    """Refuse a config file others could change (pointing api_url at their server to collect the
    password), or read when it holds the password: one line, exit 2, as ssh does."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        raise SettingsError(
            f"config file {path} can be changed by other users (mode {mode:04o}): run `chmod go-w {path}`"
        )
    if holds_password and mode & 0o077:
        raise SettingsError(
            f"config file {path} holds a password and other users can read it (mode {mode:04o}): run `chmod 600 {path}`"
        )


def resolve_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: --config, else $CPUMON_CONFIG, else the default one if it exists.

    A file that was asked for must exist; the default one is optional.
    """
    requested = explicit or (Path(environ[CONFIG_ENV_VAR]) if environ.get(CONFIG_ENV_VAR) else None)
    if requested is not None:
        requested = requested.expanduser()
        if not requested.is_file():
            raise SettingsError(f"config file {requested} not found")
        return requested
    default = default_config_file()
    return default if default.is_file() else None


def load_settings(
    flags: Mapping[str, Any],
    *,
    config_file: Path | None = None,
    config_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentSettings:
    """Validate flags > env > TOML > defaults into AgentSettings, or raise SettingsError with one line.

    `config_values` (already-read TOML) wins over `config_file`; it lets tests stay off the disk.
    `environ` only serves to say where a bad value came from: pydantic-settings reads os.environ.
    """
    environ = os.environ if environ is None else environ
    if config_values is None:
        config_values = read_config_file(config_file) if config_file is not None else {}
    token = _toml_values.set(config_values)
    try:
        return AgentSettings(**flags)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = str(error["loc"][0]) if error["loc"] else "?"
        where = _value_source(field_name, flags, environ, config_values, config_file)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid {field_name} {where}: {message}") from None
    finally:
        _toml_values.reset(token)


def _value_source(
    field_name: str,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config_values: Mapping[str, Any],
    config_file: Path | None,
) -> str:
    if field_name in flags:
        return f"(from {flag(field_name)})"
    name = env_var(field_name)
    if any(key.upper() == name for key in environ):
        return f"(from {name})"
    if field_name in config_values:
        return f"(from {config_file or 'the config file'})"
    return "(default)"
