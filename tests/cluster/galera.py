"""A 3-node MariaDB Galera cluster on loopback, in a temp dir, for the cluster tests (as root).

The recipe is /work/shared/galera-testing.md's: nodes run as the `mysql` user (state transfer fails as
root) from folders it owns inside a 0755 temp dir (the rsync daemon drops to `nobody`). Node 1
bootstraps the cluster; nodes 2 and 3 receive a full copy (SST). A node killed with SIGKILL comes back
by incremental state transfer (IST) from the position `galera_recovery` prints.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_ports, stop_process

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
CLUSTER_NAME = "cpumon_test"
DATABASE = "cpumon"
# A silent node is suspected after 3 s and evicted after 6 s at most (Galera's defaults: 5 s and 15 s).
EVICTION = "evs.suspect_timeout=PT3S; evs.inactive_timeout=PT6S; evs.install_timeout=PT6S"


def poll(condition: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {within:g} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.1)


@dataclass
class Node:
    index: int
    root: Path
    port: int
    galera_ports: tuple[int, int, int]  # base (group communication), IST, SST
    process: subprocess.Popen[bytes] | None = None

    @property
    def dir(self) -> Path:
        return self.root / f"n{self.index}"

    @property
    def socket(self) -> Path:
        return self.dir / "mysqld.sock"

    @property
    def config(self) -> Path:
        return self.dir / "node.cnf"

    @property
    def url(self) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/{DATABASE}"

    def write_config(self, cluster_address: str) -> None:
        base, ist, sst = self.galera_ports
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"""[mysqld]
datadir={self.dir}/data
socket={self.socket}
pid-file={self.dir}/mysqld.pid
log-error={self.dir}/error.log
port={self.port}
bind-address=127.0.0.1
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
max_connections=300
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name={CLUSTER_NAME}
wsrep_cluster_address={cluster_address}
wsrep_node_name=n{self.index}
wsrep_node_address=127.0.0.1:{base}
wsrep_node_incoming_address=127.0.0.1:{self.port}
wsrep_provider_options="base_port={base}; ist.recv_addr=127.0.0.1:{ist}; gcache.size=64M; {EVICTION}"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{sst}
wsrep_slave_threads=2
"""
        )

    def start(self, *extra: str) -> None:
        assert self.process is None or self.process.poll() is not None, f"node {self.index} is running"
        command = ["/usr/sbin/mariadbd", f"--defaults-file={self.config}", "--user=mysql", *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restart_by_ist(self) -> None:
        """Start a node that was killed from where it stopped, so it catches up by IST, not a full copy."""
        recovered = subprocess.run(
            ["galera_recovery", f"--defaults-file={self.config}", "--user=mysql"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        self.start(*recovered)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=30)

    def sql(self, statement: str) -> str:
        """Run one statement over the node's socket as root; its output, tab-separated without headers."""
        return subprocess.run(
            ["mariadb", f"--socket={self.socket}", "-uroot", "-N", "-B", "-e", statement],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    def status(self, name: str) -> str:
        try:
            line = self.sql(f"SHOW GLOBAL STATUS LIKE '{name}'")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return ""
        return line.split("\t", 1)[1] if "\t" in line else ""

    def synced(self) -> bool:
        return self.status("wsrep_local_state_comment") == "Synced" and self.status("wsrep_ready") == "ON"

    def isolate(self, on: bool) -> None:
        self.sql(f"SET GLOBAL wsrep_provider_options='gmcast.isolate={int(on)}'")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=20)  # mariadbd is not a group leader: only it is signalled


@dataclass
class GaleraCluster:
    size: int = 3
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cpumon-galera-")))
    nodes: list[Node] = field(default_factory=list)

    def start(self) -> GaleraCluster:
        # The rsync daemon that receives a state transfer drops to `nobody`: it must enter this dir.
        os.chmod(self.root, 0o755)  # noqa: S103
        ports = free_ports(self.size * 4)
        self.nodes = [
            Node(i + 1, self.root, ports[4 * i], (ports[4 * i + 1], ports[4 * i + 2], ports[4 * i + 3]))
            for i in range(self.size)
        ]
        address = "gcomm://" + ",".join(f"127.0.0.1:{node.galera_ports[0]}" for node in self.nodes)
        for node in self.nodes:
            node.write_config(address)
        first = self.nodes[0]
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={first.dir / 'data'}", "--user=mysql"],
            capture_output=True,
            check=True,
        )
        shutil.chown(self.root, "mysql", "mysql")
        subprocess.run(["chown", "-R", "mysql:mysql", str(self.root)], check=True)
        first.start("--wsrep-new-cluster")
        poll(first.synced, within=60, what="node 1 to bootstrap the cluster")
        first.sql(
            "CREATE USER root@'127.0.0.1' IDENTIFIED BY ''; "
            "GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION; "
            f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"
        )
        for node in self.nodes[1:]:
            node.start()
        for node in self.nodes[1:]:
            poll(node.synced, within=120, what=f"node {node.index} to join by SST")
        return self

    def size_seen_by(self, node: Node) -> int:
        value = node.status("wsrep_cluster_size")
        return int(value) if value.isdigit() else 0

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
