"""Shared fixtures for the end-to-end tests: a real Kafka broker and the real binary."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import ROOT, LocalServer, free_port  # noqa: E402  (after the path above)

LOCAL_KAFKA = ROOT / "scripts" / "local-kafka"


class Broker(LocalServer):
    """A single-node broker started by scripts/local-kafka in a temporary directory."""

    def __init__(self, data_dir: Path, port: int):
        super().__init__("local-kafka", data_dir, port)
        self.bootstrap = f"127.0.0.1:{port}"

    def kill(self) -> None:
        """SIGKILL the broker JVM, as a crash would."""
        pid = int((self.data_dir / "broker.pid").read_text())
        os.kill(pid, 9)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        wait_until_gone(pid)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("kafka")
    instance = Broker(data_dir, free_port())
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports on loopback (a cluster's nodes use consecutive ports)."""
    for _ in range(100):
        base = free_port()
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def wait_until_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} still exists after SIGKILL"
        time.sleep(0.05)


class LocalCluster:
    """Nodes started by `scripts/local-kafka start --brokers N --security S` in a temporary directory.
    `start()` again restarts the nodes that are down and leaves the running ones alone."""

    def __init__(self, data_dir: Path, brokers: int = 1, security: str = "plaintext"):
        self.data_dir = data_dir
        self.brokers = brokers
        self.security = security
        self.port = free_port_run(brokers)
        self.bootstrap = ""
        self.client_properties: Path | None = None

    def start(self) -> float:
        """Starts what is down; returns how long that took in seconds."""
        started = time.monotonic()
        result = subprocess.run(
            [str(LOCAL_KAFKA), "start", "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--brokers", str(self.brokers), "--security", self.security],
            capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"cluster did not start:\n{result.stderr}")
        lines = result.stdout.split()
        self.bootstrap = lines[0]
        if self.security == "sasl-ssl":
            self.client_properties = Path(lines[1])
        return time.monotonic() - started

    def stop(self) -> None:
        subprocess.run([str(LOCAL_KAFKA), "stop", "--data-dir", str(self.data_dir)],
                       capture_output=True, text=True, timeout=180)

    def nodes(self) -> dict[int, int | None]:
        """Node id -> PID (None when down), from `local-kafka status`."""
        result = subprocess.run([str(LOCAL_KAFKA), "status", "--data-dir", str(self.data_dir)],
                                capture_output=True, text=True, timeout=60)
        nodes = {}
        for match in re.finditer(r"^node (\d+) pid (\d+|-) port (\d+)", result.stdout, re.M):
            nodes[int(match.group(1))] = None if match.group(2) == "-" else int(match.group(2))
        return nodes

    def kill(self, node: int) -> float:
        """SIGKILL one node's JVM, as a crash would, and wait until it is gone. Returns the time
        (time.time()) of the signal."""
        pid = self.nodes()[node]
        assert pid is not None, f"node {node} is not running"
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_until_gone(pid)
        return killed_at

    def kcat_args(self) -> list[str]:
        config = ["-F", str(self.client_properties)] if self.client_properties else []
        return ["kcat", *config, "-b", self.bootstrap]

    def partition_leaders(self, topic: str) -> dict[int, int]:
        """Partition -> leader node id, from the cluster's metadata."""
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run([*self.kcat_args(), "-L", "-t", topic, "-m", "10"],
                                    capture_output=True, text=True, timeout=60)
            leaders = {int(p): int(leader) for p, leader in
                       re.findall(r"partition (\d+), leader (-?\d+)", result.stdout)}
            if leaders and all(leader > 0 for leader in leaders.values()):
                return leaders
            assert time.monotonic() < deadline, result.stdout + result.stderr
            time.sleep(0.5)


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    """One node listening with SASL_SSL (SCRAM-SHA-512) and its client.properties."""
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-sasl-ssl"), brokers=1, security="sasl-ssl")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def replicated_cluster(tmp_path_factory):
    """Three nodes: replication factor 3 by default, min.insync.replicas=2."""
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-three"), brokers=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def topic() -> str:
    """A fresh topic name per test, so tests never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:12]}"


def pytest_configure(config):
    config.addinivalue_line("markers", "last: run after every other test (slow end-to-end runs)")


def pytest_collection_modifyitems(session, config, items):
    """Moves tests marked `last` to the end, keeping the order of everything else."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API server (moto, in memory) on a free loopback port, stopped by its PID."""
    from s3_server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server) -> str:
    """A fresh bucket per test (S3 names: 3-63 lowercase characters)."""
    name = f"landing-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory):
    """A real Prometheus (scripts/local-prometheus) scraping, every second, what add_target names."""
    from prometheus_server import PrometheusServer

    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
