#!/usr/bin/env python3
"""The Spark peer of `clickstream consume`: what a data team would write for Kafka -> Parquet.

Spark Structured Streaming in local[2] reads the whole topic once (trigger availableNow), parses
the JSON events into the same typed columns `clickstream consume` lands (timestamps in µs UTC,
event_type and device trimmed and lower-cased, the Kafka partition and offset, an ingest time),
and writes zstd Parquet in Hive `event_date=` directories. Run with the Python of the venv that
scripts/bench-peers made (pyspark is not in the project's .venv):

    .cache/spark-<v>/venv/bin/python bench/peers/spark_consume.py --bootstrap HOST:PORT --topic T \
        --output DIR --work DIR --jars a.jar,b.jar --result result.json

It writes to --result what only the job itself knows: the query's own processing time and rows
from its progress events, the start-up time, and the JVM's peak RSS (the driver measures the
wall time around the whole process). It counts no rows: the bench counts the output with DuckDB.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# Spark reads these when its JVM starts. Left alone, it resolves the machine's external address
# and talks to itself through it.
LOOPBACK = "127.0.0.1"
os.environ["SPARK_LOCAL_IP"] = LOOPBACK

STARTED = time.monotonic()

from pyspark import SparkContext  # noqa: E402  (after the environment above)
from pyspark.sql import SparkSession, functions as F, types as T  # noqa: E402

# The JSON event on the topic (src/event/fields.h): identifiers and the time travel as strings,
# source_line as an integer; transaction_id, device, browser and os may be null.
EVENT_SCHEMA = T.StructType([
    T.StructField("source_id", T.StringType()),
    T.StructField("source_line", T.LongType()),
    T.StructField("timestamp", T.StringType()),
    T.StructField("visitor_id", T.StringType()),
    T.StructField("event_type", T.StringType()),
    T.StructField("item_id", T.StringType()),
    T.StructField("transaction_id", T.StringType()),
    T.StructField("device", T.StringType()),
    T.StructField("browser", T.StringType()),
    T.StructField("os", T.StringType()),
])
# The settings the bench reports, besides master, jars and directories.
SETTINGS = {
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.compression.codec": "zstd",
    # Spark's default is INT96; the landed files hold µs timestamps.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output", type=Path, required=True, help="the Parquet dataset to write")
    parser.add_argument("--work", type=Path, required=True, help="checkpoint, scratch and warehouse directories")
    parser.add_argument("--jars", required=True, help="comma-separated jars: Spark's Kafka source")
    parser.add_argument("--result", type=Path, required=True, help="where the job's own figures go (JSON)")
    parser.add_argument("--master", default="local[2]")
    return parser.parse_args()


def start_session(args: argparse.Namespace) -> SparkSession:
    builder = (SparkSession.builder.master(args.master).appName("clickstream-bench-spark-peer")
               .config("spark.jars", args.jars)
               .config("spark.local.dir", str(args.work / "local"))
               .config("spark.sql.warehouse.dir", str(args.work / "warehouse")))
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def landed_rows(spark: SparkSession, args: argparse.Namespace):
    """The topic as the landed columns, in the landed order, plus event_date for the directories."""
    messages = (spark.readStream.format("kafka")
                .option("kafka.bootstrap.servers", args.bootstrap)
                .option("subscribe", args.topic)
                .option("startingOffsets", "earliest")
                .load())
    event = F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("event")
    parsed = messages.select(event, "partition", "offset")
    timestamp = F.to_timestamp(F.col("event.timestamp"), "yyyy-MM-dd HH:mm:ss")
    return parsed.select(
        F.col("event.source_id").alias("source_id"),
        F.col("event.source_line").alias("source_line"),
        timestamp.alias("timestamp"),
        F.trim("event.visitor_id").alias("visitor_id"),
        F.lower(F.trim("event.event_type")).alias("event_type"),
        F.trim("event.item_id").alias("item_id"),
        F.trim("event.transaction_id").alias("transaction_id"),
        F.lower(F.trim("event.device")).alias("device"),
        F.trim("event.browser").alias("browser"),
        F.trim("event.os").alias("os"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.current_timestamp().alias("ingested_at"),
        F.to_date(timestamp).alias("event_date"),
    )


def run_query(spark: SparkSession, args: argparse.Namespace) -> tuple[float, list[dict]]:
    """Runs the query to the end of the topic; its wall time and its progress events."""
    started = time.monotonic()
    query = (landed_rows(spark, args).writeStream.format("parquet")
             .option("path", str(args.output))
             .option("checkpointLocation", str(args.work / "checkpoint"))
             .partitionBy("event_date")
             .trigger(availableNow=True)
             .start())
    query.awaitTermination()
    seconds = time.monotonic() - started
    if query.exception() is not None:
        raise RuntimeError(f"the streaming query failed: {query.exception()}")
    return seconds, [json.loads(progress.json) for progress in query.recentProgress]


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water mark of resident memory (VmHWM), while it still runs."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def stop_jvm(spark: SparkSession) -> float | None:
    """Stops Spark and waits for its JVM, so the JVM is reaped by this process and its memory is in
    the peak RSS the bench's launcher reports; returns the JVM's own peak RSS first."""
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    spark.stop()
    if process is None:
        return None
    jvm_peak = peak_rss_mb(process.pid)
    gateway.shutdown()
    # The gateway JVM exits when its standard input closes.
    if process.stdin is not None:
        process.stdin.close()
    process.wait(timeout=120)
    return jvm_peak


def main() -> int:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    spark = start_session(args)
    startup_seconds = time.monotonic() - STARTED
    version = spark.version
    query_seconds, progress = run_query(spark, args)
    jvm_peak = stop_jvm(spark)
    batches = [p for p in progress if p.get("numInputRows", 0) > 0]
    processing_ms = sum(p["durationMs"].get("triggerExecution", 0) for p in batches)
    input_rows = sum(p["numInputRows"] for p in batches)
    result = {
        "spark_version": version,
        "master": args.master,
        "settings": SETTINGS,
        "startup_seconds": startup_seconds,
        "query_seconds": query_seconds,
        "batches": len(batches),
        "input_rows": input_rows,
        "processing_seconds": processing_ms / 1000.0,
        "jvm_peak_rss_mb": jvm_peak,
    }
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
