"""`clickstream consume`: events land as typed Parquet exactly once, through crashes, rebalances,
poison messages and write failures. Output is read back with pyarrow and with duckdb."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from helpers import BINARY, create_topic, kcat_produce

KEY_DELIMITER = "\t"
TYPES = ("view", "addtocart", "transaction")
# The source_id of the test's events, as `produce` would give the fingerprint of an input file.
TEST_SOURCE = "5e1f0e57c0ffee0ddba11c0de0000001"
# Low enough to make restarts after a SIGKILL quick; the broker's minimum is 6 s.
FAST_SESSION = ("-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=2000")


def event_lines(count: int, start: int = 0) -> list[str]:
    """Valid events as 'key<TAB>json' lines over three event dates; identifiers are strings."""
    lines = []
    for i in range(start, start + count):
        kind = TYPES[i % 3]
        event = {"source_id": TEST_SOURCE, "source_line": i + 2, "timestamp": f"2015-06-{1 + i % 3:02d} 12:{i % 60:02d}:{i % 59:02d}",
                 "visitor_id": str(i % 997), "event_type": kind, "item_id": str(i % 5000),
                 "transaction_id": f"tx_{i:03d}" if kind == "transaction" else None,
                 "device": ("mobile", "desktop")[i % 2], "browser": "Safari", "os": "iOS"}
        lines.append(f"v{i % 997}{KEY_DELIMITER}{json.dumps(event)}")
    return lines


# Five messages no decoder accepts, in the order they are sent.
POISON = [f"not json {i}".encode() for i in range(5)]


def send_events(producer, topic: str, count: int, start: int = 0) -> None:
    """Sends generated events' JSON values (no key) through an open kafka-python producer."""
    for line in event_lines(count, start=start):
        producer.send(topic, value=line.split(KEY_DELIMITER, 1)[1].encode())


def send_events_then_only_dead_letters(bootstrap: str, topic: str):
    """A new one-partition topic with five events (offsets 0-4), then the POISON messages (5-9): with
    --batch-size 5, the second batch is dead letters only. Returns the open producer, for more."""
    from kafka import KafkaProducer

    create_topic(bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    send_events(producer, topic, 5)
    for value in POISON:
        producer.send(topic, value=value)
    producer.flush()
    return producer


def dead_letter_values(bootstrap: str, topic: str) -> list[bytes]:
    """Every value in the topic's dead-letter topic, sorted."""
    from kafka import KafkaConsumer

    dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                        consumer_timeout_ms=5000, enable_auto_commit=False)
    try:
        return sorted(message.value for message in dlq)
    finally:
        dlq.close()


