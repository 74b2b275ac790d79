"""How background parts of the agent talk to the user: one line at a time, with a level."""

from __future__ import annotations

from typing import Protocol


class Notices(Protocol):
    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


class CollectedNotices:
    """Notices kept in lists: for tests, and for anything that runs before the display exists."""

    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def info(self, text: str) -> None:
        self.infos.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
