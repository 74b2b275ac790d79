"""Cluster fixtures: a real 3-node MariaDB Galera cluster, one real `cpumon-server` per node, Redis sessions.

Collected only when CPUMON_TEST_GALERA is set (`nox -s cluster` sets it; it needs root, galera-4 and
rsync, which the session installs). The cluster and the replicas live for the whole session and are
always torn down, whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.backend.conftest import add_user
from tests.conftest import REDIS_URL, Backend, _require
from tests.e2e.conftest import PASSWORD as AGENT_PASSWORD
from tests.e2e.conftest import USERNAME as AGENT_USERNAME
from tests.e2e.conftest import start_agent
from tests.reliability.conftest import PASSWORD, USERNAME, Server
from tests.support.server import clean_environ, server_command

from .galera import PROVIDER, GaleraCluster

START_S = 300.0  # three servers starting at once on two busy cores (mostly imports)

if not os.environ.get("CPUMON_TEST_GALERA"):
    collect_ignore_glob = ["test_*.py"]

__all__ = ["PASSWORD", "USERNAME", "start_agent"]  # start_agent: the real agent, as the end-to-end tests run it


@pytest.fixture(scope="session")
def cluster() -> Iterator[GaleraCluster]:
    if os.geteuid() != 0 or not PROVIDER.exists():
        pytest.fail("the cluster tests run as root with galera-4 installed: use `nox -s cluster`", pytrace=False)
    galera = GaleraCluster()
    try:
        yield galera.start()
    finally:
        galera.stop()


def migrate_from_every_node(cluster: GaleraCluster) -> list[subprocess.CompletedProcess[str]]:
    """`cpumon-server migrate` through every node at the same moment, as replicas starting together would."""
    processes = [
        subprocess.Popen(
            [*server_command(), "migrate"],
            env=clean_environ(CPUMON_DATABASE_URL=node.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in cluster.nodes
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out))
    return results


@pytest.fixture(scope="session")
def migrations(cluster: GaleraCluster) -> list[subprocess.CompletedProcess[str]]:
    return migrate_from_every_node(cluster)


@pytest.fixture(scope="session")
def replicas(
    cluster: GaleraCluster, migrations: list[subprocess.CompletedProcess[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """One replica per node, sharing one Redis prefix (sessions and throttle counters)."""
    _require(REDIS_URL, "CPUMON_TEST_REDIS_URL")
    assert all(done.returncode == 0 for done in migrations), [done.stdout for done in migrations]
    settings = Backend("galera", cluster.nodes[0].url).settings()
    add_user(settings, USERNAME, PASSWORD)
    add_user(settings, AGENT_USERNAME, AGENT_PASSWORD)
    logs: Path = tmp_path_factory.mktemp("replicas")
    prefix = f"cpumon-cluster-{uuid.uuid4().hex[:12]}"
    servers = [
        Server(
            settings={
                "CPUMON_DATABASE_URL": node.url,
                "CPUMON_SESSION_REDIS_URL": REDIS_URL or "",
                "CPUMON_SESSION_REDIS_PREFIX": prefix,
                "CPUMON_DATABASE_CONNECT_TIMEOUT": "2",
                "CPUMON_DATABASE_POOL_SIZE": "20",
                "CPUMON_REQUEST_TIMEOUT": "15",
            },
            log_path=logs / f"replica-{node.index}.log",
        )
        for node in cluster.nodes
    ]
    try:
        with ThreadPoolExecutor(len(servers)) as starting:  # together: each start is mostly imports
            list(starting.map(lambda server: server.start(within=START_S), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()
