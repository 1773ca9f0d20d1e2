"""Three replicated brokers (replication factor 3, min.insync.replicas=2) losing nodes while events
are produced and landed: with acks=all and the idempotent producer nothing is lost in Kafka, and the
consumer lands every event exactly once in Parquet."""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from helpers import BINARY, run_clickstream

FAST_SESSION = ("-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=2000")


class Background:
    """A clickstream subcommand running in the background with its stderr in a file."""

    def __init__(self, tmp_path: Path, name: str, args: list[str]):
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(BINARY), *map(str, args)], stdout=subprocess.DEVNULL, stderr=self.log)

    def stderr(self) -> str:
        return self.log_path.read_text()

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.running():
            self.process.send_signal(sig)
        return self.wait()


def wait_for(condition, what: str, timeout: float, *processes: Background) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            assert process.running(), f"exited early while waiting for {what}:\n{process.stderr()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def landed_rows(output: Path) -> int:
    if not output.exists():
        return 0
    return ds.dataset(str(output), format="parquet", partitioning="hive").count_rows()


def generate(path: Path, events: int) -> Path:
    result = run_clickstream("generate", "--events", events, "--output", path)
    assert result.returncode == 0, result.stderr
    return path


def assert_landed_exactly(output: Path, source: Path) -> None:
    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table()
    rows = [line.split(",") for line in source.read_text().splitlines()[1:]]
    assert table.num_rows == len(rows)
    assert len(set(zip(table.column("source_id").to_pylist(), table.column("source_line").to_pylist()))) == len(rows)
    landed = sorted(zip(table.column("visitor_id").to_pylist(), table.column("item_id").to_pylist(),
                        (t.strftime("%Y-%m-%d %H:%M:%S") for t in table.column("timestamp").to_pylist())))
    assert landed == sorted((row[1], row[3], row[0]) for row in rows)
    count, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (source_id, source_line)) FROM read_parquet('{output}/**/*.parquet')").fetchone()
    assert count == distinct == len(rows)


