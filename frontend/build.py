"""Build the dashboard's assets with npm and Vite when they are missing or older than their sources.

Used by the wheel's build hook (hatch_build.py), by `nox -s demo` and by the browser tests, so each of
them serves what frontend/ says today. The output goes to backend/cpumon_backend/web/static/ (not committed; shipped
in the wheel). Needs Node.js and npm; a machine that only installs the wheel never runs this.
Run as a script: `python frontend/build.py [--force]`.

The dashboard's API types are generated at build time from the OpenAPI document (frontend/openapi/
openapi.json) by openapi-typescript, into src/api-schema.gen.ts (not committed). Where the server is
installed, the document is first written afresh from the app; a wheel built in isolation (no server
packages) uses the committed one, which tests/contract/test_api_types.py keeps equal to the app's.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

FRONTEND = Path(__file__).resolve().parent
STATIC = FRONTEND.parent / "backend" / "cpumon_backend" / "web" / "static"
MANIFEST = STATIC / ".vite" / "manifest.json"
TYPES_PROJECT = FRONTEND / "openapi"
DOCUMENT = TYPES_PROJECT / "openapi.json"
API_TYPES = FRONTEND / "src" / "api-schema.gen.ts"
SOURCES = ("src", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json", "openapi/openapi.json")


class FrontendBuildError(RuntimeError):
    """npm is missing or the build failed: the message says what to do."""


def newest_source_mtime(frontend: Path = FRONTEND) -> float:
    paths = [frontend / name for name in SOURCES]
    files = [p for path in paths for p in ([*path.rglob("*")] if path.is_dir() else [path]) if p.is_file()]
    return max(p.stat().st_mtime for p in files)


def is_stale(frontend: Path = FRONTEND, manifest: Path = MANIFEST) -> bool:
    return not manifest.exists() or manifest.stat().st_mtime < newest_source_mtime(frontend)


def _npm(*args: str, project: Path = FRONTEND) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FrontendBuildError("npm is not installed: the dashboard's assets are built with Node.js and npm")
    done = subprocess.run([npm, *args], cwd=project, check=False)  # noqa: S603 - npm from PATH, fixed arguments
    if done.returncode != 0:
        raise FrontendBuildError(f"`npm {' '.join(args)}` failed in {project} (exit {done.returncode})")


def _install(project: Path) -> None:
    """`npm ci` in `project` unless its node_modules is newer than its lock file."""
    installed = project / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (project / "package-lock.json").stat().st_mtime:
        _npm("ci", "--no-audit", "--no-fund", project=project)


def app_document() -> dict[str, Any] | None:
    """The OpenAPI document the API serves, made from the app (no database), or None without the server."""
    try:
        from cpumon_backend.app import create_app  # noqa: PLC0415 - the server is optional here
        from cpumon_backend.openapi.document import FinishedDocument  # noqa: PLC0415
        from cpumon_backend.settings import ServerSettings  # noqa: PLC0415
    except ImportError:
        return None
    settings = ServerSettings(database_url="sqlite+aiosqlite:///:memory:")
    return FinishedDocument(settings.session_cookie_name).of(create_app(settings))


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def refresh_document() -> None:
    """Write the app's document to DOCUMENT when the server is here and the document changed."""
    document = app_document()
    if document is None:
        return
    text = document_text(document)
    if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
        DOCUMENT.write_text(text)


def generate_api_types() -> None:
    """src/api-schema.gen.ts from DOCUMENT, when older than it."""
    if API_TYPES.exists() and API_TYPES.stat().st_mtime >= DOCUMENT.stat().st_mtime:
        return
    _install(TYPES_PROJECT)
    _npm("exec", "--", "openapi-typescript", str(DOCUMENT), "--output", str(API_TYPES), project=TYPES_PROJECT)


def ensure_built(*, force: bool = False) -> bool:
    """Build unless the assets are newer than every source; True when it built. Safe to call concurrently."""
    if not (FRONTEND / "package.json").exists():  # a source tree without frontend/: the assets must be there
        if not MANIFEST.exists():
            raise FrontendBuildError(f"no frontend/ sources and no built assets in {STATIC}")
        return False
    with (FRONTEND / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers and builds started together build once
        refresh_document()
        if not force and not is_stale():
            return False
        generate_api_types()
        _install(FRONTEND)
        _npm("run", "build")
        MANIFEST.touch()  # newer than every source, even if a clock or copy skewed the mtimes
        return True


if __name__ == "__main__":
    try:
        built = ensure_built(force="--force" in sys.argv[1:])
    except FrontendBuildError as exc:
        sys.exit(f"cpumon dashboard: {exc}")
    print("dashboard assets built" if built else "dashboard assets up to date")
