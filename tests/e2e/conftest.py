"""Shared fixtures for the end-to-end tests: a real Kafka broker and the real binary."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import ROOT, run_clickstream  # noqa: E402,F401  (re-exported for tests)

LOCAL_KAFKA = ROOT / "scripts" / "local-kafka"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """A single-node broker started by scripts/local-kafka in a temporary directory."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir = data_dir
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"

    def start(self) -> None:
        result = subprocess.run(
            [str(LOCAL_KAFKA), "start", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise RuntimeError(f"broker did not start:\n{result.stderr}")

    def stop(self) -> None:
        subprocess.run([str(LOCAL_KAFKA), "stop", "--data-dir", str(self.data_dir)],
                       capture_output=True, text=True, timeout=120)

    def kill(self) -> None:
        """SIGKILL the broker JVM, as a crash would."""
        pid = int((self.data_dir / "broker.pid").read_text())
        os.kill(pid, 9)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        while Path(f"/proc/{pid}").exists():
            pass


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("kafka")
    instance = Broker(data_dir, free_port())
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


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
