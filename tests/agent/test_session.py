"""Log in once: the saved session file, the one re-login flow, and asking again for a typed password."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from cpumon.api import ApiClient, ApiUnauthorizedError
from cpumon.credentials import PROMPT_TRIES, Credentials
from cpumon.session import SessionFile
from cpumon.settings import load_settings

from .fake_api import FakeApi

URL = "http://api.test"


def credentials(typed: list[str], **settings: str) -> tuple[Credentials, list[str]]:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return typed.pop(0)

    values = {"api_url": URL, "username": "ada", **settings}
    return Credentials(load_settings(values), interactive=lambda: True, ask=ask), prompts


def client(api: FakeApi, password: SecretStr | Credentials, session: SessionFile | None = None) -> ApiClient:
    return ApiClient(
        URL, "ada", password, connect_timeout=1, request_timeout=1, transport=api.transport(), session=session
    )


class CookieApi(FakeApi):
    """FakeApi with a session cookie: requests without the current one answer 401."""

    current = "s1"

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/login":
            response = super().handle(request)
            if response.status_code == 200:
                self.current = f"s{self.logins}"
                response.headers["Set-Cookie"] = f"session={self.current}; Path=/; Max-Age=3600"
            return response
        if request.headers.get("Cookie") != f"session={self.current}":
            self.requests.append(f"{request.method} {request.url.path} (401)")
            return httpx.Response(401, json={"status_code": 401, "detail": "not logged in"})
        return super().handle(request)


async def test_a_typed_password_the_api_refuses_is_asked_again(tmp_path: Path) -> None:
    api = FakeApi(password="right")
    creds, prompts = credentials(["typo", "right"])
    await client(api, creds).login()
    assert len(prompts) == 2
    assert api.logins == 2


async def test_three_refused_typed_passwords_end_with_a_message_naming_the_prompt(tmp_path: Path) -> None:
    api = FakeApi(password="right")
    creds, prompts = credentials(["a", "b", "c", "right"])
    with pytest.raises(ApiUnauthorizedError):
        await client(api, creds).login()
    assert len(prompts) == PROMPT_TRIES
    assert "typed at the prompt (3 tries)" in creds.describe_source()


async def test_a_password_from_the_environment_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPUMON_PASSWORD", "wrong")
    api = FakeApi(password="right")
    creds, prompts = credentials([], password="wrong")
    with pytest.raises(ApiUnauthorizedError):
        await client(api, creds).login()
    assert prompts == []
    assert api.logins == 1
    assert "CPUMON_PASSWORD" in creds.describe_source()


async def test_the_session_is_saved_private_and_reused_by_the_next_client(tmp_path: Path) -> None:
    api = CookieApi()
    session = SessionFile(URL, "ada", tmp_path / "sessions")
    first = client(api, SecretStr("pw"), session)
    await first.login()
    await first.aclose()
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(session.path.parent.stat().st_mode) == 0o700
    assert session.load() == {"session": "s1"}

    second = client(api, SecretStr("pw"), SessionFile(URL, "ada", tmp_path / "sessions"))
    await second.start_session()
    await second.get("/api/test-runs?limit=1")
    await second.aclose()
    assert api.logins == 1  # the saved session served the second client
    assert SessionFile(URL, "bob", tmp_path / "sessions").load() == {}  # one file per API URL and user


async def test_a_refused_session_gets_one_login_and_the_request_again(tmp_path: Path) -> None:
    api = CookieApi()
    session = SessionFile(URL, "ada", tmp_path / "sessions")
    api_client = client(api, SecretStr("pw"), session)
    await api_client.login()
    api.current = "expired-on-the-server"
    body = await api_client.get("/api/test-runs?limit=1")
    await api_client.aclose()
    assert body == {"items": [], "total": 0}
    assert api.logins == 2
    assert session.load() == {"session": "s2"}  # the new session replaced the refused one on disk


async def test_an_expired_saved_session_is_not_used(tmp_path: Path) -> None:
    session = SessionFile(URL, "ada", tmp_path)
    session.save(httpx.Cookies({"session": "old"}))
    assert session.load() == {"session": "old"}
    session.path.write_text(session.path.read_text().replace('"expires": null', '"expires": 1'))
    assert session.load() == {}