def produce_events(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    kcat_produce(bootstrap, topic, event_lines(count, start), key_delimiter=KEY_DELIMITER)


def produce_in_background(bootstrap: str, topic: str, total: int, chunk: int, pause: float) -> threading.Thread:
    """A stream: `total` events in chunks with pauses, so the consumer works while events arrive."""
    def run():
        for start in range(0, total, chunk):
            produce_events(bootstrap, topic, min(chunk, total - start), start)
            time.sleep(pause)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class ConsumerProcess:
    """A `clickstream consume` process with its stderr in a file, for kills and joins mid-run."""

    def __init__(self, tmp_path: Path, name: str, args: list[str]):
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(BINARY), "consume", *args], stdout=subprocess.DEVNULL,
                                        stderr=self.log)

    def stderr(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while text not in self.stderr():
            assert self.process.poll() is None, f"consumer exited early:\n{self.stderr()}"
            assert time.time() < deadline, f"no '{text}' within {timeout}s:\n{self.stderr()}"
            time.sleep(0.1)

    def kill(self) -> None:
        os.kill(self.process.pid, 9)
        self.process.wait()
        self.log.close()

    def wait(self, timeout: float = 180) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()


def kill_consumers_at_random_moments(tmp_path: Path, args: list[str], seed: int, kills: int = 6) -> None:
    """Starts a consumer and SIGKILLs it at a random moment after it got its assignment, `kills`
    times; the moments are random (seeded) on purpose, to hit steps no crash point names."""
    rng = random.Random(seed)
    for attempt in range(kills):
        consumer = ConsumerProcess(tmp_path, f"killed-{attempt}", args)
        consumer.wait_for("assigned")
        time.sleep(rng.uniform(0.3, 2.5))
        consumer.kill()


def stall_a_member_past_its_session(tmp_path: Path, args: list[str], progress) -> tuple[ConsumerProcess,
                                                                                     ConsumerProcess]:
    """Two members share four partitions. Once the first has landed some, it is SIGSTOPped past the
    session timeout, until the group gave all four to the other and `progress()` (what the
    destination says has landed) moved; then SIGCONT. Returns (stalled, other), both running."""
    stalled = ConsumerProcess(tmp_path, "stalled", args)
    stalled.wait_for("assigned")
    other = ConsumerProcess(tmp_path, "other", args)
    other.wait_for("assigned")
    deadline = time.time() + 60
    while "assigned 2 partition" not in stalled.stderr() or "events" not in stalled.stderr():
        assert time.time() < deadline, stalled.stderr()
        time.sleep(0.1)
    os.kill(stalled.process.pid, signal.SIGSTOP)
    try:
        # Past the 6 s session timeout the other member is given all four partitions and lands them.
        deadline = time.time() + 60
        while "assigned 4 partition" not in other.stderr():
            assert time.time() < deadline, other.stderr()
            time.sleep(0.2)
        before = progress()
        deadline = time.time() + 60
        while progress() == before:
            assert time.time() < deadline, other.stderr()
            time.sleep(0.2)
    finally:
        os.kill(stalled.process.pid, signal.SIGCONT)
    return stalled, other


def consume_args(bootstrap: str, topic: str, output: Path, group: str, *extra: str) -> list[str]:
    return ["-b", bootstrap, "-t", topic, "-o", str(output), "-g", group, *FAST_SESSION, *extra]


def run_to_idle(tmp_path: Path, name: str, args: list[str], idle_ms: int = 4000) -> ConsumerProcess:
    consumer = ConsumerProcess(tmp_path, name, [*args, "--exit-when-idle-ms", str(idle_ms)])
    assert consumer.wait() == 0, consumer.stderr()
    return consumer


def landed_table(output: Path) -> pa.Table:
    return ds.dataset(str(output), format="parquet", partitioning="hive").to_table()


def identities(table: pa.Table) -> list[str]:
    """Each row's identity as "source_id:source_line"."""
    return [f"{source}:{line}" for source, line in
            zip(table.column("source_id").to_pylist(), table.column("source_line").to_pylist())]


def assert_exactly(output: Path, expected_ids: set[str]) -> None:
    table = landed_table(output)
    ids = identities(table)
    assert len(ids) == len(expected_ids), f"{len(ids)} rows, expected {len(expected_ids)}"
    assert set(ids) == expected_ids
    rows, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (source_id, source_line)) FROM read_parquet('{output}/**/*.parquet')"
    ).fetchone()
    assert rows == distinct == len(expected_ids)
    leftovers = [p for p in output.rglob(".*") if p.is_file()]
    assert leftovers == [], f"temporary files left: {leftovers}"


def wait_for_more_landed_files(output: Path, timeout: float = 60) -> None:
    """Waits until the output holds more landed files than now: the consumers made progress."""
    before = len(list(output.rglob("*.parquet")))
    deadline = time.time() + timeout
    while len(list(output.rglob("*.parquet"))) <= before:
        assert time.time() < deadline, f"no new file landed within {timeout}s"
        time.sleep(0.1)


def all_ids(count: int) -> set[str]:
    return {f"{TEST_SOURCE}:{i + 2}" for i in range(count)}


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="clickstream-tests")
    try:
        return {tp.partition: meta.offset for tp, meta in admin.list_consumer_group_offsets(group).items()}
    finally:
        admin.close()


def landed_next_offsets(output: Path) -> dict[int, int]:
    """Per partition, the offset after the highest one any landed file claims."""
    result: dict[int, int] = {}
    for path in output.rglob("*clickstream_*"):
        if path.name.startswith("."):
            continue
        fields = path.name.split("_")
        partition = int(fields[4][1:])
        last = int(fields[5].split("-")[1])
        result[partition] = max(result.get(partition, 0), last + 1)
    return result


