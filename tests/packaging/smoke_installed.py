"""Run inside a venv where the `cpumon[server]` wheel is installed, from a directory outside the
checkout: migrate, create a user, serve, and log in, with nothing but the installed package."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def check_dashboard(url: str) -> None:
    """The wheel carries the built dashboard: the page and every file it links answer, with no Node here."""
    page = httpx.get(f"{url}/", timeout=10)
    assert page.status_code == 200, page.text
    assert "Content-Security-Policy" in page.headers
    linked = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert any(path.endswith(".js") for path in linked), page.text
    assert any(path.endswith(".css") for path in linked), page.text
    for path in linked:
        asset = httpx.get(f"{url}{path}", timeout=10)
        assert asset.status_code == 200, f"{path}: {asset.status_code}"
        assert len(asset.content) > 1000, path


def check_top_level_names() -> None:
    """The wheel installs only cpumon's own top-level names, never a generic `backend` or `database`; beside them
    only the .pth file that lets `locust --help` list the plugin's options (cpumon/locust/cpumon_locust_help.pth)."""
    from importlib.metadata import distribution  # noqa: PLC0415

    files = distribution("cpumon").files or []
    # Scripts are recorded under "..": only what lands in site-packages itself counts; a stray module shows as "x.py".
    top = {f.parts[0] for f in files if f.parts[0] != ".." and not f.parts[0].endswith(".dist-info")}
    expected = {"cpumon", "cpumon_backend", "cpumon_database", "cpumon_locust_help.pth"}
    assert top == expected, f"the wheel installs {sorted(top)}"


def main() -> None:
    bin_dir = Path(sys.executable).parent
    server = str(bin_dir / "cpumon-server")
    workdir = Path(tempfile.mkdtemp(prefix="cpumon-installed-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPUMON_")}
    env |= {"CPUMON_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'db.sqlite'}", "CPUMON_PORT": str(port)}
    import cpumon_backend  # noqa: PLC0415 - must come from site-packages, not a checkout

    assert "site-packages" in cpumon_backend.__file__, f"cpumon_backend imported from {cpumon_backend.__file__}"
    check_top_level_names()
    subprocess.run([server, "migrate"], env=env, cwd=workdir, check=True)
    subprocess.run([server, "create-user", "alice"], env=env, cwd=workdir, input=b"pw-alice-123\n", check=True)
    process = subprocess.Popen([server], env=env, cwd=workdir)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # generous: a busy 2-core CI machine
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "cpumon-server exited"
            assert time.monotonic() < deadline, "cpumon-server did not answer within 90 s"
            time.sleep(0.2)
        login = httpx.post(f"{url}/api/auth/login", json={"username": "alice", "password": "pw-alice-123"}, timeout=10)
        assert login.status_code == 200, login.text
        check_dashboard(url)
        # The docs page's own files ship in the wheel, Swagger UI's in its package: all served locally.
        for asset in ("/schema", "/schema/assets/swagger-init.js", "/schema/assets/swagger-ui-bundle.js"):
            assert httpx.get(f"{url}{asset}", timeout=10).status_code == 200, asset
        print(
            f"installed server: migrate, create-user, serve, login, dashboard and docs OK ({cpumon_backend.__file__})"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
