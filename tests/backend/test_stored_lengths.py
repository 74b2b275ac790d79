"""Every schema-valid run is stored whole on every backend, and read back as sent (issue 26).

SQLite does not enforce column lengths; MariaDB does, in characters of utf8mb4 (4 bytes each at
most). So the longest values, in 4-byte characters too, go through the API on each backend, and the
values derived from them (the default name, the folded keys) must fit their columns as well.
"""

from __future__ import annotations

import datetime as dt
import sys
import unicodedata
from types import ModuleType
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon.wire import HOSTNAME_MAX, NAME_MAX
from cpumon_backend.runs import lifecycle
from cpumon_backend.runs.folding import FOLD_GROWTH, fold
from cpumon_backend.runs.lifecycle import default_run_name
from cpumon_database import MIGRATIONS_DIR
from tests.backend.conftest import start_run
from tests.support.modules import module_from_file

Client = TestClient[Litestar]

FOUR_BYTES = "\U0001f600"  # an emoji: 4 bytes in UTF-8
FOUR_BYTES_CASED = "\U00010400"  # DESERET CAPITAL LETTER LONG I: 4 bytes, folds to U+10428 (4 bytes)
GROWS_MOST = "\u1f82"  # folds to four characters under NFD (three under NFC)
START = dt.datetime(2026, 12, 5, 3, 4, 5, tzinfo=dt.UTC)


def read_back(client: Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/test-runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def test_the_default_name_keeps_the_time_and_shortens_the_host() -> None:
    name = default_run_name("h" * HOSTNAME_MAX, START)
    assert len(name) == NAME_MAX
    assert name.endswith("… 2026-12-05 03:04:05")
    assert default_run_name("web-1", START) == "web-1 2026-12-05 03:04:05"
    assert default_run_name("", START) == "run 2026-12-05 03:04:05"


def test_folding_makes_at_most_fold_growth_characters_of_each() -> None:
    """The bound the key columns are sized by: NFD, fold and NFD act per character, and NFC never
    lengthens what NFD made, so no text folds to more than FOLD_GROWTH times its length."""

    def most(ch: str) -> int:
        return len(unicodedata.normalize("NFD", unicodedata.normalize("NFD", ch).casefold()))

    assert max(most(chr(point)) for point in range(sys.maxunicode + 1)) == FOLD_GROWTH
    assert len(fold(GROWS_MOST * HOSTNAME_MAX)) <= FOLD_GROWTH * HOSTNAME_MAX


def _migration_0006() -> ModuleType:
    return module_from_file("migration_0006", next(MIGRATIONS_DIR.glob("versions/0006_*.py")))


def test_the_migration_folds_existing_runs_as_the_server_folds_new_ones() -> None:
    migration = _migration_0006()
    for text in ["Host-ÄÖ-ünï", "STRASSE Straße", GROWS_MOST * 3, FOUR_BYTES_CASED, "A\u0308"]:
        assert migration.fold(text) == fold(text)
    assert migration.KEY_COLUMNS == {
        "name_key": ("name", NAME_MAX * FOLD_GROWTH),
        "hostname_key": ("hostname", HOSTNAME_MAX * FOLD_GROWTH),
    }


@pytest.mark.parametrize(
    ("name", "hostname"),
    [
        (None, "h" * HOSTNAME_MAX),
        (None, FOUR_BYTES * HOSTNAME_MAX),
        (FOUR_BYTES * NAME_MAX, FOUR_BYTES * HOSTNAME_MAX),
        (FOUR_BYTES_CASED * NAME_MAX, FOUR_BYTES_CASED * HOSTNAME_MAX),
        (GROWS_MOST * NAME_MAX, GROWS_MOST * HOSTNAME_MAX),
    ],
    ids=["ascii-host-default-name", "4-byte-host-default-name", "4-byte", "4-byte-cased", "folds-longest"],
)
def test_the_longest_values_are_stored_whole(alice: Client, name: str | None, hostname: str) -> None:
    body: dict[str, Any] = {"hostname": hostname, "started_at": START.isoformat()}
    if name is not None:
        body["name"] = name
    response = alice.post("/api/test-runs", json=body)
    assert response.status_code == 201, response.text
    stored = read_back(alice, response.json()["id"])
    assert stored["hostname"] == hostname
    assert stored["name"] == (name or default_run_name(hostname, START))
    assert len(stored["name"]) <= NAME_MAX
    # Found through its folded keys, in another case where that case is no longer than the limit.
    host, part = hostname.upper(), stored["name"][-40:].upper()
    params = {"host": host if len(host) <= HOSTNAME_MAX else hostname, "name": part}
    listed = alice.get("/api/test-runs", params=params)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [stored["id"]]


def test_host_and_name_filters_fold_unicode_case(alice: Client) -> None:
    start_run(alice, name="Straße Ünï", hostname="Host-ÄÖ-ünï")
    start_run(alice, name="other", hostname="host-ao-uni")
    for host in ["Host-ÄÖ-ünï", "host-äö-ÜNÏ", "HOST-ÄÖ-ÜNÏ", "host-a\u0308o\u0308-u\u0308ni\u0308"]:
        found = alice.get("/api/test-runs", params={"host": host}).json()["items"]
        assert [run["name"] for run in found] == ["Straße Ünï"], host
    for text in ["Straße", "STRASSE", "straße ünï", "SSE Ü"]:
        found = alice.get("/api/test-runs", params={"name": text}).json()["items"]
        assert [run["name"] for run in found] == ["Straße Ünï"], text
    assert alice.get("/api/test-runs", params={"name": "strase"}).json()["items"] == []


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_value_the_database_refuses_is_a_400_naming_the_field(alice: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should validation ever let a too-long value through, MariaDB's refusal is a 400, never a 500."""
    monkeypatch.setattr(lifecycle, "default_run_name", lambda hostname, started_at: "n" * (NAME_MAX + 1))
    response = alice.post("/api/test-runs", json={"hostname": "h"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "invalid body at $.name: too long for the database"
    assert response.json()["extra"][0]["field"] == "name"
