"""Capacity from a load test, per host: how much CPU each 1,000 requests/s costs, and the requests/s at
which CPU would reach the threshold, from a least-squares line of CPU against requests/s.

Each interval of the test (cpumon/locust_load.py) is one point: x its requests per second, y the
host's average CPU over it. The line y = a + b*x is fitted by least squares; b * 1,000 is the CPU
(percentage points) per 1,000 requests/s and (threshold - a) / b the projected requests/s at the
threshold. r² says how well the line explains CPU; a fit on too few points, on a load that hardly
varied, or with a low r², is no basis for a projection: it says "not enough variation in load".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpumon.locust_load import LoadInterval

MIN_POINTS = 4
#: The load must span at least this share of its peak (e.g. 0 to 100 req/s spans 100 %, 90 to 100 spans 10 %).
MIN_SPREAD = 0.3
MIN_R2 = 0.5
NO_VARIATION = "not enough variation in load"
NO_GROWTH = "CPU does not grow with load"

COLUMNS = (
    ("cpu_per_1000_rps", "CPU % per 1,000 req/s"),
    ("projected_rps", "Req/s at threshold"),
    ("r2", "Fit r²"),
)


@dataclass(frozen=True)
class Fit:
    intercept: float
    slope: float
    r2: float
    points: int
    spread: float  # (max x - min x) / max x


def least_squares(points: Sequence[tuple[float, float]]) -> Fit | None:
    """The line y = intercept + slope * x closest to `points`, with r²; None with fewer than 2 distinct x."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx <= 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for _, y in points)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in points)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    peak = max(x for x, _ in points)
    spread = (peak - min(x for x, _ in points)) / peak if peak > 0 else 0.0
    return Fit(intercept, slope, r2, n, spread)


@dataclass(frozen=True)
class Capacity:
    host: str
    threshold_percent: float
    fit: Fit | None
    verdict: str | None  # why there is no figure; None when there is one

    @property
    def cpu_per_1000_rps(self) -> float | None:
        return None if self.verdict or self.fit is None else self.fit.slope * 1000

    @property
    def projected_rps(self) -> float | None:
        if self.verdict or self.fit is None:
            return None
        return max(0.0, (self.threshold_percent - self.fit.intercept) / self.fit.slope)

    def row(self) -> dict[str, str]:
        """The figures as every table shows them; the verdict in place of the numbers."""
        r2 = "-" if self.fit is None else f"{self.fit.r2:.2f}"
        if self.verdict is not None:
            return {"cpu_per_1000_rps": self.verdict, "projected_rps": "-", "r2": r2}
        return {
            "cpu_per_1000_rps": f"{self.cpu_per_1000_rps:.1f}",
            "projected_rps": f"{self.projected_rps:,.0f}",
            "r2": r2,
        }


def points_of(host: str, intervals: Sequence[LoadInterval]) -> list[tuple[float, float]]:
    """(requests/s, CPU %) of each interval in which the host recorded samples."""
    found = []
    for interval in intervals:
        share = interval.cpu.get(host)
        if share is not None and interval.seconds > 0:
            found.append((interval.rps, share.avg_percent))
    return found


def capacity(host: str, intervals: Sequence[LoadInterval], threshold_percent: float) -> Capacity:
    fit = least_squares(points_of(host, intervals))
    verdict = None
    if fit is None or fit.points < MIN_POINTS or fit.spread < MIN_SPREAD or fit.r2 < MIN_R2:
        verdict = NO_VARIATION
    elif fit.slope <= 0:
        verdict = NO_GROWTH
    return Capacity(host, threshold_percent, fit, verdict)
