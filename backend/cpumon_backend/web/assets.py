"""Which built files a page links: read from Vite's manifest once per process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from litestar.file_system import BaseLocalFileSystem
from litestar.types import PathType
from litestar.types.file_types import FileInfo

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_PATH = "/static"
ENTRY = "src/main.ts"


class StaticFileSystem(BaseLocalFileSystem):
    """The local files under /static, where a name the operating system cannot look up is just not there.

    Litestar answers 500 (with a traceback in the log) when looking a name up fails for any other
    reason than "not found": a NUL byte (ValueError), a name or path too long, a file used as a
    folder (`app.js/x`), a symlink loop (OSError). Any visitor can send those: each is a 404.
    """

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except (FileNotFoundError, PermissionError):
            raise
        except (ValueError, OSError) as exc:
            raise FileNotFoundError(f"no such file: {exc}") from None


class AssetsMissingError(RuntimeError):
    """The front end was not built (a checkout without `python frontend/build.py`)."""


@dataclass(frozen=True)
class PageAssets:
    scripts: tuple[str, ...]
    styles: tuple[str, ...]


def assets_from_manifest(manifest: dict[str, dict[str, object]], entry: str = ENTRY) -> PageAssets:
    """The entry's script and the styles it imports, as URLs under /static."""
    chunk = manifest.get(entry)
    if chunk is None or not isinstance(chunk.get("file"), str):
        raise AssetsMissingError(f"the manifest has no entry {entry!r}")
    styles = chunk.get("css", [])
    if not isinstance(styles, list):
        raise AssetsMissingError(f"the manifest's entry {entry!r} has no list of styles")
    return PageAssets(
        scripts=(f"{STATIC_PATH}/{chunk['file']}",),
        styles=tuple(f"{STATIC_PATH}/{name}" for name in styles),
    )


@cache
def page_assets(static_dir: Path = STATIC_DIR) -> PageAssets:
    manifest = static_dir / ".vite" / "manifest.json"
    try:
        return assets_from_manifest(json.loads(manifest.read_text()))
    except FileNotFoundError:
        raise AssetsMissingError(
            f"the dashboard's assets are not built ({manifest} is missing): run `python frontend/build.py`"
        ) from None
