"""Who cpumon logs in as, and where the password comes from.

The password is asked for only when a login is needed (a saved session spares it), and the
source is kept so that a refusal names it: the prompt, `CPUMON_PASSWORD` or the config file.
A password typed at the prompt that the API refuses is asked again, up to `PROMPT_TRIES` times.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable

from pydantic import SecretStr

from cpumon.errors import SettingsError
from cpumon.settings import AgentSettings, env_var

PROMPT_TRIES = 3
PROMPT = "the prompt"
CONFIG_FILE = "the config file"


class Credentials:
    def __init__(
        self,
        settings: AgentSettings,
        *,
        interactive: Callable[[], bool] | None = None,
        ask: Callable[[str], str] = getpass.getpass,
    ) -> None:
        if settings.username is None:
            raise SettingsError(f"no username: set {env_var('username')}, --username or `username` in the config file")
        self.username = settings.username
        self.api_url = settings.api_url
        self._given = settings.password
        # pydantic-settings merged the sources: the variable itself tells the environment from the file.
        self.source = env_var("password") if os.environ.get(env_var("password")) else CONFIG_FILE
        if self._given is None:
            self.source = PROMPT
        self._typed: SecretStr | None = None
        self._tries = 0
        self._interactive = interactive or sys.stdin.isatty
        self._ask = ask
        self.may_prompt = True  # turned off once a monitor records: a prompt would stall nothing but garble the screen

    @property
    def tries_left(self) -> int:
        """More logins worth trying after a refusal (only a typed password can be typed again)."""
        return PROMPT_TRIES - self._tries if self.source == PROMPT else 0

    def password(self) -> SecretStr | None:
        """The password to log in with: given, typed before, or asked now; None if it cannot be had."""
        if self._given is not None:
            return self._given
        if self._typed is not None:
            return self._typed
        if not self.may_prompt or not self._interactive():
            return None
        typed = self._ask(f"password for {self.username} at {self.api_url}: ")
        if not typed:
            raise SettingsError("no password given")
        self._tries += 1
        self._typed = SecretStr(typed)
        return self._typed

    def refused(self) -> bool:
        """The API refused the password: True if asking again is worth it (the typed one is forgotten)."""
        if self.source != PROMPT or self._typed is None:
            return False
        self._typed = None
        if self._tries >= PROMPT_TRIES:
            return False
        print(f"wrong password, try again ({self.tries_left} left)", file=sys.stderr)
        return True

    def describe_source(self) -> str:
        """Where to look after a refusal, for the one-line error."""
        if self.source == PROMPT:
            return f"the password was typed at the prompt ({self._tries} {'try' if self._tries == 1 else 'tries'})"
        if self.source == CONFIG_FILE:
            return "check `username` and `password` in the config file"
        return f"check {env_var('username')} and {env_var('password')}"
