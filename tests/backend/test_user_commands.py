"""`cpumon-server delete-user | disable-user | enable-user | set-password`, on every backend.

Each ends the user's sessions at once (the database's or Redis's), which the user's open client
sees as 401 on its next request. Run in process (cpumon_backend.cli.main) with the settings in the
environment, as the command reads them.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cpumon_backend.app import create_app
from cpumon_backend.cli import main
from cpumon_backend.settings import ServerSettings
from tests.backend.conftest import PASSWORD, add_user, samples, start_run
from tests.backend.test_sessions_store import PROTECTED, sql, with_cookie
from tests.conftest import Backend

Client = TestClient[Litestar]
COOKIE = "cpumon_session"
NEW_PASSWORD = "a-new-password-42"


class Terminal(io.StringIO):
    """stdin as a terminal would be: `input()` reads its lines."""

    def isatty(self) -> bool:
        return True


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(settings: ServerSettings, tmp_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Factory: run `cpumon-server ARGS` with these settings, `stdin` as its input (a terminal if asked)."""
    tmp_env.setenv("CPUMON_DATABASE_URL", settings.database_url.get_secret_value())
    tmp_env.setenv("CPUMON_BCRYPT_ROUNDS", str(settings.bcrypt_rounds))
    tmp_env.setenv("CPUMON_SESSION_REDIS_PREFIX", settings.session_redis_prefix)
    if settings.session_redis_url is not None:
        tmp_env.setenv("CPUMON_SESSION_REDIS_URL", settings.session_redis_url.get_secret_value())

    def run(*args: str, stdin: str = "", terminal: bool = False) -> Outcome:
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stdin", Terminal(stdin) if terminal else io.StringIO(stdin))
            code = main(list(args))
        captured = capsys.readouterr()
        # The apps of the test log their requests to stderr too: only the command's own lines count.
        err = [line for line in captured.err.splitlines() if not line.startswith(("INFO - ", "DEBUG - "))]
        return Outcome(code, captured.out.strip(), "\n".join(err).strip())

    return run


Login = Callable[..., Client]


@pytest.fixture
def logged_in(settings: ServerSettings) -> Iterator[Login]:
    """Factory: a new user (unless `create=False`) logged in on an app of their own."""
    made: list[Client] = []

    def login(username: str, *, create: bool = True) -> Client:
        if create:
            add_user(settings, username)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        made.append(client)
        assert log_in(client, username) == 200
        return client

    yield login
    for client in made:
        client.__exit__(None, None, None)


def log_in(client: Client, username: str, password: str = PASSWORD) -> int:
    client.cookies.clear()
    return client.post("/api/auth/login", json={"username": username, "password": password}).status_code


