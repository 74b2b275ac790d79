"""Build the dashboard's assets with npm and Vite when they are missing or older than their sources.

Used by the wheel's build hook (hatch_build.py), by `nox -s demo` and by the browser tests, so each of
them serves what frontend/ says today. The output goes to backend/cpumon_backend/web/static/ (not committed; shipped
in the wheel). Needs Node.js and npm; a machine that only installs the wheel never runs this.
Run as a script: `python frontend/build.py [--force]`.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent
STATIC = FRONTEND.parent / "backend" / "cpumon_backend" / "web" / "static"
MANIFEST = STATIC / ".vite" / "manifest.json"
SOURCES = ("src", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")


class FrontendBuildError(RuntimeError):
    """npm is missing or the build failed: the message says what to do."""


def newest_source_mtime(frontend: Path = FRONTEND) -> float:
    paths = [frontend / name for name in SOURCES]
    files = [p for path in paths for p in ([*path.rglob("*")] if path.is_dir() else [path]) if p.is_file()]
    return max(p.stat().st_mtime for p in files)


def is_stale(frontend: Path = FRONTEND, manifest: Path = MANIFEST) -> bool:
    return not manifest.exists() or manifest.stat().st_mtime < newest_source_mtime(frontend)


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FrontendBuildError("npm is not installed: the dashboard's assets are built with Node.js and npm")
    done = subprocess.run([npm, *args], cwd=FRONTEND, check=False)  # noqa: S603 - npm from PATH, fixed arguments
    if done.returncode != 0:
        raise FrontendBuildError(f"`npm {' '.join(args)}` failed in {FRONTEND} (exit {done.returncode})")


def ensure_built(*, force: bool = False) -> bool:
    """Build unless the assets are newer than every source; True when it built. Safe to call concurrently."""
    if not (FRONTEND / "package.json").exists():  # a source tree without frontend/: the assets must be there
        if not MANIFEST.exists():
            raise FrontendBuildError(f"no frontend/ sources and no built assets in {STATIC}")
        return False
    with (FRONTEND / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers and builds started together build once
        if not force and not is_stale():
            return False
        installed = FRONTEND / "node_modules" / ".package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < (FRONTEND / "package-lock.json").stat().st_mtime:
            _npm("ci", "--no-audit", "--no-fund")
        _npm("run", "build")
        MANIFEST.touch()  # newer than every source, even if a clock or copy skewed the mtimes
        return True


if __name__ == "__main__":
    try:
        built = ensure_built(force="--force" in sys.argv[1:])
    except FrontendBuildError as exc:
        sys.exit(f"cpumon dashboard: {exc}")
    print("dashboard assets built" if built else "dashboard assets up to date")
