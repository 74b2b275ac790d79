"""CPU readings from psutil."""

from __future__ import annotations

import psutil


class CpuSampler:
    """System-wide CPU usage since the previous reading, in percent of all cores.

    psutil measures between two calls, so the first call only primes the counters and
    its value (0.0, or usage since boot) is thrown away.
    """

    def prime(self) -> None:
        psutil.cpu_percent(interval=None)

    def read(self) -> float:
        value = float(psutil.cpu_percent(interval=None))
        # Rounding in the kernel's tick counts can give -0.0 or a hair over 100: the API takes 0-100.
        return min(100.0, max(0.0, value))