def test_disable_user_ends_their_sessions_and_refuses_their_logins(cli: Cli, logged_in: Login) -> None:
    alice = logged_in("alice")
    bob = logged_in("bob")
    session_id = alice.cookies[COOKIE]
    outcome = cli("disable-user", "alice")
    assert outcome == Outcome(0, "cpumon-server: disabled user 'alice': their logins are refused; ended 1 session", "")
    for method, path in PROTECTED:
        assert with_cookie(alice, session_id, method, path) == 401, (method, path)
    alice.cookies.clear()
    refused = alice.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    wrong = alice.post("/api/auth/login", json={"username": "bob", "password": "not-bobs"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.json() == wrong.json()  # the same answer as a wrong password: nothing tells it apart
    assert "set-cookie" not in refused.headers
    assert bob.get("/api/auth/me").status_code == 200  # nobody else's session ends

    assert cli("disable-user", "alice").code == 0  # again: still disabled, nothing to end
    assert cli("enable-user", "ALICE").out == "cpumon-server: enabled user 'alice'; ended 0 sessions"
    assert log_in(alice, "alice") == 200


def test_set_password_ends_the_sessions_and_only_the_new_password_logs_in(cli: Cli, logged_in: Login) -> None:
    alice = logged_in("alice")
    session_id = alice.cookies[COOKIE]
    second = logged_in("alice", create=False)
    outcome = cli("set-password", "alice", stdin=f"{NEW_PASSWORD}\nignored\n")
    assert outcome == Outcome(0, "cpumon-server: set the password of user 'alice'; ended 2 sessions", "")
    assert NEW_PASSWORD not in outcome.out + outcome.err
    assert with_cookie(alice, session_id, "GET", "/api/auth/me") == 401
    assert second.get("/api/auth/me").status_code == 401
    assert log_in(alice, "alice") == 401
    assert log_in(alice, "alice", NEW_PASSWORD) == 200


def test_set_password_refuses_a_short_password_and_changes_nothing(cli: Cli, logged_in: Login) -> None:
    alice = logged_in("alice")
    outcome = cli("set-password", "alice", stdin="short\n")
    assert outcome.code == 1
    assert outcome.err.startswith("cpumon-server: the password has 5 characters, at least 10 are needed")
    assert alice.get("/api/auth/me").status_code == 200
    assert log_in(alice, "alice") == 200


def test_delete_user_deletes_their_runs_and_ends_their_sessions(
    cli: Cli, logged_in: Login, settings: ServerSettings
) -> None:
    alice = logged_in("alice")
    bob = logged_in("bob")
    session_id = alice.cookies[COOKIE]
    for _ in range(2):
        run = start_run(alice)
        assert alice.post(f"/api/test-runs/{run['id']}/cpu-usage", json=samples(5)).status_code == 201
    kept = start_run(bob)
    outcome = cli("delete-user", "alice", "--yes")
    assert outcome == Outcome(
        0, "cpumon-server: deleted user 'alice' and their 2 test runs (with their samples); ended 1 session", ""
    )
    for method, path in PROTECTED:
        assert with_cookie(alice, session_id, method, path) == 401, (method, path)
    assert sql(settings, "SELECT count(*) FROM users WHERE username = 'alice'") == [(0,)]
    assert sql(settings, "SELECT count(*) FROM test_runs") == [(1,)]
    assert sql(settings, "SELECT count(*) FROM cpu_usage") == [(0,)]
    assert [r["id"] for r in bob.get("/api/test-runs").json()["items"]] == [kept["id"]]
    assert log_in(alice, "alice") == 401
    # A new user with the same name is someone else: the old cookie does not open their account.
    add_user(settings, "alice")
    assert with_cookie(alice, session_id, "GET", "/api/auth/me") == 401


def test_delete_user_asks_first(cli: Cli, logged_in: Login, settings: ServerSettings) -> None:
    alice = logged_in("alice")
    start_run(alice)
    what = "user 'alice' and their 1 test run (with their samples)"

    scripted = cli("delete-user", "alice")
    assert scripted == Outcome(
        1, "", f"cpumon-server: not deleted: confirm on a terminal, or pass --yes to delete {what}"
    )
    declined = cli("delete-user", "alice", stdin="n\n", terminal=True)
    assert declined.code == 1
    assert declined.out == f"Delete {what}? [y/N]"
    assert declined.err == f"cpumon-server: not deleted: {what} kept"
    assert alice.get("/api/auth/me").status_code == 200  # nothing happened

    confirmed = cli("delete-user", "alice", stdin="y\n", terminal=True)
    assert confirmed.code == 0
    assert confirmed.out.endswith(f"cpumon-server: deleted {what}; ended 1 session")
    assert sql(settings, "SELECT count(*) FROM users WHERE username = 'alice'") == [(0,)]


@pytest.mark.parametrize("command", ["delete-user", "disable-user", "enable-user", "set-password"])
def test_an_unknown_user_is_one_line(cli: Cli, command: str) -> None:
    yes = ["--yes"] if command == "delete-user" else []
    outcome = cli(command, "nobody", *yes, stdin=f"{NEW_PASSWORD}\n")
    assert outcome == Outcome(1, "", "cpumon-server: no user 'nobody'")


def test_an_unmigrated_database_is_one_line(
    tmp_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_env.setenv("CPUMON_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert main(["disable-user", "alice"]) == 1
    assert capsys.readouterr().err.strip() == (
        "cpumon-server: the database is not migrated: run `cpumon-server migrate` first"
    )


def test_redis_away_says_what_was_done_and_to_run_again(
    sqlite_backend: Backend, tmp_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.backend.test_unavailable import closed_port  # noqa: PLC0415

    settings = sqlite_backend.settings()
    add_user(settings, "carol")
    tmp_env.setenv("CPUMON_DATABASE_URL", settings.database_url.get_secret_value())
    tmp_env.setenv("CPUMON_SESSION_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    assert main(["disable-user", "carol"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(
        "cpumon-server: disabled user 'carol': their logins are refused, but their sessions could not be ended"
    )
    assert error.endswith("check CPUMON_SESSION_REDIS_URL and run the command again")
    assert len(error.splitlines()) == 1
    assert sql(settings, "SELECT disabled_at IS NOT NULL FROM users WHERE username = 'carol'") == [(1,)]
