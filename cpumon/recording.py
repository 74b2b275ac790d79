"""Which runs this machine is recording now: the monitor publishes its run here, `cpumon mark` reads it.

While `cpumon` records, it keeps one small file per monitor process in the user's state directory
(`$XDG_STATE_HOME/cpumon/recording/<pid>.json`, else `~/.local/state/cpumon/recording/`), mode 0600:
the API URL, the username and the run's id once the API has created it. The file goes when the
monitor ends; one left by a monitor that was killed names a process that is gone, and is ignored
(and removed) by the next reader.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from cpumon.spool import private_dir, write_atomically

log = logging.getLogger(__name__)
#: Far more than any file this module writes: a reader never loads a large file someone put there.
MAX_FILE_BYTES = 4096


def recording_dir() -> Path:
    return Path(platformdirs.user_state_dir("cpumon", appauthor=False)) / "recording"


@dataclass(frozen=True)
class ActiveRun:
    """A run a monitor process on this machine is recording."""

    api_url: str
    username: str
    run_id: str
    name: str
    pid: int


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's: not this user's monitor, but not ours to judge
        return True
    return True


class ActiveRunFile:
    """The file of this monitor process: written once the API has the run, removed at the end."""

    def __init__(self, api_url: str, username: str, directory: Path | None = None, pid: int | None = None) -> None:
        self.api_url = api_url
        self.username = username
        self.pid = os.getpid() if pid is None else pid
        self.path = (directory or recording_dir()) / f"{self.pid}.json"
        self.published: str | None = None

    def publish(self, run_id: str | None, name: str) -> None:
        """Say this process records `run_id` (nothing while the API has not created it yet; once per run)."""
        if run_id is None or run_id == self.published:
            return
        self.published = run_id
        run = ActiveRun(self.api_url, self.username, run_id, name, self.pid)
        try:
            private_dir(self.path.parent)
            write_atomically(self.path, json.dumps(asdict(run)).encode())
        except OSError as exc:  # `cpumon mark --run RUN` still works: a warning, not a failure
            log.warning("could not write %s: %s", self.path, exc.strerror or exc)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def active_runs(
    api_url: str, username: str, directory: Path | None = None, alive: Callable[[int], bool] = pid_alive
) -> list[ActiveRun]:
    """The runs monitors of this user and API are recording on this machine now (files of dead ones removed)."""
    found = []
    folder = directory or recording_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        run = _read(path)
        if run is None or not alive(run.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if (run.api_url, run.username) == (api_url, username):
            found.append(run)
    return found


def _read(path: Path) -> ActiveRun | None:
    try:
        with path.open("rb") as handle:
            body = json.loads(handle.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES])
        run = ActiveRun(**{name: body[name] for name in ActiveRun.__dataclass_fields__})
        pid_in_name = int(path.stem)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run if run.pid == pid_in_name else None
