"""Pieces of patterns that mean the same to the server and to the document's readers.

The server checks a pattern with Python's `re`; a JSON Schema validator with ECMA-262 regular
expressions. Their `\\s` differ (Python's takes U+001C-U+001F and U+0085, ECMA-262's U+FEFF), so a
pattern spells such sets out as code points. tests/openapi/test_patterns.py holds every pattern of
the document to meaning the same in both.
"""

from __future__ import annotations

from typing import Final

#: White space to either dialect, as a character class body: `[^{WHITE_SPACE}]` is "not white space" to both.
WHITE_SPACE: Final = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
