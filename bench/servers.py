"""The processes under test: the real `cpumon-server` (and the baseline app) as subprocesses, and their databases."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil

# The one helper that starts a server and waits for it, shared with the tests (`python -m bench` runs
# from the checkout's root, so `tests` is importable).
import tests.support.server as support
from tests.support.server import ServerStartError, clean_environ

__all__ = ["clean_environ"]

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway user in a throwaway database
SESSION_COOKIE = "cpumon_session"
START_TIMEOUT_S = 60.0


class BenchError(Exception):
    """Something the suite cannot go on without (a server that does not start, a database it cannot reach)."""


def venv_script(name: str) -> str:
    """A console script of the running interpreter's environment (the real `cpumon-server`, `cpumon`)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name!r} is not installed in this environment (pip install -e '.[server]')")
    return found


@dataclass
class Database:
    """Where a server keeps its data: `url` for CPUMON_DATABASE_URL, `kind` is mysql or sqlite."""

    kind: str
    url: str
    version: str = ""

    @property
    def label(self) -> str:
        return "MariaDB" if self.kind == "mysql" else "SQLite"


def prepare_mysql(url: str) -> Database:
    """Drop and create the benchmark's own database (its name must start with cpumon_bench)."""
    import pymysql  # type: ignore[import-untyped]  # noqa: PLC0415 - only the MariaDB suite needs it
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    name = parsed.database or ""
    if not name.startswith("cpumon_bench"):
        raise BenchError(
            f"refusing to use database {name!r}: the benchmark drops it, so its name must start with cpumon_bench"
        )
    try:
        connection = pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=parsed.password or "",
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        raise BenchError(f"cannot reach MariaDB/MySQL at {parsed.host}:{parsed.port}: {exc.args[-1]}") from None
    with connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cursor.execute("SELECT VERSION()")
        row = cursor.fetchone()
    return Database("mysql", url, version=str(row[0]) if row else "")


