"""Generated API fuzzing: schemathesis against the app's own OpenAPI document, on SQLite and MariaDB.

The real server (uvicorn, as `cpumon-server` serves it) is driven by schemathesis logged in as a
real user, over every operation of /schema/openapi.json, with valid (positive) and invalid
(negative) inputs. Every response must pass schemathesis' checks: no 5xx, a status code the
document declares, a body that matches the declared schema, invalid input rejected, valid input
accepted, and a missing session refused. Path parameters are either generated or the id of a real
run of the user, so the handlers behind the 404 are reached too. Examples per operation and mode
are bounded (FUZZ_EXAMPLES) to keep CI's time; a failing example is fixed in the app or the
schema, never filtered out. The one allowance: a few rules cannot be stated in a schema (a window's
`from` after its `to`, a run's end before its stored start, a comma list of over 100 hosts); a
schema-valid request that breaks one gets 400 naming that rule (BEYOND_THE_SCHEMA, each tested in
tests/backend), and that 400 alone is not counted as "valid data rejected".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.transport import Response

from .conftest import PASSWORD, USERNAME, Server, prepare

pytestmark = pytest.mark.e2e

COOKIE = "cpumon_session"
#: Examples per operation and generation mode (positive, negative). Raise locally for a deeper run.
FUZZ_EXAMPLES = int(os.environ.get("CPUMON_FUZZ_EXAMPLES", "25"))


#: The details of the 400s for rules no schema can state (see the module's docstring).
BEYOND_THE_SCHEMA = re.compile(
    r"must not be after (to|active_to)$|before the run's started_at|after the server's time now: send an ended_at"
    r"|at most 100 hosts per request$|a host name has at most 255 characters$"
    r"|ahead of the server's clock \(CPUMON_TIMESTAMP_MAX_AHEAD\)$"
)


def breaks_a_rule_beyond_the_schema(response: Response) -> bool:
    if response.status_code != 400:
        return False
    detail = response.json().get("detail", "")
    return isinstance(detail, str) and BEYOND_THE_SCHEMA.search(detail) is not None


def login(session: requests.Session, url: str) -> None:
    response = session.post(f"{url}/api/auth/login", json={"username": USERNAME, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text


def new_run(session: requests.Session, url: str) -> str:
    response = session.post(f"{url}/api/test-runs", json={"name": "fuzz", "threshold_percent": 50}, timeout=10)
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    samples: list[dict[str, Any]] = [
        {"seq": i, "cpu_percent": i * 7 % 101, "recorded_at": f"2026-01-01T00:00:{i:02d}Z"} for i in range(30)
    ]
    stored = session.post(f"{url}/api/test-runs/{run_id}/cpu-usage", json=samples, timeout=10)
    assert stored.status_code == 201, stored.text
    return run_id


@pytest.fixture(params=["sqlite", "mysql"], scope="module")
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per backend for the whole module; throttling off so generated logins do not lock us out."""
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        database = prepare("sqlite", f"sqlite+aiosqlite:///{tmp / 'cpumon.db'}")
        drop = None
    else:
        from tests.conftest import MYSQL_URL, _require, drop_mysql_database, mysql_database_url  # noqa: PLC0415

        _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
        url = mysql_database_url("fuzz")
        database = prepare("mysql", url)
        drop = url
    server = Server(
        settings=database.server_settings(
            CPUMON_LOGIN_MAX_FAILURES="1000000",
            CPUMON_LOGIN_ADDRESS_MAX_FAILURES="1000000",
            CPUMON_LOG_LEVEL="warning",
        ),
        log_path=Path(tmp / "server.log"),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if drop:
            from tests.conftest import drop_mysql_database  # noqa: PLC0415

            drop_mysql_database(drop)


def operation_ids() -> list[str]:
    """Every operation of the document, as 'METHOD /path' (the document is the app's: read it in-process)."""
    from litestar.testing import TestClient  # noqa: PLC0415

    from cpumon_backend.app import create_app  # noqa: PLC0415
    from cpumon_backend.settings import ServerSettings  # noqa: PLC0415

    app = create_app(ServerSettings(database_url="sqlite+aiosqlite:///:memory:", bcrypt_rounds=4))
    with TestClient(app) as client:
        document: dict[str, Any] = client.get("/schema/openapi.json").json()
    return [f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops]


OPERATIONS = operation_ids()


def _send_the_session_as_the_documented_auth(schema: Any, session: requests.Session) -> None:
    """The session cookie goes on each case as the document's cookie security scheme, so schemathesis
    knows it is the credential: its auth checks remove it (and expect 401) instead of finding it in a jar."""

    class SessionCookie:
        def get(self, case: schemathesis.Case[Any], ctx: Any) -> str | None:
            return session.cookies.get(COOKIE)

        def set(self, case: schemathesis.Case[Any], data: str, ctx: Any) -> None:
            case.cookies = {**(case.cookies or {}), COOKIE: data}

    schema.auth(refresh_interval=None)(SessionCookie)  # no caching: logins during the test change the cookie


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_operation_survives_generated_requests(fuzz_server: Server, operation_id: str) -> None:
    url = fuzz_server.url
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    method, path = operation_id.split(" ", 1)
    operation = schema[path][method]
    session = requests.Session()  # the test's own calls, logged in; generated requests get the cookie from auth
    login(session, url)
    run_ids = [new_run(session, url)]
    if path.endswith("/live"):
        # An open run's stream lasts as long as the run: a finished one answers `ended` and closes.
        finished = session.post(f"{url}/api/test-runs/{run_ids[0]}/finish", timeout=10)
        assert finished.status_code == 200, finished.text
    _send_the_session_as_the_documented_auth(schema, session)

    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        if "{run_id}" in path:
            strategies.append(operation.as_strategy(mode, path_parameters={"run_id": run_ids[0]}))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=FUZZ_EXAMPLES * len(strategies),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    def check(case: schemathesis.Case[Any]) -> None:
        if method == "DELETE" and case.path_parameters.get("run_id") == run_ids[0]:
            case.path_parameters["run_id"] = run_ids[0] = new_run(session, url)  # keep one to delete
        response = case.call(session=requests.Session(), timeout=30)
        excluded = [positive_data_acceptance] if breaks_a_rule_beyond_the_schema(response) else []
        try:
            case.validate_response(response, excluded_checks=excluded)
        finally:
            if path == "/api/auth/logout" or (path == "/api/auth/login" and response.status_code == 200):
                session.cookies.clear()
                login(session, url)

    check()
    assert fuzz_server.process is not None
    assert fuzz_server.process.poll() is None, fuzz_server.log()[-3000:]


#: Scenarios of the stateful phase and the most calls in one (each scenario starts from the operations
#: that create, then follows the links schemathesis finds: a run's id into its reads, samples and finish).
STATEFUL_SCENARIOS = int(os.environ.get("CPUMON_FUZZ_SCENARIOS", "30"))
STATEFUL_STEPS = 8


def test_sequences_of_calls_survive_generated_requests(fuzz_server: Server) -> None:
    """The stateful phase: generated chains of calls, where what one answer returns (a run's id) is
    used by the next request, pass the same checks as single calls, on each database."""
    url = fuzz_server.url
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    session = requests.Session()
    login(session, url)
    _send_the_session_as_the_documented_auth(schema, session)
    machine = schema.as_state_machine()  # infers the links between operations from the document
    linked = schema.operations_with_incoming_links()
    assert "GET /api/test-runs/{run_id}" in linked, linked  # a created run's id reaches its reads

    class Sequences(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"session": requests.Session(), "timeout": 30}

        def validate_response(
            self, response: Response, case: schemathesis.Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            excluded = [positive_data_acceptance] if breaks_a_rule_beyond_the_schema(response) else []
            try:
                case.validate_response(response, excluded_checks=excluded, transport_kwargs=kwargs or None)
            finally:
                if case.path == "/api/auth/logout" or (case.path == "/api/auth/login" and response.status_code == 200):
                    session.cookies.clear()
                    login(session, url)

    Sequences.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
    )
    assert fuzz_server.process is not None
    assert fuzz_server.process.poll() is None, fuzz_server.log()[-3000:]
