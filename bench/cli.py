"""`python -m bench [--smoke] [--db mysql,sqlite] [--only W1,W2,...]`: run the suite, print the table, write JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import servers
from bench import workloads as w
from bench.live import PAGES, live_pages
from bench.report import Outcome, machine, table, write_json
from bench.servers import (
    BenchError,
    Database,
    ServerProcess,
    baseline_server,
    cpumon_server,
    drop_mysql,
    migrate_and_add_user,
    prepare_mysql,
    prepare_sqlite,
)
from bench.summaries import long_runs

ALL = ("W1", "W1b", "W2", "W3", "W3-1000", "W4", "W5", "W6", "W7")
DEFAULT_MYSQL_URL = "mysql+asyncmy://root@127.0.0.1:3306/cpumon_bench"
RESULTS = Path(__file__).parent / "results"
W7_CLIENTS = 20  # the ingest load under the live pages: enough to load the server, the same with and without

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds per workload, one repetition (for CI)")
    parser.add_argument("--repeat", type=int, help="repetitions of each workload (default 2; smoke 1)")
    parser.add_argument("--db", default="mysql,sqlite", help="databases to run on: mysql, sqlite (default both)")
    parser.add_argument("--only", default=",".join(ALL), help=f"workloads to run (default all: {','.join(ALL)})")
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("CPUMON_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL),
        help="the benchmark's own database, dropped and re-created (name must start with cpumon_bench); "
        "env CPUMON_BENCH_MYSQL_URL",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CPUMON_BENCH_REDIS_URL"),
        help="keep sessions in Redis (prefix cpumon_bench) instead of the database table; env CPUMON_BENCH_REDIS_URL",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON file to write (default bench/results/<date>-<host>.json; smoke: none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (server logs) and the MariaDB database")
    parser.add_argument(
        "--profile", type=Path, help="record the server with py-spy during each measured window into DIR"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target on MariaDB is missed")
    return parser


class Suite:
    def __init__(self, plan: w.Plan, selected: set[str], workdir: Path, redis_url: str | None) -> None:
        self.plan = plan
        self.selected = selected
        self.workdir = workdir
        self.redis_url = redis_url
        self.outcomes: list[Outcome] = []
        self.ceilings: dict[str, list[dict[str, Any]]] = {}

    def log(self, text: str) -> None:
        console.log(text)

    def server_env(self) -> dict[str, str]:
        env = {"CPUMON_LIVE_MAX_PER_USER": str(PAGES)}  # W7: the one bench user holds every live page
        if self.redis_url:
            env |= {"CPUMON_SESSION_REDIS_URL": self.redis_url, "CPUMON_SESSION_REDIS_PREFIX": "cpumon_bench"}
        return env

    def _repeat(self, outcome: Outcome, each: Callable[[int], dict[str, Any]]) -> Outcome:
        for rep in range(1, self.plan.repeat + 1):
            try:
                figures = each(rep)
            except BenchError as exc:
                outcome.error = str(exc)
                self.log(f"[red]{outcome.workload} {outcome.db} run {rep}: {exc}")
                break
            outcome.runs.append(figures)
            self.log(f"{outcome.workload} {outcome.db} run {rep}: {_brief(figures)}")
        outcome.add_ratios()
        self.outcomes.append(outcome)
        return outcome

    # -- ceilings that do not depend on the database -----------------------------------

    def baseline(self) -> None:
        want_1, want_n = bool({"W1"} & self.selected), bool({"W2"} & self.selected)
        if not (want_1 or want_n):
            return
        with baseline_server(self.workdir / "baseline.log") as server:
            self.log(f"baseline Litestar route on {server.url}")
            for rep in range(1, self.plan.repeat + 1):
                if want_1:
                    figures = w.baseline_closed(server, 1, 1, self.plan.ceiling_s)
                    self.ceilings.setdefault("C-http 1 client", []).append(figures)
                    self.log(f"ceiling 1 client run {rep}: {_brief(figures)}")
                if want_n:
                    n = self.plan.w2_clients
                    figures = w.baseline_closed(server, n, self.plan.w2_procs, self.plan.ceiling_s)
                    self.ceilings.setdefault(f"C-http {n} clients", []).append(figures)
                    self.log(f"ceiling {n} clients run {rep}: {_brief(figures)}")

    def _w1_ceiling(self, server: ServerProcess, database: Database, rep: int) -> dict[str, Any]:
        """W1's ceiling: one client waits for the framework (C-http), then for the statement (C-db)."""
        http = self.ceilings.get("C-http 1 client", [])
        http_rate = http[min(rep, len(http)) - 1]["requests_per_s"] if http else None
        raw = w.db_ceiling(server, database, rep, self.plan.ceiling_s)
        self.ceilings.setdefault(f"C-db 1 client ({database.label})", []).append(
            {**raw, "requests_per_s": raw["statements_per_s"]}
        )
        figures: dict[str, Any] = {
            "http_requests_per_s": http_rate,
            "c_db_per_s": raw["statements_per_s"],
            "c_db_client_cpu_ms": raw["client_cpu_ms_per_statement"],
        }
        if http_rate and raw["statements_per_s"]:
            figures["serial_per_s"] = round(1 / (1 / http_rate + 1 / raw["statements_per_s"]), 1)
        self.log(f"W1 {database.label} ceiling run {rep}: {figures}")
        return figures

    # -- one database -----------------------------------------------------------------

    def on_database(self, database: Database, *, agent: bool) -> None:
        plan, db = self.plan, database.label
        migrate_and_add_user(database, self.workdir / f"{database.kind}-setup.log")
        log = self.workdir / f"server-{database.kind}.log"
        with cpumon_server(database, log, extra_env=self.server_env()) as server:
            self.log(f"cpumon-server on {db} at {server.url}")
            if "W1" in self.selected:
                outcome = Outcome("W1", db, ceiling_name="serial bound of C-http 1 client and C-db")

                def w1(rep: int) -> dict[str, Any]:
                    outcome.ceiling.append(self._w1_ceiling(server, database, rep))
                    return w.ingest_closed(server, database, f"W1 #{rep}", 1, 1, 1, plan.closed_s)

                self._repeat(outcome, w1)
            if "W1b" in self.selected:
                outcome = Outcome("W1b", db, ceiling_name="raw multi-row INSERT")

                def w1b(rep: int) -> dict[str, Any]:
                    raw = w.raw_ceiling(server, database, rep, plan.w1b_batch, plan.ceiling_s)
                    outcome.ceiling.append(raw)
                    self.log(f"W1b {db} raw INSERT ceiling run {rep}: {_brief(raw)}")
                    return w.ingest_closed(server, database, f"W1b #{rep}", 1, 1, plan.w1b_batch, plan.closed_s)

                self._repeat(outcome, w1b)
            if "W2" in self.selected:
                key = f"C-http {plan.w2_clients} clients"
                outcome = Outcome("W2", db, ceiling=self.ceilings.get(key, []), ceiling_name=key)
                self._repeat(
                    outcome,
                    lambda rep: w.ingest_closed(
                        server, database, f"W2 #{rep}", plan.w2_clients, plan.w2_procs, 1, plan.closed_s
                    ),
                )
            if "W3" in self.selected:
                self._repeat(
                    Outcome("W3", db, note=f"{plan.w3_agents} agents, 1 worker"),
                    lambda rep: w.agents_open(server, database, f"W3 #{rep}", plan.w3_agents, plan.w3_procs, plan.w3_s),
                )
            if "W4" in self.selected:
                self.log(f"W4 {db}: storing a run of {plan.w4_samples:,} samples")
                try:
                    big = w.big_run(server, plan.w4_samples)
                except BenchError as exc:
                    self.outcomes.append(Outcome("W4", db, error=str(exc)))
                else:
                    self.log(f"W4 {db} set-up: {_brief(big.ingest)}")
                    outcome = Outcome(
                        "W4", db, note=f"set-up ingest: {big.ingest}", ceiling_name="raw driver read of the same rows"
                    )

                    def w4(rep: int) -> dict[str, Any]:
                        figures, ceiling = w.read_big_run(server, database, big, plan.w4_page, f"{database.kind}-{rep}")
                        outcome.ceiling.append(ceiling)
                        return figures

                    self._repeat(outcome, w4)
            if "W6" in self.selected and database.kind == "mysql":
                sizes = f"{plan.w6_big:,} + {plan.w6_page_runs} x {plan.w6_page:,} + {plan.w6_small:,} samples"
                self.log(f"W6 {db}: storing {sizes} in SQL")
                note = f"{sizes}, {plan.w6_repeat} repetitions"
                self._repeat(Outcome("W6", db, note=note), lambda _: long_runs(server, database, plan))
            if "W7" in self.selected:
                self._w7(server, database)
            if agent and "W5" in self.selected:
                self._repeat(
                    Outcome("W5", db),
                    lambda rep: w.agent_overhead(server, self.workdir / "agent", rep, plan.w5_s, plan.w5_warmup_s),
                )
        if database.kind == "mysql" and "W3-1000" in self.selected:
            workers = plan.w3_big_workers
            with cpumon_server(database, log, workers=workers, extra_env=self.server_env()) as server:
                self.log(f"cpumon-server on {db} with {workers} workers at {server.url}")
                self._repeat(
                    Outcome("W3-1000", db, note=f"{plan.w3_big_agents} agents, {workers} workers"),
                    lambda rep: w.agents_open(
                        server, database, f"W3-1000 #{rep}", plan.w3_big_agents, plan.w3_big_procs, plan.w3_s
                    ),
                )

    def _w7(self, server: ServerProcess, database: Database) -> None:
        outcome = Outcome("W7", database.label, note=f"{W7_CLIENTS} clients", ceiling_name="the same ingest, no page")

        def w7(rep: int) -> dict[str, Any]:
            loaded, without = live_pages(server, database, f"W7 #{rep}", W7_CLIENTS, self.plan.closed_s)
            outcome.ceiling.append(without)
            return loaded

        self._repeat(outcome, w7)


