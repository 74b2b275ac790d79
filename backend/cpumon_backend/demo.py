"""`nox -s demo`: the API on an embedded SQLite database in ./.demo, a local demo user, the agent.

The agent runs in the foreground and owns the terminal: Ctrl-C reaches it (and this process,
which ignores it), the agent flushes and prints its report, then this process stops the API.
The API runs in a session of its own so the terminal's Ctrl-C does not stop it before the agent
has delivered its last samples.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEMO_USER = "demo"
# Local only: the demo database lives in ./.demo and the API listens on 127.0.0.1.
DEMO_PASSWORD = "demo-password"  # noqa: S105
# A first start compiles every module to bytecode; on a busy 2-core machine that took over 30 s.
START_DEADLINE_S = 120.0


def free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def base_env() -> dict[str, str]:
    """This environment without CPUMON_* settings, so a developer's shell cannot redirect the demo."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CPUMON_") or k == "CPUMON_DEMO_DIR"}


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cpumon_backend.cli", *args]


def prepare(env: dict[str, str]) -> None:
    subprocess.run(server_command("migrate"), env=env, check=True, stdout=subprocess.DEVNULL)
    created = subprocess.run(
        server_command("create-user", DEMO_USER),
        env=env,
        input=DEMO_PASSWORD + "\n",
        text=True,
        capture_output=True,
        check=False,
    )
    if created.returncode != 0 and "already exists" not in created.stderr:
        sys.exit(created.stderr.strip() or "cpumon demo: could not create the demo user")


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"cpumon demo: the API exited early; see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"cpumon demo: the API did not answer within {START_DEADLINE_S:.0f} s; see {log}")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main(agent_args: list[str]) -> int:
    demo_dir = Path(os.environ.get("CPUMON_DEMO_DIR", ".demo")).resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(8000)
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **base_env(),
        "CPUMON_DATABASE_URL": f"sqlite+aiosqlite:///{demo_dir / 'cpumon.db'}",
        "CPUMON_HOST": "127.0.0.1",
        "CPUMON_PORT": str(port),
        "CPUMON_LOG_LEVEL": "warning",
    }
    prepare(server_env)
    log = demo_dir / "server.log"
    with log.open("ab") as log_file:
        server = subprocess.Popen(
            server_command(), env=server_env, stdout=log_file, stderr=log_file, start_new_session=True
        )
    (demo_dir / "server.pid").write_text(f"{server.pid}\n")
    # Ctrl-C is for the agent; this process waits for it and then stops the API.
    signal.signal(signal.SIGINT, lambda *_: None)
    try:
        wait_until_healthy(url, server, log)
        config = demo_dir / "config.toml"
        config.touch()
        agent_env = {
            **base_env(),
            "CPUMON_CONFIG": str(config),
            "CPUMON_API_URL": url,
            "CPUMON_USERNAME": DEMO_USER,
            "CPUMON_PASSWORD": DEMO_PASSWORD,
            "CPUMON_SPOOL_DIR": str(demo_dir / "spool"),
        }
        print(f"cpumon demo: API on {url} (SQLite in {demo_dir}), user {DEMO_USER!r}. Ctrl-C for the report.")
        print(f"cpumon demo: watch it live in a browser at {url}/ (log in as {DEMO_USER} / {DEMO_PASSWORD})")
        sys.stdout.flush()
        return subprocess.run([sys.executable, "-m", "cpumon", *agent_args], env=agent_env, check=False).returncode
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