def test_lands_100k_events_exactly_with_types(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=6)
    produce_events(broker.bootstrap, topic, 100_000)
    output = tmp_path / "landed"
    consumer = run_to_idle(tmp_path, "consume", consume_args(broker.bootstrap, topic, output, "g-100k"))

    assert_exactly(output, all_ids(100_000))
    table = landed_table(output)
    schema = table.schema
    # Every file has exactly the schema `clickstream schema` prints.
    printed = json.loads(subprocess.run([str(BINARY), "schema"], capture_output=True, text=True,
                                        check=True).stdout)["columns"]
    for path in output.rglob("*.parquet"):
        in_file = pq.read_schema(path)
        assert [(f.name, str(f.type), f.nullable) for f in in_file] == \
            [(c["name"], c["type"], c["nullable"]) for c in printed], path
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    for name in ("event_type", "device", "browser", "os"):
        assert pa.types.is_dictionary(schema.field(name).type), name
    assert schema.field("kafka_offset").type == pa.int64()
    assert schema.field("kafka_partition").type == pa.int32()
    assert sorted(p.name for p in output.iterdir() if not p.name.startswith(".")) == ["event_date=2015-06-01", "event_date=2015-06-02",
                                                       "event_date=2015-06-03"]
    sample = table.filter(pa.compute.equal(table.column("source_line"), 4)).to_pylist()[0]
    assert sample["transaction_id"] == "tx_002" and sample["event_type"] == "transaction"
    types = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{output}/**/*.parquet', hive_partitioning=true)")
    described = dict((row[0], row[1]) for row in types.fetchall())
    assert described["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert "finished" in consumer.stderr() and "100000 events" in consumer.stderr()
    # Debian's librdkafka 2.0.2 predates fetch.queue.backoff.ms (2.2.0): the waker refills the queue.
    assert consumer.stderr().splitlines()[0] == "consume: librdkafka 2.0.2, fetch refill by the fetch waker"
    # The group's offsets follow the files, so lag tools see the consumer as caught up.
    assert committed_offsets(broker.bootstrap, "g-100k") == landed_next_offsets(output)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(broker, topic, tmp_path):
    total = 200_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    output = tmp_path / "landed"
    args = consume_args(broker.bootstrap, topic, output, "g-kill", "--flush-interval-ms", "1000")
    kill_consumers_at_random_moments(tmp_path, args, seed=5)
    producer.join()
    run_to_idle(tmp_path, "final", args, idle_ms=5000)
    assert_exactly(output, all_ids(total))


def test_group_members_joining_and_leaving_land_exactly(broker, topic, tmp_path):
    total = 120_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    output = tmp_path / "landed"
    args = consume_args(broker.bootstrap, topic, output, "g-rebalance", "--flush-interval-ms", "1000",
                        "--exit-when-idle-ms", "6000")
    first = ConsumerProcess(tmp_path, "first", args)
    second = ConsumerProcess(tmp_path, "second", args)
    second.wait_for("assigned")
    wait_for_more_landed_files(output)  # the two members are landing
    third = ConsumerProcess(tmp_path, "third", args)
    third.wait_for("assigned")
    wait_for_more_landed_files(output)  # and go on landing after the third joined
    first.process.terminate()  # leaves the group cleanly mid-stream
    assert first.wait() == 0, first.stderr()
    producer.join()
    assert second.wait() == 0, second.stderr()
    assert third.wait() == 0, third.stderr()
    assert "revoked" in second.stderr()
    assert_exactly(output, all_ids(total))


def poison_messages(valid_without_id: bytes) -> list[tuple[bytes | None, str]]:
    good = json.loads(event_lines(1)[0].split(KEY_DELIMITER, 1)[1])
    wrong_type = dict(good, visitor_id=True)
    missing = {"source_id": "only-an-identity", "source_line": 2}
    unknown_type = dict(good, event_type="click")
    tx_on_view = dict(good, event_type="view", transaction_id="tx_9")
    return [
        (b'{"event_id": "broken', "invalid JSON"),
        (json.dumps(wrong_type).encode(), "visitor_id"),
        (json.dumps(missing).encode(), "missing"),
        (b"", "empty"),
        (None, "null"),
        (b'{"event_id":"\xff\xfe","timestamp":"2015-06-01 12:00:00"}', "encoding"),
        (b"x" * 5000, "oversized"),
        (json.dumps(unknown_type).encode(), "click"),
        (json.dumps(tx_on_view).encode(), "transaction_id"),
        (b"[1, 2, 3]", "not an object"),
    ]


def test_poison_messages_go_to_the_dead_letter_topic(broker, topic, tmp_path):
    from kafka import KafkaConsumer, KafkaProducer

    create_topic(broker.bootstrap, topic, partitions=3)
    valid = [line.split(KEY_DELIMITER, 1)[1].encode() for line in event_lines(30)]
    without_id = json.loads(valid[0])
    del without_id["source_id"], without_id["source_line"]
    poisons = poison_messages(json.dumps(without_id).encode())
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    poison_sends = {}  # value -> the send's future, which resolves to the partition and offset
    for i, value in enumerate(valid):
        producer.send(topic, key=b"k", value=value, partition=i % 3)
        if i < len(poisons):
            poison_sends[poisons[i][0]] = producer.send(topic, key=b"poison", value=poisons[i][0], partition=i % 3)
    producer.send(topic, key=b"k", value=json.dumps(without_id).encode(), partition=0)
    producer.flush()
    producer.close()
    origins = {value: (sent.get().partition, sent.get().offset) for value, sent in poison_sends.items()}

    output = tmp_path / "landed"
    consumer = run_to_idle(tmp_path, "consume", consume_args(
        broker.bootstrap, topic, output, "g-poison", "--max-message-bytes", "4096", "--partition-by", "none"))

    table = landed_table(output)
    ids = identities(table)
    assert len(ids) == 31 and len(set(ids)) == 31
    # The id-less message gets its Kafka coordinates: the partition as source, the offset as line.
    derived = [i for i in ids if i.startswith(f"kafka:{topic}:0:")]
    assert len(derived) == 1 and all_ids(30) <= set(ids)
    assert "event_date" in table.schema.names  # flat layout keeps the date in the file
    assert all(p.suffix == ".parquet" or p.name.startswith(("_", ".")) for p in output.iterdir())

    dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                        consumer_timeout_ms=5000, enable_auto_commit=False)
    dead = list(dlq)
    dlq.close()
    assert len(dead) == len(poisons), consumer.stderr()
    values = {m.value for m in dead}
    for value, reason_word in poisons:
        match = [m for m in dead if m.value == value]
        assert match, f"missing dead letter {value!r}: {values}"
        headers = dict(match[0].headers)
        assert reason_word.lower() in headers["reason"].decode().lower(), headers
        assert headers["source.topic"].decode() == topic
        source = (int(headers["source.partition"].decode()), int(headers["source.offset"].decode()))
        assert source == origins[value], (value, headers)
        assert match[0].key == b"poison"
    assert f"{len(poisons)} dead letters" in consumer.stderr()


