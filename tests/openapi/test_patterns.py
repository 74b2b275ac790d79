"""Every pattern of the OpenAPI document means the same to JSON Schema (ECMA-262) and to the server.

The server validates patterns with Python's `re` (msgspec searches with it); a client validates them
as JSON Schema says, with ECMA-262 regular expressions (here: Node's, with the `u` flag, as Ajv does).
Each pattern is tried on every code point alone, and on strings where the dialects are known to part
(a final newline, non-ASCII digits, white space outside ASCII): both must accept the same strings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.auth.schemas import LoginRequest
from cpumon_backend.settings import ServerSettings

EDGES = ["a\n", "a\n\n", "\na", "a\r", "0.0", "0.0\n", "1\u0663.2", "\u0663.\u0663", "a\u0085b", "a\ufeffb", "a b"]

ECMA_MATCHES = """
const {patterns, strings} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const result = patterns.map((p) => {
  const re = new RegExp(p, "u");
  return strings.map((s) => (re.test(s) ? "1" : "0")).join("");
});
process.stdout.write(JSON.stringify(result));
"""


def patterns_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns_of(item)


@pytest.fixture(scope="module")
def document_patterns() -> list[str]:
    app = create_app(ServerSettings(database_url="sqlite+aiosqlite:///:memory:", bcrypt_rounds=4))
    with TestClient(app) as client:
        document = client.get("/schema/openapi.json").json()
    return sorted(set(patterns_of(document)))


def test_every_pattern_means_the_same_to_json_schema_and_to_the_server(document_patterns: list[str]) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (it builds the dashboard too)"
    assert len(document_patterns) >= 2
    strings = [chr(point) for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF] + EDGES
    answer = subprocess.run(
        [node, "-e", ECMA_MATCHES],
        input=json.dumps({"patterns": document_patterns, "strings": strings}),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for pattern, ecma in zip(document_patterns, json.loads(answer.stdout), strict=True):
        compiled = re.compile(pattern)
        python = "".join("1" if compiled.search(text) else "0" for text in strings)
        differ = [strings[i] for i in range(len(strings)) if python[i] != ecma[i]]
        assert differ == [], f"{pattern!r} differs on {[ascii(text) for text in differ[:10]]}"


@pytest.mark.parametrize("username", ["ali\u0085ce", "alice\n", "ali\u001cce", "ali\u3000ce"])
def test_a_username_the_document_refuses_the_server_refuses(username: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"username": username, "password": "x"}, LoginRequest)


def test_a_username_the_document_allows_the_server_reads() -> None:
    """U+FEFF is white space to ECMA-262's `\\s` (so the old pattern's document refused it) but not to
    Python's: the server always read it (and drops it from the canonical form). Now both allow it."""
    assert msgspec.convert({"username": "ali\ufeffce", "password": "x"}, LoginRequest).username == "ali\ufeffce"
