"""The bench's peers (bench/peer_stages.py) without running them: how they read the tools' output,
translate the producer settings and check what Spark landed. The peers themselves run only with
`make bench PEERS=1`; a quick bench without it must not run them (test_bench.py)."""
from __future__ import annotations

import os
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import BINARY, bench_module


@pytest.fixture(scope="module")
def peers():
    """bench/peer_stages.py, with the binary the tests run."""
    os.environ.setdefault("CLICKSTREAM_BIN", str(BINARY))
    with bench_module("peer_stages") as module:
        yield module


# Closing lines as Kafka 3.9.1's tools print them.
PRODUCER_OUTPUT = """\
180421 records sent, 36084.2 records/sec (8.19 MB/sec), 310.5 ms avg latency, 702.0 ms max latency.
2756101 records sent, 190312.412871 records/sec (43.20 MB/sec), 95.20 ms avg latency, 702.00 ms max latency, 80 ms 50th, 210 ms 95th, 380 ms 99th, 690 ms 99.9th.
"""
CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-27 08:36:09:658, 2026-11-27 08:36:10:125, 11.3553, 24.3154, 50000, 107066.3812, 300, 167, 67.9957, 299401.1976
"""


def test_producer_performance_total_is_the_closing_line(peers):
    assert peers.producer_performance_total(PRODUCER_OUTPUT) == (2756101, pytest.approx(190312.412871))


def test_consumer_performance_stats_by_column(peers):
    stats = peers.consumer_performance_stats("WARNING: something first\n" + CONSUMER_OUTPUT)
    assert stats["data.consumed.in.nMsg"] == 50000
    assert stats["nMsg.sec"] == pytest.approx(107066.3812)
    assert stats["fetch.nMsg.sec"] == pytest.approx(299401.1976)


@pytest.mark.parametrize("output", ["", "Exception in thread main\n", CONSUMER_OUTPUT.splitlines()[0] + "\n"])
def test_tool_output_without_figures_is_a_missing_stage(peers, output):
    with pytest.raises(peers.StageFailed):
        peers.consumer_performance_stats(output)
    with pytest.raises(peers.StageFailed):
        peers.producer_performance_total(output)


def test_producer_settings_become_java_properties(peers, monkeypatch):
    monkeypatch.setattr(peers, "PRODUCER_SETTINGS", ["acks=all", "enable.idempotence=true", "linger.ms=20",
                                                     "batch.size=1000000", "batch.num.messages=10000",
                                                     "compression.codec=lz4"])
    assert peers.java_producer_properties() == ["acks=all", "enable.idempotence=true", "linger.ms=20",
                                                "batch.size=1000000", "compression.type=lz4"]
    # A setting added to the bench without a translation stops the peer instead of being dropped.
    monkeypatch.setattr(peers, "PRODUCER_SETTINGS", ["acks=all", "queue.buffering.max.kbytes=1024"])
    with pytest.raises(peers.StageFailed, match="queue.buffering.max.kbytes"):
        peers.java_producer_properties()


def test_the_bench_settings_all_translate(peers):
    assert len(peers.java_producer_properties()) >= len(peers.PRODUCER_SETTINGS) - 1


def spark_like_table(rows: int, offsets=None, timestamp_type=pa.timestamp("us", tz="UTC")) -> pa.Table:
    """Rows shaped like Spark's output: plain strings, nullable everything, no event_date column."""
    moment = datetime(2015, 7, 27, 12, 0, tzinfo=timezone.utc)
    text = pa.array(["x"] * rows)
    return pa.table({
        "source_id": text, "source_line": pa.array(range(2, rows + 2), pa.int64()),
        "timestamp": pa.array([moment] * rows, timestamp_type),
        "visitor_id": text, "event_type": pa.array(["view"] * rows), "item_id": text,
        "transaction_id": pa.array([None] * rows, pa.string()), "device": text, "browser": text, "os": text,
        "kafka_partition": pa.array([0] * rows, pa.int32()),
        "kafka_offset": pa.array(offsets if offsets is not None else range(rows), pa.int64()),
        "ingested_at": pa.array([moment] * rows, pa.timestamp("us", tz="UTC")),
    })


def write_days(output, table: pa.Table) -> None:
    half = table.num_rows // 2
    for day, part in ((date(2015, 7, 27), table.slice(0, half)), (date(2015, 7, 28), table.slice(half))):
        directory = output / f"event_date={day}"
        directory.mkdir(parents=True)
        pq.write_table(part, directory / "part-00000-0.c000.zstd.parquet", compression="zstd")
    (output / "_spark_metadata").mkdir()
    (output / "_spark_metadata" / "0").write_text("v1\n")


def test_spark_landing_is_counted_and_checked_against_the_landed_schema(peers, tmp_path):
    write_days(tmp_path / "ok", spark_like_table(10))
    files, size = peers.check_spark_landing(tmp_path / "ok", 10)
    assert files == 2 and size > 0

    with pytest.raises(peers.StageFailed, match="landed 10 rows"):
        peers.check_spark_landing(tmp_path / "ok", 11)
    write_days(tmp_path / "twice", spark_like_table(10, offsets=[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]))
    with pytest.raises(peers.StageFailed, match="5 distinct offsets"):
        peers.check_spark_landing(tmp_path / "twice", 10)
    write_days(tmp_path / "nanos", spark_like_table(10, timestamp_type=pa.timestamp("ns")))
    with pytest.raises(peers.StageFailed, match="timestamp: timestamp"):
        peers.check_spark_landing(tmp_path / "nanos", 10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(peers.StageFailed, match="no Parquet files"):
        peers.check_spark_landing(tmp_path / "empty", 10)


def test_a_peer_without_its_tools_is_missing_with_the_reason(peers):
    bench = type("FakeBench", (), {"results": {}})()
    group = peers.Peers(bench)
    assert all(bench.results[key] is None for key in peers.PEER_KEYS)
    with pytest.raises(peers.StageFailed, match="scripts/bench-peers fetch"):
        group.require("SPARK")
