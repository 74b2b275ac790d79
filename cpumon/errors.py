"""Exit codes and the errors that map to them.

Every failure a user can cause or meet (bad settings, wrong credentials, an API that is
not there) is raised as a `CpumonError` carrying its exit code and a one-line message
that says what to do; `cpumon.cli` prints that line and exits, never a traceback.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    UNEXPECTED = 1
    BAD_SETTINGS = 2
    AUTH_FAILED = 3
    API_UNAVAILABLE = 4
    GATE_FAILED = 5  # --max-above: the time above the threshold exceeded it
    INTERRUPTED = 130  # stopped by Ctrl-C before monitoring started (shell convention 128 + SIGINT)


class CpumonError(Exception):
    """An expected failure: `message` is the one line shown to the user."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingsError(CpumonError):
    exit_code = ExitCode.BAD_SETTINGS


class AuthenticationError(CpumonError):
    exit_code = ExitCode.AUTH_FAILED


class ApiUnavailableError(CpumonError):
    exit_code = ExitCode.API_UNAVAILABLE
