"""The OpenAPI document says of each request body what the server does: required exactly when the
server refuses a request without one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.backend.conftest import start_run

Client = TestClient[Litestar]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_body_is_documented_as_required_exactly_when_the_server_requires_it(alice: Client) -> None:
    document: dict[str, Any] = alice.get("/schema/openapi.json").json()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation or path in {"/api/auth/login", "/api/auth/logout"}:
                continue
            run_id = start_run(alice)["id"]
            response = alice.request(method.upper(), re.sub(r"\{run_id\}", run_id, path))
            refused = response.status_code in {400, 415}  # no body, or none of JSON
            assert operation["requestBody"]["required"] is refused, (method, path, response.status_code)
            checked += 1
    assert checked >= 3  # start, finish, samples
    login = alice.post("/api/auth/login")  # the login's body is required too
    assert login.status_code in {400, 415}
    assert document["paths"]["/api/auth/login"]["post"]["requestBody"]["required"] is True
