"""No warnings of our own making: the app builds silently, and a new warning from cpumon fails the tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from litestar import Litestar, get
from litestar.exceptions import LitestarDeprecationWarning

from cpumon_backend.app import create_app
from cpumon_backend.settings import ServerSettings


def test_the_app_builds_without_a_warning(tmp_path: Path) -> None:
    settings = ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app(settings)
        assert app.openapi_schema.paths
    # Deprecations only: a ResourceWarning of an earlier test's object collected meanwhile is not the app's.
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


@pytest.mark.parametrize("module", ["cpumon.monitor", "cpumon_backend.runs.ingest", "cpumon_database.env", "tests.x"])
def test_a_warning_raised_from_our_modules_is_an_error(module: str) -> None:
    """The filters in pyproject.toml, as pytest applies them around every test."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module=module)


def test_a_litestar_deprecation_is_an_error() -> None:
    """Litestar raises it from its own module, about a handler of ours: still an error."""

    @get("/old/{name:str}")
    async def old(name: str) -> str:  # the inferred style: FromPath[str] now
        return name

    with pytest.raises(LitestarDeprecationWarning, match="'name' declared using deprecated inferred style"):
        Litestar([old])
