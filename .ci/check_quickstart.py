"""Run the README's quick start exactly as written, the way a person would; with `install`, its install lines.

The demo line is started in a session of its own (like a terminal), left to store samples,
then interrupted with SIGINT as Ctrl-C would: the agent's report must be printed and every
process it started must be gone. The tests line is then run as it is.

`python3 .ci/check_quickstart.py install` runs the README's "Installing" lines as a newcomer would, in a
fresh venv and a fresh home: each `pip install` line as written from the checkout, then the server's lines
(migrate, create-user, serve) and the agent's line pointed at that server (stopped by --duration).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"


def section_commands(heading: str) -> list[str]:
    """The `$ ` command lines of the README section `## heading`, without their trailing comments."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [re.sub(r"\s+#.*$", "", line[2:]).strip() for line in section.splitlines() if line.startswith("$ ")]


def quick_start_lines() -> tuple[str, str]:
    lines = section_commands("Quick start")
    demo = next(line for line in lines if "demo" in line)
    tests = next(line for line in lines if "nox -s tests" in line)
    assert len(lines) == 2, f"the quick start should be two commands, found {lines}"
    return demo, tests


def stored_samples() -> int:
    database = DEMO_DIR / "cpumon.db"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return int(connection.execute("SELECT count(*) FROM cpu_usage").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(what: str, check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            sys.exit(f"quick start check: timed out after {within:.0f} s waiting for {what}")
        time.sleep(0.5)


def check_demo(line: str) -> None:
    print(f"quick start check: running {line!r}", flush=True)
    before = stored_samples()
    log = ROOT / ".demo-check.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(
            ["bash", "-c", line], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for("samples stored by the demo", lambda: stored_samples() >= before + 3 or demo.poll() is not None, 600)
        if demo.poll() is not None:
            sys.exit(f"quick start check: the demo exited early:\n{log.read_text()}")
        watch_live(log.read_text(errors="replace"))
        server_pid = int((DEMO_DIR / "server.pid").read_text())
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        code = demo.wait(timeout=120)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    print(text[-3000:])
    problems = []
    if code != 0:
        problems.append(f"exit code {code}")
    if "cpumon run report" not in text:
        problems.append("no report printed")
    if "Traceback" in text:
        problems.append("a traceback was printed")
    if psutil.pid_exists(server_pid) and psutil.Process(server_pid).status() != psutil.STATUS_ZOMBIE:
        problems.append(f"the API (pid {server_pid}) is still running")
    left = [p.pid for p in psutil.process_iter() if _session(p) == demo.pid]
    if left:
        problems.append(f"processes left behind: {left}")
    if problems:
        sys.exit("quick start check (demo): " + "; ".join(problems))
    print("quick start check: demo OK (samples stored, report printed, processes gone)")


def open_url(url: str, cookie: str = "", body: object = None) -> Any:
    """GET (or POST a JSON body) on the demo's own http://127.0.0.1 server, as a browser would."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Cookie": cookie}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - the URL the demo printed
    return urllib.request.urlopen(request, timeout=30)  # noqa: S310


def watch_live(printed: str) -> None:
    """What a new user does with the printed URL: the page, the login it names, the agent's run pushed live."""
    found = re.search(r"watch it live in a browser at (http://\S+?)/? \(log in as (\S+) / (\S+)\)", printed)
    if found is None:
        sys.exit(f"quick start check: the demo printed no dashboard URL:\n{printed}")
    url, username, password = found.groups()
    with open_url(f"{url}/") as page:
        if 'data-page="login"' not in page.read().decode():
            sys.exit("quick start check: the dashboard's URL does not show the login page")
    with open_url(f"{url}/api/auth/login", body={"username": username, "password": password}) as answer:
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
    with open_url(f"{url}/api/test-runs?limit=1", cookie) as runs:
        run = json.load(runs)["items"][0]
    if run["ended_at"] is not None:
        sys.exit("quick start check: the demo's newest run is not recording")
    with open_url(f"{url}/api/test-runs/{run['id']}/live", cookie) as events:
        deadline = time.monotonic() + 30
        for line in events:
            if line.startswith(b"event: samples"):
                print("quick start check: the dashboard's live feed pushed the agent's samples")
                return
            if time.monotonic() > deadline:
                break
    sys.exit("quick start check: no live samples from the demo's run within 30 s")


def _session(process: psutil.Process) -> int | None:
    try:
        return os.getsid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


INSTALL_PASSWORD = "install-check-password"  # noqa: S105 - a throwaway user in a temp home


def install_lines() -> tuple[list[str], list[str], str]:
    """The Installing section's pip lines, the server's three lines and the agent's line."""
    lines = section_commands("Installing")
    pip = [line for line in lines if line.startswith(("pip install .", "pip install '."))]
    server = [line for line in lines if line.startswith("cpumon-server")]
    agent = next(line for line in lines if line.startswith("cpumon "))
    assert len(pip) == 3, f"the agent, Locust and server installs, found {pip}"
    assert len(server) == 3, f"migrate, create-user and serve, found {server}"
    return pip, server, agent


def check_install() -> None:
    pip_lines, (migrate, create_user, serve), agent = install_lines()
    with tempfile.TemporaryDirectory(prefix="cpumon-install-") as home:
        venv = Path(home) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CPUMON_", "XDG_"))}
        env |= {"HOME": home, "PATH": f"{venv / 'bin'}:{env['PATH']}", "VIRTUAL_ENV": str(venv)}
        env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
        for line in [*pip_lines, "cpumon --help", "cpumon-server --help", "python -c 'import cpumon.locust'"]:
            run_line(line, env)
        run_line(migrate, env)
        run_line(create_user, env, stdin=f"{INSTALL_PASSWORD}\n")
        port = free_port()
        env["CPUMON_PORT"] = str(port)
        server = subprocess.Popen(["bash", "-c", serve], cwd=home, env=env, start_new_session=True)
        try:
            wait_for("the installed server's /health", lambda: answers(f"http://127.0.0.1:{port}/health"), 120)
            agent_env = env | {
                "CPUMON_API_URL": f"http://127.0.0.1:{port}",
                "CPUMON_USERNAME": "alice",
                "CPUMON_PASSWORD": INSTALL_PASSWORD,
            }
            report = run_line(f"{agent} --duration 2 --interval 0.5", agent_env)
            if "cpumon run report" not in report:
                sys.exit(f"install check: the installed agent printed no report:\n{report}")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    print("install check: every install line of the README works as written (agent, Locust, server)")


def run_line(line: str, env: dict[str, str], stdin: str | None = None) -> str:
    """One README line in bash, from the checkout (where `pip install .` is meant to run); exit on failure."""
    print(f"install check: running {line!r}", flush=True)
    command = ["bash", "-c", line]
    done = subprocess.run(
        command, cwd=ROOT, env=env, input=stdin, text=True, capture_output=True, check=False, timeout=900
    )
    if done.returncode != 0:
        sys.exit(f"install check: {line!r} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - the local server this check started
            return True
    except OSError:
        return False


def main() -> None:
    if sys.argv[1:] == ["install"]:
        check_install()
        return
    demo, tests = quick_start_lines()
    check_demo(demo)
    print(f"quick start check: running {tests!r}", flush=True)
    sys.exit(subprocess.run(["bash", "-c", tests], cwd=ROOT, check=False).returncode)


if __name__ == "__main__":
    main()