def create_topic_with_append_times(bootstrap: str, topic: str, partitions: int) -> None:
    """The broker stamps each message when it appends it, so the gap a dead leader leaves in its
    partition can be read back from the log."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="clickstream-tests")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3,
                                      topic_configs={"message.timestamp.type": "LogAppendTime"})])
    finally:
        admin.close()


def append_times_ms(cluster, topic: str, partition: int) -> list[int]:
    result = subprocess.run([*cluster.kcat_args(), "-t", topic, "-p", str(partition), "-C", "-e", "-q",
                             "-f", "%T\n"], capture_output=True, text=True, check=True, timeout=120)
    return [int(line) for line in result.stdout.split()]


def longest_gap_after(times_ms: list[int], after_ms: float) -> tuple[float, float] | None:
    """(start, length) in seconds of the longest gap between consecutive times that ends after
    `after_ms`; None when no time is that late (everything happened before)."""
    gaps = [(b - a, a) for a, b in zip(times_ms, times_ms[1:]) if b >= after_ms]
    if not gaps:
        return None
    length, start = max(gaps)
    return start / 1000, length / 1000


def test_produce_creates_topics_with_the_cluster_replication_factor(replicated_cluster, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 100)
    for name, extra, replicas in ((topic, [], 3), (f"{topic}-rf2", ["--replication-factor", "2"], 2)):
        result = run_clickstream("produce", "-b", replicated_cluster.bootstrap, "-t", name, "--input", source,
                                 "--partitions", "2", "--rate", "0", "--no-progress", *extra)
        assert result.returncode == 0, result.stderr
        metadata = subprocess.run([*replicated_cluster.kcat_args(), "-L", "-t", name], capture_output=True,
                                  text=True, check=True, timeout=60).stdout
        lists = re.findall(r"replicas: (\d+(?:,\d+)*)", metadata)
        assert len(lists) == 2 and all(len(r.split(",")) == replicas for r in lists), metadata


def test_leader_and_another_node_killed_mid_stream_lose_and_duplicate_nothing(replicated_cluster, topic, tmp_path):
    cluster = replicated_cluster
    total = 100_000
    source = generate(tmp_path / "events.csv", total)
    create_topic_with_append_times(cluster.bootstrap, topic, partitions=6)
    output = tmp_path / "landed"
    producer = Background(tmp_path, "produce", ["produce", "-b", cluster.bootstrap, "-t", topic, "--input", source,
                                                "--rate", "5000", "--no-progress"])
    consumer = Background(tmp_path, "consume", ["consume", "-b", cluster.bootstrap, "-t", topic, "-o", output,
                                                "-g", "g-replicated", "--flush-interval-ms", "1000", *FAST_SESSION])
    wait_for(lambda: landed_rows(output) > 5_000, "landed events", 120, producer, consumer)

    # The leader of partition 0 dies while the producer sends to it.
    first = cluster.partition_leaders(topic)[0]
    first_killed_at = cluster.kill(first)
    restart_first = cluster.start()

    # Another node dies while the consumer lands (the producer still sends).
    leaders = cluster.partition_leaders(topic)
    second = next(node for node in leaders.values() if node != first)
    led_by_second = sorted(p for p, node in leaders.items() if node == second)
    assert consumer.running() and landed_rows(output) < total
    second_killed_at = cluster.kill(second)
    restart_second = cluster.start()
    assert all(pid is not None for pid in cluster.nodes().values())

    assert producer.wait(timeout=300) == 0, producer.stderr()
    assert f"delivered {total}" in producer.stderr() and "failed 0" in producer.stderr(), producer.stderr()
    wait_for(lambda: landed_rows(output) >= total, "every event landed", 300, consumer)
    assert consumer.stop() == 0, consumer.stderr()
    assert_landed_exactly(output, source)

    # Closing figures: how long each dead leader's partitions stood still.
    print()
    appended = longest_gap_after(append_times_ms(cluster, topic, 0), first_killed_at * 1000)
    if appended is None:
        print(f"node {first} (leader of partition 0) killed after partition 0 had every event")
    else:
        gap_start, gap = appended
        print(f"node {first} (leader of partition 0) killed while producing: partition 0 appended nothing for "
              f"{gap:.1f} s, from {gap_start - first_killed_at:+.1f} s of the kill")
    print(f"node {first} restart took {restart_first:.1f} s")
    ingested = duckdb.sql(
        f"SELECT kafka_partition, epoch_ms(ingested_at) FROM read_parquet('{output}/**/*.parquet') "
        f"ORDER BY 2").fetchall()
    for partition in led_by_second:
        times = [ms for p, ms in ingested if p == partition]
        handled = longest_gap_after(times, second_killed_at * 1000)
        if handled is None:
            # A consumer faster than the paced producer can have landed all of it already.
            print(f"node {second} (leader of partition {partition}) killed after the consumer had landed every "
                  f"event of the partition")
            continue
        gap_start, gap = handled
        print(f"node {second} (leader of partition {partition}) killed while landing: the consumer handled no "
              f"event of the partition for {gap:.1f} s, from {gap_start - second_killed_at:+.1f} s of the kill")
    print(f"node {second} restart took {restart_second:.1f} s")


def test_two_consumers_one_killed_and_restarted_land_exactly(replicated_cluster, topic, tmp_path):
    """A member and a broker die together (the broker leading partition 0); the survivor takes over the
    member's partitions, then both come back."""
    cluster = replicated_cluster
    total = 60_000
    source = generate(tmp_path / "events.csv", total)
    output = tmp_path / "landed"
    producer = Background(tmp_path, "produce", ["produce", "-b", cluster.bootstrap, "-t", topic, "--input", source,
                                                "--rate", "5000", "--partitions", "6", "--no-progress"])
    args = ["consume", "-b", cluster.bootstrap, "-t", topic, "-o", output, "-g", "g-two-members",
            "--flush-interval-ms", "1000", *FAST_SESSION]
    first = Background(tmp_path, "first", args)
    second = Background(tmp_path, "second", args)
    wait_for(lambda: "assigned" in first.stderr() and "assigned" in second.stderr(), "both members assigned", 120,
             first, second)
    wait_for(lambda: landed_rows(output) > 5_000, "landed events", 120, first, second)
    node = cluster.partition_leaders(topic)[0]
    first.stop(signal.SIGKILL)
    cluster.kill(node)
    rows_at_kill = landed_rows(output)
    wait_for(lambda: landed_rows(output) > rows_at_kill + 5_000, "landing by the survivor", 120, second)
    cluster.start()
    restarted = Background(tmp_path, "restarted", args)
    wait_for(lambda: "assigned" in restarted.stderr(), "the restarted member assigned", 120, restarted, second)
    assert producer.wait(timeout=300) == 0, producer.stderr()
    assert f"delivered {total}" in producer.stderr(), producer.stderr()
    wait_for(lambda: landed_rows(output) >= total, "every event landed", 300, second, restarted)
    assert restarted.stop() == 0, restarted.stderr()
    assert second.stop() == 0, second.stderr()
    assert "revoked" in second.stderr()
    assert_landed_exactly(output, source)
