"""`cpumon-server` as a user runs it: migrate, create-user, serve."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cpumon_backend.storage.migrations import head_revision
from tests.conftest import MYSQL_URL, _require, drop_mysql_database, mysql_database_url
from tests.support.server import ServerProcess

SERVER = [sys.executable, "-m", "cpumon_backend.cli"]


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVER, *args], check=False, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def env_over(database: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CPUMON_")}
    return {**base, "CPUMON_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "CPUMON_BCRYPT_ROUNDS": "4"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return env_over(tmp_path / "db.sqlite")


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database `cpumon-server migrate` made once; the tests about other commands start from a copy
    (a migrate subprocess per test cost a second of CPU each; test_migrate_is_idempotent checks migrate)."""
    database = tmp_path_factory.mktemp("migrated") / "db.sqlite"
    migrated = run(["migrate"], env_over(database))
    assert migrated.returncode == 0, migrated.stderr
    return database


@pytest.fixture
def migrated(env: dict[str, str], migrated_template: Path, tmp_path: Path) -> dict[str, str]:
    """`env` over a migrated database of this test's own."""
    shutil.copyfile(migrated_template, tmp_path / "db.sqlite")
    return env


def test_create_user_before_migrate_says_what_to_do(env: dict[str, str]) -> None:
    result = run(["create-user", "alice"], env, "pw\n")
    assert result.returncode == 1
    assert result.stderr.strip() == "cpumon-server: the database is not migrated: run `cpumon-server migrate` first"


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    first = run(["migrate"], env)
    assert first.returncode == 0
    assert first.stdout.strip() == f"cpumon-server: created the schema at revision {head_revision()}"
    again = run(["migrate"], env)
    assert again.returncode == 0
    assert again.stdout.strip() == f"cpumon-server: database is at the latest migration (revision {head_revision()})"


def test_create_user_reads_the_password_from_stdin(migrated: dict[str, str]) -> None:
    result = run(["create-user", "alice"], migrated, "s3cret-pass\nignored second line\n")
    assert result.returncode == 0, result.stderr
    assert "s3cret-pass" not in result.stdout + result.stderr
    duplicate = run(["create-user", "alice"], migrated, "other-password\n")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == (
        "cpumon-server: user 'alice' already exists (usernames ignore case, width and invisible characters)"
    )


def test_create_user_reads_the_password_from_env_when_stdin_is_empty(migrated: dict[str, str]) -> None:
    result = run(["create-user", "bob"], {**migrated, "CPUMON_NEW_USER_PASSWORD": "from-env-password"}, "")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("username", "password", "says"),
    [("alice", "", "invalid user"), ("has space", "pw", "invalid user"), ("alice", "x" * 73, "72 bytes")],
)
def test_create_user_refuses_bad_input(migrated: dict[str, str], username: str, password: str, says: str) -> None:
    result = run(["create-user", username], migrated, password + "\n")
    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_create_user_refuses_a_short_password_and_says_why(migrated: dict[str, str]) -> None:
    result = run(["create-user", "alice"], migrated, "nine-char\n")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("cpumon-server: the password has 9 characters, at least 10 are needed")
    assert "guessed" in result.stderr
    assert "nine-char" not in result.stderr
    shorter = run(["create-user", "alice"], {**migrated, "CPUMON_PASSWORD_MIN_LENGTH": "8"}, "nine-char\n")
    assert shorter.returncode == 0, shorter.stderr


def test_there_is_no_password_flag(env: dict[str, str]) -> None:
    result = run(["create-user", "alice", "--password", "x"], env)
    assert result.returncode == 2


