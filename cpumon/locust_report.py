"""Pure logic: the capacity figures and charts of a load test as each output shows them (the end table,
the web tab's columns, the HTML report's section, the CSV files).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from cpumon import locust_capacity
from cpumon.locust_capacity import Capacity, capacity
from cpumon.locust_chart import Marker, capacity_section, host_chart
from cpumon.locust_figures import HostFigures
from cpumon.locust_load import LoadInterval

COLUMNS = locust_capacity.COLUMNS
INTERVAL_COLUMNS = ("host", "window_from", "window_to", "requests", "rps", "p95_ms", "cpu_percent", "samples")


@dataclass(frozen=True)
class CapacityView:
    capacities: list[Capacity]
    intervals: Sequence[LoadInterval]
    markers: Sequence[Marker]
    span: tuple[dt.datetime, dt.datetime] | None

    @classmethod
    def of(
        cls,
        hosts: Sequence[HostFigures],
        intervals: Sequence[LoadInterval],
        markers: Sequence[Marker],
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> CapacityView:
        """Each host's capacity against its own threshold, over the test's intervals so far."""
        capacities = [capacity(h.host, intervals, h.threshold_percent) for h in hosts]
        span = None
        if start is not None:
            span = (start, end or (intervals[-1].end if intervals else start))
        return cls(capacities, list(intervals), list(markers), span)

    def rows(self) -> dict[str, dict[str, str]]:
        """host -> the capacity cells of the web tab's row."""
        return {c.host: c.row() for c in self.capacities}

    def charts(self) -> list[str]:
        return [
            host_chart(c.host, self.intervals, c.threshold_percent, self.markers, self.span) for c in self.capacities
        ]

    def html_section(self) -> str:
        return capacity_section(self.capacities, self.charts())

    def live_fragment(self) -> str:
        """What the web tab shows under its table: one chart per host."""
        charts = "".join(f'<div class="cpumon-chart">{chart}</div>' for chart in self.charts())
        return charts or "<p>No host recorded by cpumon yet.</p>"

    def text(self) -> str:
        """The end-of-test capacity table, aligned like Locust's own tables."""
        titles = ["Host", *(title for _, title in COLUMNS)]
        rows = [[c.host, *(c.row()[key] for key, _ in COLUMNS)] for c in self.capacities]
        widths = [max(len(cell) for cell in column) for column in zip(titles, *rows, strict=False)]
        line = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def render(cells: Sequence[str]) -> str:
            return "  ".join(
                [cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
            )

        head = "Capacity (cpumon): CPU against requests/s over the test's intervals"
        body = [render(row) for row in rows] or ["(no host to fit)"]
        # Indented under its heading: a line that starts with a host name is the figures table's.
        return "\n".join([head, *(f"  {text}" for text in [render(titles), line, *body, line])])

    def capacity_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["host", *(key for key, _ in COLUMNS), "intercept_percent", "points", "threshold_percent"])
        for c in self.capacities:
            fit = c.fit
            per_1000 = "" if c.cpu_per_1000_rps is None else f"{c.cpu_per_1000_rps:.3f}"
            projected = "" if c.projected_rps is None else f"{c.projected_rps:.1f}"
            writer.writerow(
                [
                    c.host,
                    per_1000 or c.verdict,
                    projected,
                    "" if fit is None else f"{fit.r2:.4f}",
                    "" if fit is None else f"{fit.intercept:.3f}",
                    0 if fit is None else fit.points,
                    f"{c.threshold_percent:g}",
                ]
            )
        return buffer.getvalue()

    def intervals_csv(self) -> str:
        """Every interval of every host: the points of the fit, each with the window the API summarised."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(INTERVAL_COLUMNS)
        for c in self.capacities:
            for i in self.intervals:
                share = i.cpu.get(c.host)
                writer.writerow(
                    [
                        c.host,
                        i.start.isoformat(),
                        i.end.isoformat(),
                        i.requests,
                        f"{i.rps:.3f}",
                        "" if i.p95_ms is None else f"{i.p95_ms:g}",
                        "" if share is None else f"{share.avg_percent:.6f}",
                        0 if share is None else share.samples,
                    ]
                )
        return buffer.getvalue()
