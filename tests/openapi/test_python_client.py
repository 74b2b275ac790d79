"""openapi-python-client generates a client from the served document, with no warning; it runs the workflow.

The generated package is imported from a temporary folder and driven against the real server: login
(the session cookie kept by the client's httpx client), me, a run, one sample, a batch of 1,000 and the
same batch again, every page of samples through the cursor, summary, series, CSV, finish and a 409,
delete and a 404, logout and a 401. Each error arrives parsed as the generated `Error` model.
"""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import PASSWORD, USERNAME, Server

from . import workflow as wf

# Generous: the generator takes seconds, tens of them on two busy cores.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
PACKAGE = "cpumon_client"
CONFIG = f"project_name_override: cpumon-client\npackage_name_override: {PACKAGE}\npost_hooks: []\n"


def generate(document: Path, folder: Path) -> str:
    """Run the generator; its whole output (which names every warning)."""
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    command = [str(Path(sys.executable).parent / "openapi-python-client"), "generate", "--path", str(document)]
    command += ["--output-path", str(folder / "client"), "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def client_package(served_document: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("python-client")
    output = generate(served_document, folder)
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder / "client"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder / "client"))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_every_operation_has_a_generated_function(client_package: ModuleType) -> None:
    auth, runs, health = (part(client_package, f"api.{tag}") for tag in ("auth", "test_runs", "health"))
    for module, names in [
        (auth, ["login", "logout", "me"]),
        (runs, ["start_run", "list_runs", "get_run", "finish_run", "delete_run", "ingest_samples"]),
        (runs, ["list_samples", "get_series", "export_csv"]),
        (part(client_package, "api.events"), ["add_event", "list_events"]),
        (health, ["health", "ready"]),
    ]:
        for name in names:
            assert callable(importlib.import_module(f"{module.__name__}.{name}").sync_detailed), name


def samples(models: Any, seqs: range) -> list[Any]:
    return [
        models.SampleIn(cpu_percent=wf.cpu_percent(seq), seq=seq, recorded_at=wf.BASE_TIME + dt.timedelta(seconds=seq))
        for seq in seqs
    ]


def test_the_generated_client_runs_the_whole_workflow(
    client_package: ModuleType, api_server: Server, request: pytest.FixtureRequest
) -> None:
    models, types = part(client_package, "models"), part(client_package, "types")
    api = {name: part(client_package, f"api.{tag}.{name}") for tag, name in OPERATIONS}
    # One httpx client keeps the session cookie that login sets; the generated client sends it on every call.
    http = httpx.Client(base_url=api_server.url, timeout=30)
    request.addfinalizer(http.close)  # pass or fail: a socket left to the GC fails whichever test it is found in
    client = client_package.AuthenticatedClient(base_url=api_server.url, token="unused").set_httpx_client(http)

    def call(name: str, status: int, **kwargs: Any) -> Any:
        response = api[name].sync_detailed(client=client, **kwargs)
        assert response.status_code == status, (name, response.content[:500])
        return response.parsed

    me = call("login", 200, body=models.LoginRequest(username=USERNAME, password=PASSWORD))
    assert http.cookies.get("cpumon_session")
    assert call("me", 200).username == me.username == USERNAME
    run = call("start_run", 201, body=models.RunCreate(name="python client", threshold_percent=wf.THRESHOLD))
    assert call("ingest_samples", 201, run_id=run.id, body=samples(models, range(1))[0]).inserted == 1
    batch = samples(models, range(1, wf.SAMPLES))
    assert call("ingest_samples", 201, run_id=run.id, body=batch).inserted == wf.BATCH
    again = call("ingest_samples", 201, run_id=run.id, body=batch)
    assert (again.inserted, again.duplicates) == (0, wf.BATCH)

    seqs, cursor, pages = [], types.UNSET, 0
    while cursor is not None:
        page = call("list_samples", 200, run_id=run.id, limit=wf.PAGE, cursor=cursor)
        seqs += [sample.seq for sample in page.items]
        cursor, pages = page.next_cursor, pages + 1
    assert (seqs, pages) == (list(range(wf.SAMPLES)), wf.PAGES)

    summary = call("get_run", 200, run_id=run.id).summary
    assert (summary.sample_count, summary.max_percent, summary.min_percent) == (wf.SAMPLES, 99.0, 0.0)
    series = call("get_series", 200, run_id=run.id, points=wf.SERIES_POINTS)
    assert 1 < len(series.items) <= wf.SERIES_POINTS
    assert sum(point.count for point in series.items) == wf.SAMPLES
    csv = call("export_csv", 200, run_id=run.id)
    assert csv.splitlines()[0].startswith("id,seq,recorded_at,cpu_percent")
    assert len(csv.splitlines()) == wf.SAMPLES + 1

    assert call("finish_run", 200, run_id=run.id, body=models.RunFinish()).ended_at is not None
    refused = call("ingest_samples", 409, run_id=run.id, body=samples(models, range(5000, 5001)))
    assert isinstance(refused, models.Error)
    assert refused.status_code == 409
    for text, seconds in wf.EVENTS:  # a finished run takes events
        at = wf.BASE_TIME + dt.timedelta(seconds=seconds)
        added = call("add_event", 201, run_id=run.id, body=models.EventCreate(text=text, at=at, kind="load"))
        assert (added.text, added.at, added.kind) == (text, at, "load")
    listed = call("list_events", 200, run_id=run.id).items
    assert [event.text for event in listed] == wf.EVENTS_IN_ORDER
    bad = call("add_event", 400, run_id=run.id, body=models.EventCreate(text=" "))
    assert isinstance(bad, models.Error)
    call("delete_run", 204, run_id=run.id)
    assert isinstance(call("get_run", 404, run_id=run.id), models.Error)
    call("logout", 204)
    unauthorized = call("me", 401)
    assert isinstance(unauthorized, models.Error)
    assert "log" in unauthorized.detail


OPERATIONS = [
    ("auth", "login"),
    ("auth", "logout"),
    ("auth", "me"),
    ("test_runs", "start_run"),
    ("test_runs", "get_run"),
    ("test_runs", "finish_run"),
    ("test_runs", "delete_run"),
    ("test_runs", "ingest_samples"),
    ("test_runs", "list_samples"),
    ("test_runs", "get_series"),
    ("test_runs", "export_csv"),
    ("events", "add_event"),
    ("events", "list_events"),
]
