"""Helpers for driving the clickstream binary and reading Kafka in end-to-end tests."""
from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("CLICKSTREAM_BIN", ROOT / "build" / "clickstream"))


def free_port() -> int:
    """A loopback port nothing listens on now (the tests' servers, the bench's, and addresses where
    nothing answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """A server that one of scripts/' start|stop|status scripts runs (local-kafka, local-postgres) in
    a data directory of its own, on a loopback port. `address` is the last line `start` printed: the
    bootstrap address, the URI."""

    def __init__(self, script: str, data_dir: Path, port: int | None = None):
        self.script = ROOT / "scripts" / script
        self.data_dir = data_dir
        self.port = free_port() if port is None else port
        self.address = ""

    def start(self, timeout: float = 240) -> None:
        result = subprocess.run([str(self.script), "start", "--port", str(self.port), "--data-dir",
                                 str(self.data_dir)], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{self.script.name} did not start:\n{result.stderr[-2000:]}")
        self.address = result.stdout.strip().splitlines()[-1]

    def stop(self, timeout: float = 180) -> None:
        subprocess.run([str(self.script), "stop", "--data-dir", str(self.data_dir)],
                       capture_output=True, text=True, timeout=timeout)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_clickstream(*args: str, timeout: float = 300, input: str | bytes | None = None,
                    env: dict | None = None, cwd: str | Path | None = None) -> Completed:
    """Runs build/clickstream with the arguments and captures exit code, stdout and stderr."""
    text = not isinstance(input, bytes)
    result = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=text,
                            input=input, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)
    stdout = result.stdout if text else result.stdout.decode("utf-8", "replace")
    stderr = result.stderr if text else result.stderr.decode("utf-8", "replace")
    return Completed(result.returncode, stdout, stderr)


def kcat_produce(bootstrap: str, topic: str, lines: list[str], key_delimiter: str | None = None) -> None:
    """Writes one message per line with kcat (the topic must exist)."""
    args = ["kcat", "-b", bootstrap, "-t", topic, "-P"]
    if key_delimiter:
        args += ["-K", key_delimiter]
    subprocess.run(args, input="\n".join(lines) + "\n", text=True, check=True, timeout=60)


def kcat_consume(bootstrap: str, topic: str, fmt: str = "%k\t%s\n") -> list[str]:
    """Reads the whole topic from the beginning with kcat and returns one formatted string per message."""
    result = subprocess.run(["kcat", "-b", bootstrap, "-t", topic, "-C", "-e", "-q", "-f", fmt],
                            capture_output=True, text=True, check=True, timeout=120)
    return [line for line in result.stdout.split("\n") if line]


def create_topic(bootstrap: str, topic: str, partitions: int = 6) -> None:
    """Creates a topic with the Kafka admin API (kafka-python), for tests that need one before the
    binary runs; the broker has auto-creation off, as production brokers often do."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="clickstream-tests")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


@contextlib.contextmanager
def bench_module(name: str):
    """bench/<name>.py, imported as `make bench` runs it (bench/ first on the path, so its own
    imports resolve), and the bench's modules forgotten again afterwards."""
    bench = str(ROOT / "bench")
    sys.path.insert(0, bench)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(bench)
        for loaded, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(bench + os.sep):
                del sys.modules[loaded]
