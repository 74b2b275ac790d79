"""Server settings, read from `CPUMON_*` environment variables (and an optional `.env`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    """An SQLite file in the user's data dir: the zero-setup default."""
    data_dir = Path(platformdirs.user_data_dir("cpumon", appauthor=False))
    return f"sqlite+aiosqlite:///{data_dir / 'cpumon.db'}"


#: The async driver cpumon runs each database with. asyncmy decodes rows in compiled code: reading 100k
#: samples costs it ~0.13 s of CPU against aiomysql's ~1.8 s (measured, README "Performance").
DRIVERS = {"sqlite": "sqlite+aiosqlite", "mysql": "mysql+asyncmy", "mariadb": "mysql+asyncmy"}


def with_cpumon_driver(url: str) -> str:
    """`url` with the driver cpumon ships for its database (`mysql://…`, `mysql+aiomysql://…` → `mysql+asyncmy://…`).

    Users write the database, not the driver; older settings that named aiomysql keep working.
    An unknown scheme is left alone, for SQLAlchemy to refuse with its own message.
    """
    scheme, separator, rest = url.partition("://")
    database = scheme.split("+", 1)[0].lower()
    if not separator or database not in DRIVERS:
        return url
    return f"{DRIVERS[database]}://{rest}"


def _gate_per_user(default: int, what: str) -> Any:
    """A long answer's per-user limit (cpumon_backend/http/gate.py): 429 + Retry-After beyond."""
    return Field(default=default, ge=1, description=f"{what} at once per worker (429 + Retry-After beyond)")


def _gate_total(default: int, what: str, *, busy: str) -> Any:
    """A long answer's per-worker limit, all users: `busy` (the status) + Retry-After beyond."""
    return Field(
        default=default, ge=1, description=f"{what} at once per worker, all users ({busy} + Retry-After beyond)"
    )


def _gate_send_timeout(what: str) -> Any:
    """How long a long answer's client may read nothing before it is cut off."""
    return Field(default=30.0, gt=0, description=f"seconds {what} may accept no data before it is cut off")


class ServerSettings(BaseSettings):
    """Everything the API server can be told. Secrets are `SecretStr` so they never reach a log or repr."""

    model_config = SettingsConfigDict(env_prefix="CPUMON_", extra="ignore", frozen=True)

    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(default_database_url()),
        description="database URL: sqlite:///path or mysql://user:pw@host/db (MariaDB too; driver chosen by cpumon)",
    )
    database_pool_size: int = Field(default=10, ge=1, description="connections kept per worker (MySQL)")
    database_pool_timeout: float = Field(
        default=5.0, gt=0, description="seconds to wait for a connection before answering 503"
    )
    database_connect_timeout: int = Field(
        default=5, ge=1, description="seconds to connect to MySQL before answering 503"
    )
    request_timeout: float = Field(
        default=30.0, gt=0, description="seconds a request may take to start its answer before it answers 503"
    )
    export_max_concurrent: int = _gate_total(8, "CSV exports running", busy="503")
    export_max_per_user: int = _gate_per_user(2, "CSV exports one user may run")
    export_send_timeout: float = _gate_send_timeout("a CSV download")
    live_max_per_user: int = _gate_per_user(20, "live streams one user may have open")
    live_max_streams: int = _gate_total(500, "live streams open", busy="429")
    live_send_timeout: float = _gate_send_timeout("a live stream")
    live_session_check_interval: float = Field(
        default=0.5, gt=0, le=1.0, description="seconds between checks that each live stream's session still holds"
    )
    timestamp_max_ahead: float = Field(
        default=86_400.0,
        gt=0,
        description="seconds a recorded_at (sample) or started_at (run) may be ahead of the server clock (400 beyond)",
    )
    session_redis_url: SecretStr | None = Field(
        default=None, description="Redis URL for sessions and login throttling; unset: the database"
    )
    session_redis_pool_size: int = Field(
        default=50, ge=1, description="Redis connections per worker; a request beyond them waits for a free one"
    )
    session_redis_pool_timeout: float = Field(
        default=5.0, gt=0, description="seconds a request waits for a free Redis connection before it answers 503"
    )
    session_redis_prefix: str = Field(
        default="cpumon", pattern=r"^[A-Za-z0-9_\-:]{1,64}$", description="prefix of cpumon's Redis keys"
    )
    session_cookie_name: str = Field(
        default="cpumon_session", pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="name of the session cookie"
    )
    session_cookie_secure: bool = Field(default=False, description="set the Secure flag (serve over HTTPS)")
    session_lifetime: int = Field(default=8 * 3600, ge=1, description="seconds a login lasts")
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="bcrypt cost of new password hashes")
    password_min_length: int = Field(
        default=10, ge=1, le=72, description="fewest characters `create-user` accepts in a password"
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins per username in a window before it answers 429"
    )
    login_address_max_failures: int = Field(
        default=50, ge=1, description="failed logins per client address in a window before it answers 429"
    )
    login_window: int = Field(default=300, ge=1, description="seconds over which failures are counted")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="request body size limit (413 above it)")
    http_max_head_bytes: int = Field(
        default=65536, ge=4096, description="request line + headers size limit (431 above it)"
    )
    http_head_timeout: float = Field(
        default=10.0, gt=0, description="seconds a client has to send its request line and headers (408 after)"
    )
    host: str = Field(default="127.0.0.1", description="bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="bind port")
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="proxies (comma-separated addresses) whose X-Forwarded-For names the client; unset: none",
    )
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="uvicorn's log level")
    debug: bool = Field(
        default=False, description="Litestar debug mode: tracebacks in error answers (never in production)"
    )

    @field_validator("database_url", "session_redis_url", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url", mode="after")
    @classmethod
    def _driver(cls, value: SecretStr) -> SecretStr:
        return SecretStr(with_cpumon_driver(value.get_secret_value()))

    @cached_property
    def database_dialect(self) -> str:
        """`sqlite` or `mysql`, from the URL's scheme."""
        scheme = self.database_url.get_secret_value().split(":", 1)[0]
        return scheme.split("+", 1)[0]

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for MySQL / in-memory databases."""
        url = self.database_url.get_secret_value()
        if self.database_dialect != "sqlite" or ":memory:" in url:
            return None
        return Path(url.split(":///", 1)[1])
