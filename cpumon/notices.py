"""How background parts of the agent talk to the user: one line at a time, with a level."""

from __future__ import annotations

from typing import Protocol


class Notices(Protocol):
    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...
