"""`cpumon export RUN` against the real server: every stored row, streamed in flat memory."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpumon.wire import BREAKDOWN_FIELDS
from tests.e2e.conftest import PASSWORD, USERNAME
from tests.review.conftest import BIG_SAMPLES, SMALL_SAMPLES, Seeded, cpumon_command, peak_rss_kib, run_cpumon

# The 200,000-row CSV is ~10 MB: holding it (as bytes, let alone parsed) would raise the peak by
# more than this. Streaming keeps the two exports' peaks within noise of each other.
FLAT_RSS_KIB = 4 * 1024

pytestmark = pytest.mark.e2e


def _stored_rows(seeded: Seeded, run_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=seeded.server.url, timeout=60.0) as http:
        http.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD}).raise_for_status()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 10_000, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/api/test-runs/{run_id}/cpu-usage", params=params).raise_for_status().json()
            rows.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return rows


def _assert_csv_matches(text: str, stored: list[dict[str, Any]]) -> None:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert header[:4] == ["id", "seq", "recorded_at", "cpu_percent"]
    assert header[4:] == list(BREAKDOWN_FIELDS)
    exported = [row[:4] for row in reader]
    assert len(exported) == len(stored)
    for (row_id, seq, recorded_at, cpu_percent), row in zip(exported, stored, strict=True):
        assert int(row_id) == row["id"]
        assert int(seq) == row["seq"]
        assert dt.datetime.fromisoformat(recorded_at) == dt.datetime.fromisoformat(row["recorded_at"])
        assert float(cpu_percent) == row["cpu_percent"]


@pytest.mark.xdist_group("review-big")
@pytest.mark.timeout(300)  # 200k rows seeded, exported and compared: minutes when the 2 cores run the rest of the suite
def test_export_of_a_200k_run_matches_the_stored_rows_in_flat_memory(
    big_seeded: Seeded, big_env: dict[str, str], tmp_path: Path
) -> None:
    big, small = big_seeded.runs["big"], big_seeded.runs["small"]
    peaks: dict[str, int] = {}
    for key, run in (("small", small), ("big", big)):
        workdir = tmp_path / key
        workdir.mkdir()
        code, peaks[key] = peak_rss_kib(cpumon_command("export", run.id, "-o", "out.csv"), big_env, workdir)
        assert code == 0, (workdir / "stderr").read_text()
        assert "\x1b" not in (workdir / "stderr").read_text()
    assert peaks["big"] - peaks["small"] < FLAT_RSS_KIB, peaks

    text = (tmp_path / "big" / "out.csv").read_text()
    stored = _stored_rows(big_seeded, big.id)
    assert len(stored) == BIG_SAMPLES
    _assert_csv_matches(text, stored)
    # and the stored rows are what was sent
    assert [row["cpu_percent"] for row in stored] == big.values
    assert [row["seq"] for row in stored] == list(range(BIG_SAMPLES))
    assert f"wrote {BIG_SAMPLES:,} samples of run big to out.csv" in (tmp_path / "big" / "stderr").read_text()
    assert not list((tmp_path / "big").glob(".out.csv.*.part")), "no temporary file left behind"


def test_export_to_stdout_is_the_same_csv(seeded: Seeded, env: dict[str, str]) -> None:
    small = seeded.runs["small"]
    result = run_cpumon(env, "export", small.id)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    _assert_csv_matches(result.stdout, _stored_rows(seeded, small.id))
    assert len(result.stdout.splitlines()) == SMALL_SAMPLES + 1


def test_export_of_an_unknown_run_leaves_no_file(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    result = run_cpumon(env, "export", "00000000-0000-7000-8000-000000000000", "-o", str(target))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
