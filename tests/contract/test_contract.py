"""One contract (cpumon.wire), derived outward: every side spells a sample, a summary and a path as it does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cpumon.sample import Sample
from cpumon.wire import (
    AUTH_PATH,
    BREAKDOWN_FIELDS,
    CSV_ROUTE,
    FINISH_ROUTE,
    LIVE_ROUTE,
    LOGIN_ROUTE,
    LOGOUT_ROUTE,
    ME_ROUTE,
    RUN_ROUTE,
    RUNS_PATH,
    SAMPLE_FIELDS,
    SAMPLES_ROUTE,
    SERIES_ROUTE,
    UPLOAD_FIELDS,
    UPLOAD_REQUIRED,
    RunRead,
    RunSummary,
    SampleRead,
    SeriesPoint,
)
from cpumon_backend.app import create_app
from cpumon_backend.runs.export import CSV_HEADER
from cpumon_backend.runs.ingest import JSON_COLUMNS, encode_rows
from cpumon_backend.runs.models import CpuUsage
from cpumon_backend.runs.schemas import SampleIn
from cpumon_backend.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # frontend/ is a folder of the checkout, not an installed package
from frontend.build import DOCUMENT, app_document, document_text  # noqa: E402


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    made = app_document()
    assert made is not None
    return made


def test_the_upload_body_is_derived_from_the_sample() -> None:
    assert SampleIn.__struct_fields__ == UPLOAD_FIELDS
    assert tuple(f.name for f in msgspec.structs.fields(SampleIn) if f.required) == UPLOAD_REQUIRED
    decoded = msgspec.json.decode(b'{"cpu_percent": 5, "max_core_percent": 9}', type=SampleIn)
    assert (decoded.cpu_percent, decoded.max_core_percent, decoded.seq) == (5.0, 9.0, None)  # type: ignore[attr-defined]


def test_the_ingest_row_and_its_sql_columns_follow_the_upload_fields() -> None:
    assert tuple(name for name, _ in JSON_COLUMNS) == UPLOAD_FIELDS
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = msgspec.json.decode(encode_rows([SampleIn(cpu_percent=5.0, seq=2, steal_percent=1.0)], now))[0]
    assert dict(zip(UPLOAD_FIELDS, row, strict=True)) == {
        "seq": 2,
        "recorded_at": "2026-01-01 00:00:00.000000",
        "cpu_percent": 5.0,
        **dict.fromkeys(BREAKDOWN_FIELDS),
        "steal_percent": 1.0,
    }


def test_the_table_has_a_column_per_field_null_where_the_field_may_be() -> None:
    columns = CpuUsage.__table__.columns
    for field in dataclasses.fields(SampleRead):
        may_be_null = "None" in str(field.type)
        assert columns[field.name].nullable == may_be_null, field.name


def test_the_csv_header_is_the_sample_fields() -> None:
    assert CSV_HEADER == SAMPLE_FIELDS


def test_the_agent_uploads_and_spools_the_upload_fields_in_order() -> None:
    assert tuple(f.name for f in dataclasses.fields(Sample)) == UPLOAD_FIELDS
    sample = Sample(seq=3, recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), cpu_percent=10.0, iowait_percent=2.5)
    assert list(sample.to_api()) == ["seq", "recorded_at", "cpu_percent", "iowait_percent"]
    assert Sample.from_row(sample.to_row()) == sample


@pytest.mark.parametrize("contract", [SampleRead, RunRead, RunSummary, SeriesPoint])
def test_the_documented_answers_are_the_contract(document: dict[str, Any], contract: type) -> None:
    schema = document["components"]["schemas"][contract.__name__]
    fields = dataclasses.fields(contract)
    assert list(schema["properties"]) == [f.name for f in fields]
    assert set(schema["required"]) == {f.name for f in fields if f.default is dataclasses.MISSING}


def test_the_documented_run_keeps_its_formats(document: dict[str, Any]) -> None:
    """The server's RunRead is derived from the contract's, its id typed as the UUID it is."""
    properties = document["components"]["schemas"]["RunRead"]["properties"]
    assert properties["id"]["format"] == "uuid"
    assert properties["started_at"]["format"] == "date-time"


def test_the_documented_upload_body_is_the_upload_fields(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["SampleIn"]
    assert list(schema["properties"]) == list(UPLOAD_FIELDS)
    assert schema["required"] == list(UPLOAD_REQUIRED)


def test_the_server_serves_every_path_of_the_contract(tmp_path: Path) -> None:
    app = create_app(ServerSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'paths.db'}"))
    served = {re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) for route in app.routes}
    runs = [RUN_ROUTE, SAMPLES_ROUTE, SERIES_ROUTE, CSV_ROUTE, LIVE_ROUTE, FINISH_ROUTE]
    auth = [LOGIN_ROUTE, LOGOUT_ROUTE, ME_ROUTE]
    expected = {RUNS_PATH, *(RUNS_PATH + route for route in runs), *(AUTH_PATH + route for route in auth)}
    assert expected <= served


def test_the_committed_document_is_the_apps(document: dict[str, Any]) -> None:
    """A wheel built without the server's packages generates the dashboard's types from the committed
    document: it must be what the app serves. `python frontend/build.py` writes it afresh."""
    assert DOCUMENT.read_text() == document_text(document)


def test_the_dashboard_writes_no_api_type_by_hand() -> None:
    api = (ROOT / "frontend" / "src" / "api.ts").read_text()
    assert "interface " not in api
    types = re.findall(r"^(?:export )?type (\w+) = (.+);", api, re.MULTILINE)
    assert types
    for name, definition in types:
        assert definition.startswith(("Schemas[", 'components["schemas"]', "keyof paths")), name
