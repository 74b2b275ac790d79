"""The database URL a user writes names the database; cpumon picks the driver it ships."""

from __future__ import annotations

import pytest

from cpumon_backend.settings import ServerSettings, with_cpumon_driver


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("mysql://u:p@db/cpumon", "mysql+asyncmy://u:p@db/cpumon"),
        ("mysql+aiomysql://u:p@db:3306/cpumon", "mysql+asyncmy://u:p@db:3306/cpumon"),
        ("MySQL+PyMySQL://u@db/x", "mysql+asyncmy://u@db/x"),
        ("mariadb://u@db/x?charset=utf8mb4", "mysql+asyncmy://u@db/x?charset=utf8mb4"),
        ("mysql+asyncmy://u@db/x", "mysql+asyncmy://u@db/x"),
        ("sqlite:////var/lib/cpumon.db", "sqlite+aiosqlite:////var/lib/cpumon.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_the_url_gets_cpumons_driver(written: str, used: str) -> None:
    assert with_cpumon_driver(written) == used
    settings = ServerSettings(database_url=written)
    assert settings.database_url.get_secret_value() == used


@pytest.mark.parametrize("url", ["postgresql://u@db/x", "not a url", "mysql:/no-slashes"])
def test_other_urls_are_left_for_sqlalchemy_to_refuse(url: str) -> None:
    assert with_cpumon_driver(url) == url


def test_the_password_in_the_url_stays_secret() -> None:
    settings = ServerSettings(database_url="mysql://u:hunter2@db/x")
    assert "hunter2" not in repr(settings)
    assert settings.database_dialect == "mysql"
