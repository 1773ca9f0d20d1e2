"""The foundation: the binary's CLI and a real broker that carries messages."""
from __future__ import annotations

import re
import subprocess

from helpers import BINARY, ROOT, create_topic, kcat_consume, kcat_produce, run_clickstream


def test_help_lists_every_subcommand():
    result = run_clickstream("--help")
    assert result.returncode == 0
    for name in ("generate", "produce", "consume", "report", "compact"):
        assert name in result.stdout


def test_version():
    result = run_clickstream("--version")
    assert result.returncode == 0
    # The librdkafka that runs, which decides the consumer's fetch refill path.
    assert re.fullmatch(r"clickstream \d+\.\d+\.\d+ \(librdkafka \d+\.\d+\.\d+\)\n", result.stdout), result.stdout


def test_subcommand_help_works_from_another_directory(tmp_path):
    result = run_clickstream("produce", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "produce" in result.stdout


def test_unknown_flag_is_a_usage_error():
    result = run_clickstream("generate", "--no-such-flag")
    assert result.returncode == 2


def test_broker_carries_a_message_both_ways(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=3)
    kcat_produce(broker.bootstrap, topic, ["visitor-1:hello"], key_delimiter=":")
    assert kcat_consume(broker.bootstrap, topic) == ["visitor-1\thello"]


def test_local_kafka_status_and_idempotent_start(broker):
    status = subprocess.run([str(ROOT / "scripts" / "local-kafka"), "status", "--data-dir", str(broker.data_dir)],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0
    assert broker.bootstrap in status.stdout
    again = subprocess.run([str(ROOT / "scripts" / "local-kafka"), "start", "--port", str(broker.port),
                            "--data-dir", str(broker.data_dir)], capture_output=True, text=True, timeout=30)
    assert again.returncode == 0
    assert again.stdout.strip() == broker.bootstrap


def test_binary_is_the_one_under_test():
    assert BINARY.exists(), f"{BINARY} is missing: run 'make build'"
