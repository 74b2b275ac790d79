"""One canonical form of a username, used by the lookup, the uniqueness rule and the login throttle.

A username is compared as: NFKC (full-width and other compatibility forms become their plain
letters), without invisible format characters (zero-width space and joiners, soft hyphen, BOM,
bidi marks: Unicode category Cf), then case-folded. So "Alice", "ALICE", full-width "Alice" and
"Ali\u200bce" are one user. Accents are significant ("José" and "Jose" are two names): the key
column compares bytes (a binary collation on MariaDB), so the database never folds what this
function keeps apart. Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata

from cpumon.wire import USERNAME_MAX


def _without_format_characters(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def display_username(raw: str) -> str:
    """The name as stored and shown: NFKC, invisible characters removed, case kept."""
    return unicodedata.normalize("NFKC", _without_format_characters(unicodedata.normalize("NFKC", raw)))


def username_key(raw: str) -> str:
    """The canonical form: what two spellings of one name have in common."""
    # NFKC again after casefold: folding can produce sequences that compose differently.
    return unicodedata.normalize("NFKC", display_username(raw).casefold())


def username_problem(raw: str) -> str | None:
    """Why `raw` cannot be a new username, or None when it can."""
    display = display_username(raw)
    if not display:
        return "the username is empty once invisible characters are removed"
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in display):
        return "the username contains spaces or control characters"
    if len(username_key(raw)) > USERNAME_MAX:
        return f"the username is longer than {USERNAME_MAX} characters"
    return None