def drop_mysql(url: str) -> None:
    import pymysql  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    name = parsed.database or ""
    if not name.startswith("cpumon_bench"):
        return
    with (
        contextlib.suppress(pymysql.err.Error),
        pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=parsed.password or "",
            connect_timeout=5,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def prepare_sqlite(directory: Path) -> Database:
    import sqlite3  # noqa: PLC0415

    path = directory / "cpumon.db"
    path.unlink(missing_ok=True)
    return Database("sqlite", f"sqlite+aiosqlite:///{path}", version=sqlite3.sqlite_version)


def migrate_and_add_user(database: Database, log_path: Path) -> None:
    """`cpumon-server migrate` and `cpumon-server create-user bench` (password on stdin), as an operator would."""
    env = clean_environ(CPUMON_DATABASE_URL=database.url, CPUMON_BCRYPT_ROUNDS="4")
    server = venv_script("cpumon-server")
    with log_path.open("ab") as log:
        for argv, stdin in (
            ([server, "migrate"], b""),
            ([server, "create-user", BENCH_USER], f"{BENCH_PASSWORD}\n".encode()),
        ):
            done = subprocess.run(
                argv, env=env, input=stdin, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False
            )
            if done.returncode != 0:
                raise BenchError(f"`{' '.join(argv[1:])}` failed ({done.returncode}); see {log_path}")


@dataclass(kw_only=True)
class ServerProcess(support.ServerProcess):
    """A server subprocess on a free loopback port (tests/support/server.py), measurable with psutil."""

    def start(self, within: float = START_TIMEOUT_S) -> Self:
        try:
            return super().start(within)
        except ServerStartError as exc:  # the suite reports BenchErrors; the process is stopped already
            raise BenchError(f"{exc}\n(log: {self.log_path})") from None

    def ready(self) -> bool:
        return super().ready() and self._workers_up()

    def _workers_up(self) -> bool:
        workers = int(self.env.get("CPUMON_WORKERS", "1"))
        if workers == 1:
            return True
        # uvicorn's supervisor spawns the workers; /health may answer before the last one listens.
        return len(self.processes()) >= workers + 1 and all(
            p.status() != psutil.STATUS_ZOMBIE for p in self.processes()
        )

    def processes(self) -> list[psutil.Process]:
        """The server's process tree (uvicorn's supervisor and its workers)."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


def cpumon_server(
    database: Database, log_path: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> ServerProcess:
    env = clean_environ(
        CPUMON_DATABASE_URL=database.url,
        CPUMON_WORKERS=str(workers),
        # The bench user's hash is made at cost 4, as the server's: at the default 12 every login would
        # be rehashed and then cost ~0.3 s of a core, and the workloads measure ingest, not bcrypt.
        CPUMON_BCRYPT_ROUNDS="4",
        **(extra_env or {}),
    )
    return ServerProcess(
        name=f"cpumon-server ({database.label}, {workers} worker(s))",
        command=[venv_script("cpumon-server")],
        env=env,
        log_path=log_path,
    )


def baseline_server(log_path: Path, *, workers: int = 1) -> ServerProcess:
    """The trivial Litestar app of bench/baseline.py, served by uvicorn with cpumon-server's options."""
    env = clean_environ(CPUMON_WORKERS=str(workers))
    return ServerProcess(
        name="baseline Litestar app", command=[sys.executable, "-m", "bench.baseline"], env=env, log_path=log_path
    )


class CpuMeter:
    """CPU seconds of a set of processes between start() and stop(), as a fraction of one core."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self._processes = processes
        self._start_cpu = 0.0
        self._start_wall = 0.0
        self.percent_of_core = 0.0

    def _cpu(self) -> float:
        total = 0.0
        for proc in self._processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def start(self) -> None:
        self._start_cpu, self._start_wall = self._cpu(), time.monotonic()

    def stop(self) -> float:
        wall = time.monotonic() - self._start_wall
        self.percent_of_core = max(0.0, 100 * (self._cpu() - self._start_cpu) / wall) if wall > 0 else 0.0
        return self.percent_of_core


class MachineMeter:
    """The whole machine's busy CPU between start() and stop(), in % of one core (200 = both cores of 2)."""

    def __init__(self) -> None:
        self._start: tuple[float, float] = (0.0, 0.0)
        self._wall = 0.0
        self.steal_pct = 0.0

    @staticmethod
    def _busy() -> tuple[float, float]:
        """(CPU seconds busy in this machine, seconds stolen by the hypervisor); guest time is within user."""
        t = psutil.cpu_times()
        fields = ("user", "nice", "system", "irq", "softirq")
        return float(sum(getattr(t, f, 0.0) for f in fields)), float(getattr(t, "steal", 0.0))

    def start(self) -> None:
        self._start, self._wall = self._busy(), time.monotonic()

    def stop(self) -> float:
        wall = time.monotonic() - self._wall
        busy, steal = self._busy()
        self.steal_pct = 100 * (steal - self._start[1]) / wall if wall > 0 else 0.0
        return 100 * (busy - self._start[0]) / wall if wall > 0 else 0.0


def database_processes() -> list[psutil.Process]:
    """The local MariaDB/MySQL server processes, to report how busy the database was (read only)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in {"mariadbd", "mysqld"}:
            found.append(proc)
    return found


class RssSampler:
    """Samples a server's RSS in a thread every `every` seconds; reports the peak above the baseline."""

    def __init__(self, server: ServerProcess, every: float = 0.005) -> None:
        self._server = server
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = 0
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._server.rss_bytes())
            self._stop.wait(self._every)

    def __enter__(self) -> RssSampler:
        self.baseline = self.peak = self._server.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._server.rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


#: Set by `--profile DIR`: each measured window of the server is recorded by py-spy into DIR.
PROFILE_DIR: Path | None = None


class Profiler:
    """py-spy on the server's processes during a measured window (collapsed stacks, for flame graphs)."""

    def __init__(self, server: ServerProcess | None, label: str) -> None:
        self._server = server
        self._label = label
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if PROFILE_DIR is None or self._server is None or self._server.process is None:
            return self
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in self._label)
        self._process = subprocess.Popen(
            [
                venv_script("py-spy"),
                "record",
                "--pid",
                str(self._server.process.pid),
                "--subprocesses",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(PROFILE_DIR / f"{name}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # py-spy attaches before the measured window starts
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