def _brief(figures: dict[str, Any]) -> str:
    keys = (
        "samples_per_s",
        "requests_per_s",
        "rows_per_s",
        "p50_ms",
        "p99_ms",
        "errors",
        "lost",
        "unsent",
        "cursor_s",
        "csv_s",
        "cursor_rss_growth_mb",
        "csv_rss_growth_mb",
        "cpu_pct",
        "rss_mb",
        "server_cpu_pct",
        "server_cpu_ms_per_request",
        "db_cpu_pct",
        "client_cpu_pct",
        "schedule_lateness_p99_ms",
        "other_cpu_pct",
    )
    return ", ".join(f"{k}={figures[k]}" for k in keys if k in figures)


def default_out() -> Path:
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", os.uname().nodename)
    return RESULTS / f"{dt.datetime.now(dt.UTC):%Y-%m-%d}-{host}.json"


def _selection(args: argparse.Namespace) -> tuple[set[str], list[str]] | str:
    selected = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = selected - set(ALL)
    if unknown:
        return f"unknown workload(s): {', '.join(sorted(unknown))} (known: {', '.join(ALL)})"
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if not set(kinds) <= {"mysql", "sqlite"}:
        return "--db takes mysql, sqlite or both"
    return selected, kinds


def _run(suite: Suite, kinds: list[str], args: argparse.Namespace, info: dict[str, Any]) -> bool:
    """Every selected workload on every selected database; False if something could not run."""
    ok = True
    try:
        suite.baseline()
        for i, kind in enumerate(kinds):
            try:
                database = prepare_mysql(args.mysql_url) if kind == "mysql" else prepare_sqlite(suite.workdir)
            except BenchError as exc:
                console.log(f"[yellow]skipping {kind}: {exc}")
                suite.outcomes.append(Outcome("-", kind, error=f"skipped: {exc}"))
                ok = False
                continue
            info[f"{kind}_version"] = database.version
            try:
                suite.on_database(database, agent=i == 0)
            finally:
                if kind == "mysql" and not args.keep:
                    drop_mysql(args.mysql_url)
    except BenchError as exc:
        console.print(f"[red]benchmark stopped: {exc}")
        ok = False
    except Exception:
        console.print(f"[red]benchmark crashed:\n{traceback.format_exc()}")
        ok = False
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = w.Plan.smoke_plan() if args.smoke else w.Plan()
    if args.repeat:
        plan.repeat = args.repeat
    selection = _selection(args)
    if isinstance(selection, str):
        console.print(f"[red]{selection}")
        return 2
    selected, kinds = selection

    started, clock = dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cpumon-bench-"))
    servers.PROFILE_DIR = args.profile
    suite = Suite(plan, selected, workdir, args.redis_url)
    info = machine()
    console.log(f"work dir (server logs): {workdir}; load average before: {info['load_average']}")
    ok = _run(suite, kinds, args, info)
    seconds = time.monotonic() - clock
    console.print(table(suite.outcomes, suite.ceilings, info, smoke=plan.smoke))
    console.print(f"took {seconds:.0f} s")
    out = args.out or (None if plan.smoke else default_out())
    if out is not None:
        write_json(out, suite.outcomes, suite.ceilings, info, plan, started, seconds)
        console.print(f"wrote {out}")
    incorrect = [o for o in suite.outcomes if not o.correct]
    if incorrect:
        console.print(f"[red]problems in: {', '.join(f'{o.workload} ({o.db})' for o in incorrect)}")
        ok = False
    if args.strict and any(not v["met"] for o in suite.outcomes if o.db == "MariaDB" for v in o.verdicts()):
        ok = False
    if not ok or args.keep:
        console.print(f"server logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
