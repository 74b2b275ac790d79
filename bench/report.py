"""Targets, the results table (rich) and the JSON file."""

from __future__ import annotations

import json
import operator
import os
import platform
import socket
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


@dataclass(frozen=True)
class Target:
    metric: str
    op: str
    value: float
    unit: str = ""

    def met(self, figure: float | None) -> bool:
        return figure is not None and _OPS[self.op](figure, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}{self.unit}"


def at_least(metric: str, value: float, unit: str = "") -> Target:
    return Target(metric, ">=", value, unit)


def at_most(metric: str, value: float, unit: str = "") -> Target:
    return Target(metric, "<=", value, unit)


MS, S, MB = " ms", " s", " MB"
NO_ERRORS = Target("errors", "==", 0)
NONE_LOST = Target("lost", "==", 0)
#: The rate is shown with a target of its own only where the issue sets one (W2); elsewhere it must just be there.
ANY_RATE = at_least("samples_per_s", 0, "/s")
SERVER_CPU = at_most("server_cpu_ms_per_request", 0.8, MS)

#: The issue's targets, for MariaDB on a 2-core machine. "ratio" is the figure divided by its ceiling.
TARGETS: dict[str, list[Target]] = {
    "W1": [at_least("ratio", 0.8, "x serial bound"), ANY_RATE, SERVER_CPU],
    "W1b": [at_least("ratio", 0.53, "x raw"), ANY_RATE],
    "W2": [at_least("samples_per_s", 1000, "/s"), at_most("p99_ms", 150, MS), NO_ERRORS, SERVER_CPU],
    "W3": [NONE_LOST, at_most("p99_ms", 50, MS), NO_ERRORS],
    "W3-1000": [NONE_LOST, at_most("p99_ms", 100, MS), NO_ERRORS],
    "W4": [
        *(at_most(f"{read}_s", limit, S) for read, limit in (("cursor", 1), ("csv", 0.5))),
        *(at_most(f"{read}_server_cpu_s", limit, S) for read, limit in (("csv", 0.5), ("cursor", 1))),
        *(at_most(f"{read}_rss_growth_mb", 50, MB) for read in ("cursor", "csv")),
    ],
    "W5": [at_most("cpu_pct", 0.5, " %"), at_most("rss_mb", 60, MB)],
    "W7": [at_least("ratio", 0.9, "x no pages"), NO_ERRORS, at_least("points_per_page", 1)],
    "W6": [  # issue 25
        at_most("whole_run_ms", 50, MS),
        at_most("whole_vs_small", 3, "x"),
        at_most("hour_window_ms", 30, MS),
        at_most("list_page_ms", 150, MS),
        at_most("series_500_ms", 100, MS),
        at_most("locust_poll_db_ms", 10, MS),
    ],
}

TITLES = {
    "W1": "1 client, single-sample POSTs",
    "W1b": "1 client, batches of 1,000",
    "W2": "100 clients, single-sample POSTs",
    "W3": "300 agents, 1 sample/s each",
    "W3-1000": "1,000 agents, 2 workers",
    "W4": "100k-sample run read back",
    "W5": "the agent, 1 s interval",
    "W7": "ingest with 100 live pages open",
    "W6": "summaries of a 1M-sample run",
}

#: Which ceiling each workload's "ratio" divides by, and the ceiling's figure.
CEILING_FIGURE = {"W1": "serial_per_s", "W2": "requests_per_s", "W1b": "rows_per_s", "W4": "seconds"}
OWN_FIGURE = {"W1": "samples_per_s", "W2": "samples_per_s", "W1b": "samples_per_s"}
CEILING_FIGURE["W7"] = OWN_FIGURE["W7"] = "samples_per_s"  # W7's ceiling: the same ingest with no page open