def test_unwritable_output_commits_nothing_unlanded_and_a_restart_completes(broker, topic, tmp_path):
    """As root, chmod does not stop writes: the output directory is moved aside and a regular file put
    in its place, so every write fails (ENOTDIR) until the directory is moved back."""
    total = 60_000
    create_topic(broker.bootstrap, topic, partitions=3)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=5_000, pause=0.5)
    output = tmp_path / "landed"
    aside = tmp_path / "landed-aside"
    args = consume_args(broker.bootstrap, topic, output, "g-unwritable", "--batch-size", "200",
                        "--flush-interval-ms", "500", "--write-retry-ms", "3000")
    consumer = ConsumerProcess(tmp_path, "failing", args)
    deadline = time.time() + 60
    while not list(output.rglob("*.parquet")):
        assert time.time() < deadline and consumer.process.poll() is None, consumer.stderr()
        time.sleep(0.1)
    output.rename(aside)
    output.write_text("not a directory")
    assert consumer.wait(timeout=120) == 1  # the README's code for a write failure that persisted
    assert "giving up" in consumer.stderr()

    landed = landed_next_offsets(aside)
    committed = committed_offsets(broker.bootstrap, "g-unwritable")
    for partition, offset in committed.items():
        assert offset <= landed.get(partition, 0), (committed, landed)

    producer.join()
    output.unlink()
    aside.rename(output)
    run_to_idle(tmp_path, "restarted", args)
    assert_exactly(output, all_ids(total))


def test_bad_flag_values_are_usage_errors(tmp_path):
    result = subprocess.run([str(BINARY), "consume", "-o", str(tmp_path), "--partition-by", "hour"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    result = subprocess.run([str(BINARY), "consume", "-o", str(tmp_path), "-X", "no.such.property=1"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no.such.property" in result.stderr


def test_a_batch_of_only_dead_letters_still_moves_the_resume_point(broker, topic, tmp_path):
    """The marker file left for a dead-letter-only batch keeps a restart from re-sending them."""
    producer = send_events_then_only_dead_letters(broker.bootstrap, topic)
    output = tmp_path / "landed"
    args = consume_args(broker.bootstrap, topic, output, "g-marker", "--batch-size", "5")
    run_to_idle(tmp_path, "first", args, idle_ms=3000)
    markers = [p.name for p in output.iterdir() if p.name.startswith("_clickstream_")]
    assert len(markers) == 1 and "_o5-9_" in markers[0]

    send_events(producer, topic, 5, start=5)
    producer.flush()
    producer.close()
    second = run_to_idle(tmp_path, "second", args, idle_ms=3000)
    assert "p0@10" in second.stderr()
    assert_exactly(output, all_ids(10))
    # Superseded by the newer data file.
    assert not [p for p in output.iterdir() if p.name.startswith("_clickstream_")]
    assert dead_letter_values(broker.bootstrap, topic) == POISON
