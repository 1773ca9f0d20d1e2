"""`consume --format delta`: a Delta Lake table whose log records what landed, read back by
delta-rs, DuckDB's delta_scan and Polars, checked by a log validator of our own, through crash
points, SIGKILLs, two members, a stalled member and foreign tables."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder, write_deltalake

from delta_readers import (assert_log_is_valid, assert_readers_see_exactly, commits, duckdb_with_delta, replay)
from helpers import BINARY, create_topic, run_clickstream
from test_consume import (FAST_SESSION, ConsumerProcess, all_ids, kill_consumers_at_random_moments, produce_events,
                          produce_in_background, stall_a_member_past_its_session)


def delta_args(bootstrap: str, topic: str, output: Path, group: str, *extra: str) -> list[str]:
    return ["-b", bootstrap, "-t", topic, "-o", str(output), "-g", group, "--format", "delta", *FAST_SESSION, *extra]


def run_to_idle(tmp_path: Path, name: str, args: list[str], idle_ms: int = 4000, env: dict | None = None) -> int:
    log = tmp_path / f"{name}.log"
    with open(log, "w") as stderr:
        code = subprocess.run([str(BINARY), "consume", *args, "--exit-when-idle-ms", str(idle_ms)],
                              stdout=subprocess.DEVNULL, stderr=stderr, timeout=300,
                              env={**os.environ, **(env or {})}).returncode
    return code


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items() if offset > 0}
    finally:
        consumer.close()


def test_lands_100k_events_that_three_readers_and_the_validator_agree_on(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=6)
    produce_events(broker.bootstrap, topic, 100_000)
    table = tmp_path / "table"
    args = delta_args(broker.bootstrap, topic, table, "g-delta")
    assert run_to_idle(tmp_path, "consume", args) == 0, (tmp_path / "consume.log").read_text()

    assert_readers_see_exactly(table, all_ids(100_000))
    assert_log_is_valid(table, "g-delta", topic, end_offsets(broker.bootstrap, topic))
    version_zero = commits(table)[0][1]
    protocol = next(a["protocol"] for a in version_zero if "protocol" in a)
    assert protocol == {"minReaderVersion": 1, "minWriterVersion": 2}
    metadata = next(a["metaData"] for a in version_zero if "metaData" in a)
    assert metadata["partitionColumns"] == ["event_date"]
    delta_table = DeltaTable(str(table))
    assert delta_table.protocol().min_reader_version == 1
    schema = pa.schema(delta_table.schema().to_arrow())
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("event_date").type == pa.date32()
    # One file per day of a round, across partitions: far fewer files than batches of 500.
    assert len(delta_table.file_uris()) < 100_000 / 500
    # The txn versions are readable by delta-rs as the exactly-once record.
    assert {p: delta_table.transaction_version(f"clickstream-g-delta-{topic}-{p}") + 1 for p in range(6)} == \
        end_offsets(broker.bootstrap, topic)

    # A restart lands nothing again; new events land once.
    produce_events(broker.bootstrap, topic, 1_000, start=100_000)
    assert run_to_idle(tmp_path, "again", args) == 0, (tmp_path / "again.log").read_text()
    assert_readers_see_exactly(table, all_ids(101_000))
    assert_log_is_valid(table, "g-delta", topic, end_offsets(broker.bootstrap, topic))


def test_predicates_skip_files_by_exact_stats_to_the_boundary_microsecond(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_events(broker.bootstrap, topic, 6_000)
    table = tmp_path / "table"
    assert run_to_idle(tmp_path, "consume", delta_args(broker.bootstrap, topic, table, "g-stats",
                                                       "--batch-size", "200")) == 0
    files, _ = replay(table)
    stats = [json.loads(add["stats"]) for add in files.values()]
    full = DeltaTable(str(table)).to_pyarrow_table(columns=["timestamp"]).column("timestamp").to_pylist()
    duck = duckdb_with_delta()
    delta_rs = QueryBuilder().register("events", DeltaTable(str(table)))
    for bound in ("minValues", "maxValues"):
        for file_stats in stats[:5]:
            at = file_stats[bound]["timestamp"]  # e.g. 2015-06-01T12:05:07.000000Z
            expected = sum(1 for t in full if t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == at)
            assert expected > 0
            literal = at.replace("T", " ").rstrip("Z")
            where = f"\"timestamp\" BETWEEN TIMESTAMPTZ '{literal}+00' AND TIMESTAMPTZ '{literal}+00'"
            assert duck.sql(f"SELECT count(*) FROM delta_scan('{table}') WHERE {where}").fetchone()[0] == expected
            rust = delta_rs.execute(
                f"SELECT count(*) AS n FROM events WHERE \"timestamp\" BETWEEN '{at}' AND '{at}'").read_all()
            assert rust.column("n")[0].as_py() == expected


@pytest.mark.parametrize("step", ["delta-after-data", "delta-before-commit", "delta-after-commit",
                                  "delta-mid-checkpoint"])
def test_a_crash_at_each_commit_step_lands_every_event_once(broker, topic, tmp_path, step):
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_events(broker.bootstrap, topic, 3_000)
    table = tmp_path / "table"
    # A checkpoint at every version, so the second round reaches every step, the checkpoint's too.
    args = delta_args(broker.bootstrap, topic, table, "g-crash", "--batch-size", "250",
                      "--delta-checkpoint-interval", "1")
    crashed = run_to_idle(tmp_path, "crashed", args, env={"CLICKSTREAM_CRASH_AT": f"{step}:2"})
    log = (tmp_path / "crashed.log").read_text()
    assert crashed == -9 and f"crash point {step} reached" in log, log
    if step == "delta-mid-checkpoint":
        checkpoints = sorted((table / "_delta_log").glob("*.checkpoint.parquet"))
        pointer = json.loads((table / "_delta_log" / "_last_checkpoint").read_text())
        assert int(checkpoints[-1].name[:20]) > pointer["version"]  # the pointer still names the older one
        assert_readers_see_exactly(table, identities_now(table))
    assert run_to_idle(tmp_path, "restarted", args) == 0, (tmp_path / "restarted.log").read_text()
    assert_readers_see_exactly(table, all_ids(3_000))
    assert_log_is_valid(table, "g-crash", topic, end_offsets(broker.bootstrap, topic))
    files, _ = replay(table)
    orphans = [p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts
               and str(p.relative_to(table)) not in files]
    if step in ("delta-after-data", "delta-before-commit"):
        assert orphans, "the killed round's data files should be left unreferenced"
    # `report` reads the snapshot, not a glob: the orphans' rows are not counted.
    report = run_clickstream("report", "--input", str(table))
    assert report.returncode == 0, report.stderr
    assert "Read 3,000 events" in report.stdout, report.stdout


def identities_now(table: Path) -> set[str]:
    arrow = DeltaTable(str(table)).to_pyarrow_table(columns=["source_id", "source_line"])
    return {f"{s}:{n}" for s, n in zip(arrow.column("source_id").to_pylist(), arrow.column("source_line").to_pylist())}


def test_six_sigkills_and_two_members_land_every_event_once(broker, topic, tmp_path):
    total = 120_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    table = tmp_path / "table"
    args = delta_args(broker.bootstrap, topic, table, "g-kills", "--flush-interval-ms", "500",
                      "--delta-checkpoint-interval", "5")
    kill_consumers_at_random_moments(tmp_path, args, seed=20)
    members = [ConsumerProcess(tmp_path, name, [*args, "--exit-when-idle-ms", "6000"]) for name in ("a", "b")]
    producer.join()
    for member in members:
        assert member.wait() == 0, member.stderr()
    assert_readers_see_exactly(table, all_ids(total))
    assert_log_is_valid(table, "g-kills", topic, end_offsets(broker.bootstrap, topic))


def test_a_stalled_member_is_fenced_and_lands_nothing_twice(broker, topic, tmp_path):
    total = 60_000
    create_topic(broker.bootstrap, topic, partitions=4)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=5_000, pause=0.5)
    table = tmp_path / "table"
    args = delta_args(broker.bootstrap, topic, table, "g-stall", "--flush-interval-ms", "300",
                      "--exit-when-idle-ms", "8000")
    stalled, other = stall_a_member_past_its_session(tmp_path, args, lambda: len(commits(table)))
    producer.join()
    assert other.wait() == 0, other.stderr()
    stalled.wait()
    assert_readers_see_exactly(table, all_ids(total))
    assert_log_is_valid(table, "g-stall", topic, end_offsets(broker.bootstrap, topic))


def test_appends_to_a_table_that_delta_rs_created_with_the_events_schema(broker, topic, tmp_path):
    """A table another writer created at protocol (1,2) with our schema is appended to as ours."""
    table = tmp_path / "table"
    events = pa.schema([("source_id", pa.string(), False), ("source_line", pa.int64(), False),
                        ("timestamp", pa.timestamp("us", tz="UTC"), False), ("visitor_id", pa.string(), False),
                        ("event_type", pa.string(), False), ("item_id", pa.string(), False),
                        ("transaction_id", pa.string()), ("device", pa.string()), ("browser", pa.string()),
                        ("os", pa.string()), ("event_date", pa.date32(), False),
                        ("kafka_partition", pa.int32(), False), ("kafka_offset", pa.int64(), False),
                        ("ingested_at", pa.timestamp("us", tz="UTC"), False)])
    write_deltalake(str(table), events.empty_table(), partition_by=["event_date"])
    assert DeltaTable(str(table)).protocol().min_writer_version == 2
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_events(broker.bootstrap, topic, 2_000)
    assert run_to_idle(tmp_path, "consume", delta_args(broker.bootstrap, topic, table, "g-foreign")) == 0, \
        (tmp_path / "consume.log").read_text()
    assert_readers_see_exactly(table, all_ids(2_000))


def one_line_refusal(broker, topic: str, table: Path | str, *extra: str) -> str:
    started = time.monotonic()
    result = run_clickstream("consume", "-b", broker.bootstrap, "-t", topic, "-o", str(table), "-g", "g-refuse",
                             "--format", "delta", "--exit-when-idle-ms", "1000", *extra, timeout=60)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 10
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_refuses_tables_it_cannot_write_with_one_line_and_writes_nothing(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=1)
    features = tmp_path / "features"
    write_deltalake(str(features), pa.table({"source_id": pa.array(["a"])}),
                    configuration={"delta.enableDeletionVectors": "true"})
    before = sorted(p.name for p in (features / "_delta_log").iterdir())
    line = one_line_refusal(broker, topic, features)
    assert "protocol" in line and "deletionVectors" in line, line
    assert sorted(p.name for p in (features / "_delta_log").iterdir()) == before

    other_schema = tmp_path / "other-schema"
    write_deltalake(str(other_schema), pa.table({"source_id": pa.array([1], pa.int64())}))
    line = one_line_refusal(broker, topic, other_schema)
    assert "partitioned by [], the events by [event_date]" in line, line
    line = one_line_refusal(broker, topic, other_schema, "--partition-by", "none")
    assert "column \"source_id\" is long, the events need string" in line, line
