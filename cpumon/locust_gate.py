"""Pure logic of the strict gate: --cpumon-max-above needs cpumon data for the test window.

A gate that cannot see any CPU must not pass: no agent recording, an API that did not answer, or a
password it refused all fail the run with their own message and exit code (NO_DATA_EXIT_CODE),
unless --cpumon-allow-missing says a run without data may pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from cpumon.locust_figures import HostFigures

NO_DATA_EXIT_CODE = 6  # beside the gate's 5 (a host too long above its threshold)


def missing_data(figures: Sequence[HostFigures] | None, named_hosts: Sequence[str], why: str | None) -> str | None:
    """Why the gate has no data to judge (None when it has): every named host, or some host, needs samples."""
    if figures is None:
        return f"no cpumon data for the test window: {why or 'the API could not be read'}"
    sampled = {f.host for f in figures if f.samples > 0}
    if named_hosts:
        lacking = [host for host in named_hosts if host not in sampled]
        if lacking:
            return f"no cpumon data for the test window from {', '.join(lacking)}: is an agent recording there?"
        return None
    if not sampled:
        return "no cpumon data for the test window: no agent of yours recorded any host during the test"
    return None


def gate_message(reason: str) -> str:
    return f"cpumon: {reason}; --cpumon-max-above cannot judge the run (--cpumon-allow-missing lets it pass)"
