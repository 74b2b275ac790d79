"""Hatch build hook: the wheel carries the dashboard's built assets, so it serves them without Node.js."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DashboardAssetsHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        # An editable install serves backend/cpumon_backend/web/static from the checkout; the tests and `nox -s demo`
        # build it there, so `pip install -e .` needs no Node.js.
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, self.root)
        from frontend.build import ensure_built  # noqa: PLC0415 - found only once the root is on the path

        ensure_built()
        # Built files are ignored by git (and so by hatch): artifacts puts them in the wheel anyway.
        static = Path(self.root, "backend", "cpumon_backend", "web", "static")
        build_data["artifacts"].append(f"/{static.relative_to(self.root)}/")