def test_bad_setting_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    result = run(["migrate"], {**env, "CPUMON_PORT": "http"})
    assert result.returncode == 2
    assert result.stderr.startswith("cpumon-server: bad setting CPUMON_PORT")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_line(env: dict[str, str]) -> None:
    url = "mysql+asyncmy://root@127.0.0.1:9/cpumon"
    result = run(["migrate"], {**env, "CPUMON_DATABASE_URL": url, "CPUMON_DATABASE_CONNECT_TIMEOUT": "1"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "cpumon-server: cannot use the database: Can't connect to MySQL server on '127.0.0.1' "
        "([Errno 111] Connect call failed ('127.0.0.1', 9)) (error 2003); "
        "check CPUMON_DATABASE_URL"
    )
    assert "Traceback" not in result.stderr


@pytest.fixture
def served(env: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """migrate && create-user alice && cpumon-server, as the README says (extra env: indirect param)."""
    env = {**env, **getattr(request, "param", {})}
    assert run(["migrate"], env).returncode == 0
    assert run(["create-user", "alice"], env, "alice-password\n").returncode == 0
    with ServerProcess(command=SERVER, env=env, log_path=tmp_path / "server.log") as server:
        yield server.url


def test_served_api_works_end_to_end(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        assert client.get("/ready").json() == {"status": "ready"}
        assert (
            client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"}).status_code == 200
        )
        run_id = client.post("/api/test-runs", json={"name": "cli"}).json()["id"]
        stored = client.post(f"/api/test-runs/{run_id}/cpu-usage", json=[{"cpu_percent": 1.5, "seq": 0}])
        assert stored.json() == {"inserted": 1, "duplicates": 0}
        assert client.get("/schema/openapi.json").status_code == 200
        assert "server" not in client.get("/health").headers  # no software banner


THROTTLED_SOON = {"CPUMON_LOGIN_MAX_FAILURES": "2", "CPUMON_LOGIN_ADDRESS_MAX_FAILURES": "2"}


def fail_logins_from(client: httpx.Client, address: str, names: list[str]) -> list[int]:
    body = {"password": "wrong"}
    headers = {"x-forwarded-for": address}
    return [client.post("/api/auth/login", json={**body, "username": n}, headers=headers).status_code for n in names]


@pytest.mark.parametrize("served", [{**THROTTLED_SOON, "CPUMON_FORWARDED_ALLOW_IPS": "127.0.0.1"}], indirect=True)
def test_a_trusted_proxy_names_the_client(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        assert fail_logins_from(client, "203.0.113.1", ["u1", "u2", "u3"]) == [401, 401, 429]
        # Another client behind the same proxy has its own count.
        assert fail_logins_from(client, "203.0.113.2", ["u4"]) == [401]


@pytest.mark.parametrize("served", [THROTTLED_SOON], indirect=True)
def test_forwarded_headers_are_ignored_without_trusted_proxies(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        assert fail_logins_from(client, "203.0.113.1", ["u1", "u2"]) == [401, 401]
        # A forged header does not buy a fresh count: the connection's address is what counts.
        assert fail_logins_from(client, "198.51.100.7", ["u3"]) == [429]


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_concurrent_migrates_one_creates_the_others_find_it_current(
    kind: str, env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Replicas starting together each run `migrate`: they take turns, and each says what it found."""
    if kind == "mysql":
        _require(MYSQL_URL, "CPUMON_TEST_MYSQL_URL")
        url = mysql_database_url("concurrent_migrate")
        request.addfinalizer(lambda: drop_mysql_database(url))
        env = {**env, "CPUMON_DATABASE_URL": url}
    migrators = [
        subprocess.Popen([*SERVER, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    said = []
    for process in migrators:
        out, err = process.communicate(timeout=180)
        said.append((process.returncode, out, err))
    assert [code for code, _, _ in said] == [0, 0, 0], said
    outputs = sorted(out.strip() for _, out, _ in said)
    head = head_revision()
    assert outputs == [
        f"cpumon-server: created the schema at revision {head}",
        f"cpumon-server: database is at the latest migration (revision {head})",
        f"cpumon-server: database is at the latest migration (revision {head})",
    ], said