@dataclass
class Outcome:
    """One workload on one database: a figures dict per repetition, and its ceiling's per repetition."""

    workload: str
    db: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    ceiling: list[dict[str, Any]] = field(default_factory=list)
    ceiling_name: str = ""
    note: str = ""
    error: str | None = None

    def add_ratios(self) -> None:
        own, theirs = OWN_FIGURE.get(self.workload), CEILING_FIGURE.get(self.workload)
        if own is None or theirs is None:
            return
        for run, ceiling in zip(self.runs, self.ceiling, strict=False):
            if ceiling.get(theirs):
                run["ratio"] = round(run[own] / ceiling[theirs], 3)

    def verdicts(self) -> list[dict[str, Any]]:
        found = []
        for target in TARGETS.get(self.workload, []):
            values = [run.get(target.metric) for run in self.runs]
            found.append(
                {
                    "metric": target.metric,
                    "target": str(target),
                    "values": values,
                    "met": bool(values) and all(target.met(v) for v in values),
                }
            )
        return found

    @property
    def correct(self) -> bool:
        """Nothing lost or stored twice, and big reads complete: a failure here is a bug, not slowness."""
        for run in self.runs:
            readback = run.get("readback", {})
            # An acknowledged sample that is not stored, or a sample stored twice, is a bug. A refused
            # request (503 under overload) is not: it shows in `errors` and `lost` against the targets.
            if readback.get("lost_acknowledged") or readback.get("duplicates"):
                return False
            if run.get("complete") is False:
                return False
            if self.workload == "W5" and run.get("lost"):
                return False
        return self.error is None


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in (
        "litestar",
        "uvicorn",
        "sqlalchemy",
        "advanced-alchemy",
        "asyncmy",
        "aiosqlite",
        "httpx",
        "uvloop",
        "httptools",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": _git_commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _git_commit() -> str | None:
    if os.environ.get("CPUMON_BENCH_COMMIT"):  # a benchmark of an exported tree says which commit it is
        return os.environ["CPUMON_BENCH_COMMIT"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


COLUMNS = ("workload", "db", "metric", "target", "run 1", "run 2", "ceiling", "ratio", "verdict")


def _verdict(met: bool, db: str, *, smoke: bool) -> str:
    if smoke:
        return "smoke"
    if db == "SQLite":  # the targets are for MariaDB; SQLite's figures are for information
        return "met (info)" if met else "missed (info)"
    return "met" if met else "MISSED"


def _outcome_rows(outcome: Outcome, *, smoke: bool) -> list[tuple[str, ...]]:
    if outcome.error:
        return [(outcome.workload, outcome.db, "", "", "", "", "", "", f"error: {outcome.error[:80]}")]
    ceiling_figure = CEILING_FIGURE.get(outcome.workload)
    ceiling_text = " / ".join(_fmt(c.get(ceiling_figure)) for c in outcome.ceiling) if ceiling_figure else ""
    ratios = " / ".join(_fmt(r.get("ratio")) for r in outcome.runs if "ratio" in r)
    verdicts = outcome.verdicts()
    ratio_verdict = next((v for v in verdicts if v["metric"] == "ratio"), None)
    found: list[tuple[str, ...]] = []
    for verdict in verdicts:
        if verdict["metric"] == "ratio":
            continue
        target_text, met = verdict["target"], verdict["met"]
        if ratio_verdict is not None and verdict["metric"] == "samples_per_s":  # W1b: the target is the ratio
            target_text, met = f"ratio {ratio_verdict['target']}", ratio_verdict["met"]
        values = [_fmt(v) for v in verdict["values"]] + ["", ""]
        first = not found
        found.append(
            (
                outcome.workload if first else "",
                outcome.db if first else "",
                verdict["metric"],
                target_text,
                values[0],
                values[1],
                ceiling_text if first else "",
                ratios if first else "",
                _verdict(met, outcome.db, smoke=smoke),
            )
        )
    if not outcome.correct:
        found.append(("", "", "correctness", "0 lost, 0 dup", "", "", "", "", "LOST/DUPLICATE/INCOMPLETE"))
    return found


def rows(outcomes: list[Outcome], ceilings: dict[str, list[dict[str, Any]]], *, smoke: bool) -> list[tuple[str, ...]]:
    """The table's rows as plain text: the framework ceilings first, then each workload's targets."""
    found: list[tuple[str, ...]] = []
    for name, runs in ceilings.items():
        values = [_fmt(r.get("requests_per_s")) for r in runs] + ["", ""]
        found.append((name, "-", "requests_per_s", "", values[0], values[1], "", "", "ceiling"))
    for outcome in outcomes:
        found += _outcome_rows(outcome, smoke=smoke)
    return found


def title(info: dict[str, Any], *, smoke: bool) -> str:
    text = f"cpumon benchmarks - {info['cpus']} cores ({info['cpu_model'] or '?'}), {info['host']}"
    text += f", commit {info['commit']}"
    return text + (" - SMOKE (short runs: figures are not comparable to the targets)" if smoke else "")


_STYLE = {"met": "green", "MISSED": "bold red", "missed (info)": "yellow", "error": "red", "LOST": "bold red"}


def table(
    outcomes: list[Outcome], ceilings: dict[str, list[dict[str, Any]]], info: dict[str, Any], *, smoke: bool
) -> Table:
    out = Table(title=title(info, smoke=smoke), title_justify="left")
    for column in COLUMNS:
        out.add_column(column, justify="right" if column in {"run 1", "run 2", "ceiling", "ratio"} else "left")
    for row in rows(outcomes, ceilings, smoke=smoke):
        style = next((v for k, v in _STYLE.items() if row[-1].startswith(k)), "")
        out.add_row(*row[:-1], f"[{style}]{row[-1]}[/]" if style else row[-1])
    return out


def markdown(document: dict[str, Any]) -> str:
    """The table of a results file as Markdown (for the README)."""
    outcomes = [
        Outcome(**{k: v for k, v in o.items() if k in Outcome.__dataclass_fields__}) for o in document["workloads"]
    ]
    smoke = bool(document["plan"]["smoke"])
    lines = [f"**{title(document['machine'], smoke=smoke)}** ({document['started']})", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(outcomes, document["ceilings"], smoke=smoke)]
    return "\n".join(lines)


def write_json(
    path: Path,
    outcomes: list[Outcome],
    ceilings: dict[str, list[dict[str, Any]]],
    info: dict[str, Any],
    plan: Any,
    started: str,
    seconds: float,
) -> None:
    document = {
        "schema": 1,
        "started": started,
        "seconds": round(seconds, 1),
        "machine": info,
        "plan": asdict(plan),
        "ceilings": ceilings,
        "workloads": [
            {**asdict(o), "title": TITLES.get(o.workload, ""), "verdicts": o.verdicts(), "correct": o.correct}
            for o in outcomes
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report FILE.json`: print a results file's table as Markdown."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    Console(soft_wrap=True).out(markdown(json.loads(args.file.read_text())), highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
