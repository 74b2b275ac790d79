"""The one folded form of a run's name and host name: what the list's filters compare.

Text matches "in any case" the same way on every database: the server folds the stored value
once (Unicode case folding of the NFC form, then NFC again) into a `*_key` column compared byte for
byte, and folds the asked text the same way. The databases' own LOWER()/collations differ (SQLite
folds ASCII only; MariaDB's collations fold accents too), so neither is asked. Pure functions.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: The most characters that folding can make of one character (U+1F82 becomes four under NFD):
#: a folded value has at most this many times the characters of its source (proven in the tests
#: over every code point), so its column is sized from the source's limit and never overflows.
FOLD_GROWTH: Final = 4


def fold(text: str) -> str:
    """The case-folded, composed form of `text`: two spellings that differ only in case are one."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def shortened(text: str, room: int) -> str:
    """`text` in at most `room` characters: cut, with an ellipsis where it was cut."""
    return text if len(text) <= room else f"{text[: room - 1]}…"
