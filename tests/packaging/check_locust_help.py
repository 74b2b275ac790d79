"""Run with the python of a venv holding the `cpumon[locust]` wheel, outside the checkout: `locust -f
locustfile.py --help` lists the plugin's options, as a user's `pipx install 'cpumon[locust]'` would show them."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

LOCUSTFILE = """import cpumon.locust  # noqa: F401
from locust import HttpUser, task


class Visitor(HttpUser):
    @task
    def home(self) -> None:
        self.client.get("/")
"""

with tempfile.TemporaryDirectory() as folder:
    Path(folder, "locustfile.py").write_text(LOCUSTFILE)
    locust = Path(sys.executable).with_name("locust")
    command = [str(locust), "-f", "locustfile.py", "--help"]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120, check=False)
if result.returncode != 0 or "--cpumon-url" not in result.stdout or "--cpumon-max-above" not in result.stdout:
    sys.exit(f"locust --help in the installed wheel: exit {result.returncode}, no --cpumon-* options:\n{result.stdout}")
print("installed cpumon[locust]: locust -f locustfile.py --help lists the --cpumon-* options")
