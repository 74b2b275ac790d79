"""The plugin's command-line options, added to Locust's parser by `import cpumon.locust`.

No Locust import: the .pth hook that makes `locust --help` list them (cpumon/locust/cpumon_locust_help.pth)
and the tests read them without gevent's monkey-patching.
"""

from __future__ import annotations

from typing import Any

from cpumon.locust_gate import NO_DATA_EXIT_CODE
from cpumon.locust_load import INTERVAL_S


def add_options(parser: Any) -> None:
    group = parser.add_argument_group("cpumon", "CPU of the system under test, recorded by cpumon agents")
    group.add_argument("--cpumon-url", env_var="LOCUST_CPUMON_URL", help="the cpumon API (default: CPUMON_API_URL)")
    group.add_argument("--cpumon-username", env_var="LOCUST_CPUMON_USERNAME", help="default: CPUMON_USERNAME")
    group.add_argument(
        "--cpumon-hosts",
        env_var="LOCUST_CPUMON_HOSTS",
        help="host1,host2: the machines to show (default: every host with a run of yours during the test)",
    )
    group.add_argument("--cpumon-threshold", type=float, env_var="LOCUST_CPUMON_THRESHOLD", help="percent")
    group.add_argument(
        "--cpumon-max-above",
        type=float,
        env_var="LOCUST_CPUMON_MAX_ABOVE",
        help="seconds: exit non-zero (5) when a host spent longer above the threshold during the test; "
        f"with no cpumon data for the test window, exit {NO_DATA_EXIT_CODE} (see --cpumon-allow-missing)",
    )
    group.add_argument(
        "--cpumon-interval",
        type=float,
        default=INTERVAL_S,
        env_var="LOCUST_CPUMON_INTERVAL",
        help=f"seconds: the length of the intervals the chart and the capacity fit use (default {INTERVAL_S:g})",
    )
    group.add_argument(
        "--cpumon-allow-missing",
        action="store_true",
        default=False,
        env_var="LOCUST_CPUMON_ALLOW_MISSING",
        help="let --cpumon-max-above pass a run without cpumon data (no agent recording, API unreachable, "
        "login refused) instead of failing it",
    )
