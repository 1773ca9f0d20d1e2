"""What bench/run.py and its peer stages (bench/peer_stages.py) both use: the binary, the producer
settings every producer runs with, measured child processes, Kafka topics, and the report's cells."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # the loopback helpers the tests use too

from helpers import LocalServer  # noqa: E402,F401  (re-exported for bench/run.py)

BINARY = Path(os.environ.get("CLICKSTREAM_BIN", ROOT / "build" / "clickstream"))

PARTITIONS = 6
# Passed explicitly to both `clickstream produce` and `kcat -P`, so both producers run with the
# same delivery guarantees, batching and compression.
PRODUCER_SETTINGS = [
    "acks=all",
    "enable.idempotence=true",
    "linger.ms=20",
    "batch.size=1000000",
    "batch.num.messages=10000",
    "compression.codec=lz4",
]
# Idle time after which consumers end; subtracted from their wall time.
IDLE_MS = 2000
LARGE_BATCH = 100_000


class StageFailed(Exception):
    """A stage could not run; its figures are reported as missing."""


@dataclass
class Measured:
    """One child process: wall time, peak resident memory, exit status, a tail of its stderr."""
    name: str
    argv: list[str]
    returncode: int
    seconds: float
    peak_rss_mb: float
    stderr_tail: str

    def check(self) -> "Measured":
        if self.returncode != 0:
            raise StageFailed(f"`{self.name}` exited {self.returncode}: {last_line(self.stderr_tail)}")
        return self


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no message)"


class Child:
    """A child process with its wall time and peak RSS. It runs under peak_rss (bench/peak_rss.c),
    whose wait4 rusage gives the peak RSS of exactly that process."""

    launcher: Path | None = None  # set once compiled

    def __init__(self, name: str, argv: list[str], logs: Path, stdin: Path | None = None,
                 stdout: Path | None = None, env: dict | None = None):
        self.name = name
        self.argv = [str(arg) for arg in argv]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.stderr_path = logs / f"{slug}.stderr"
        self.rss_path = logs / f"{slug}.maxrss_kb"
        stdin_file = open(stdin, "rb") if stdin else subprocess.DEVNULL
        stdout_file = open(stdout, "wb") if stdout else subprocess.DEVNULL
        with open(self.stderr_path, "wb") as stderr_file:
            self.started = time.monotonic()
            # A session of its own, so a timeout can end the launcher and the command together.
            self.proc = subprocess.Popen([str(Child.launcher), str(self.rss_path), *self.argv],
                                         stdin=stdin_file, stdout=stdout_file, stderr=stderr_file,
                                         env={**os.environ, **(env or {})}, start_new_session=True)
        for handle in (stdin_file, stdout_file):
            if handle is not subprocess.DEVNULL:
                handle.close()

    def signal(self, signum: int) -> None:
        """Sends the signal to the launcher, which passes SIGINT and SIGTERM on to the command."""
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, signum)
            except ProcessLookupError:
                pass

    def kill_group(self) -> None:
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> Measured:
        timer = threading.Timer(timeout, self.kill_group)
        timer.start()
        try:
            self.proc.wait()
        finally:
            timer.cancel()
        seconds = time.monotonic() - self.started
        stderr = self.stderr_path.read_text(errors="replace")
        try:
            peak_rss_mb = int(self.rss_path.read_text()) / 1024.0
        except (OSError, ValueError):
            peak_rss_mb = float("nan")
        return Measured(self.name, self.argv, self.proc.returncode, seconds, peak_rss_mb, stderr[-4000:])


def build_launcher(work: Path) -> None:
    launcher = work / "peak_rss"
    compiler = os.environ.get("CC", "cc")
    subprocess.run([compiler, "-O2", "-o", str(launcher), str(ROOT / "bench" / "peak_rss.c")],
                   check=True, capture_output=True, text=True)
    Child.launcher = launcher


def measure(name: str, argv: list[str], logs: Path, timeout: float = 1800, **kwargs) -> Measured:
    return Child(name, argv, logs, **kwargs).wait(timeout)


# ---------------------------------------------------------------------------------------------
# Kafka helpers (kafka-python for admin and offsets, kcat for bulk data)

def create_topic(bootstrap: str, topic: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="clickstream-bench")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        admin.close()


def topic_message_count(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="clickstream-bench")
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def fresh_name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------------------------
# Report cells

def fmt(value, missing: str = "missing") -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "; ".join(fmt(item) for item in value)
    return str(value)


def target_status(key: str, value, targets: dict) -> str:
    if key not in targets:
        return ""
    op, goal = targets[key]
    if value is None:
        return f"{op} {goal}: not measured"
    met = {">=": value >= goal, "<=": value <= goal, "<": value < goal}[op]
    return f"{op} {goal}: {'met' if met else 'MISSED'}"
