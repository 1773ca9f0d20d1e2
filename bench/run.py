#!/usr/bin/env python3
"""`make bench`: clickstream against kcat and the original Python design, on one local broker.

Starts its own Kafka broker, generates the dataset, runs every stage on fresh 6-partition topics,
and writes bench/results/latest.md and latest.json (every figure measured in this run; a stage
that cannot run is reported as null with a note, never estimated).

    .venv/bin/python bench/run.py [--quick] [--results-dir DIR] [--csv FILE]

CLICKSTREAM_BIN overrides the binary (default build/clickstream).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import peer_stages
from common import (BINARY, IDLE_MS, LARGE_BATCH, PARTITIONS, PRODUCER_SETTINGS, ROOT, Child, LocalServer, Measured,
                    StageFailed, build_launcher, create_topic, fmt, fresh_name, measure, target_status,
                    topic_message_count)

BASELINE = ROOT / "bench" / "baseline"
PYTHON = sys.executable

DEFAULT_EVENTS = 2_756_101

REQUIRED_KEYS = [
    "events", "generate_seconds", "producer_eps", "kcat_produce_eps", "producer_vs_kcat",
    "consumer_eps", "kcat_consume_eps", "consumer_vs_kcat", "consumer_vs_kcat_large_batch", "metrics_overhead",
    "python_producer_eps",
    "python_consumer_eps", "producer_vs_python", "consumer_vs_python", "producer_peak_rss_mb_1x",
    "producer_peak_rss_mb_10x", "consumer_peak_rss_mb_1x", "consumer_peak_rss_mb_10x", "csv_bytes",
    "parquet_bytes", "csv_to_parquet_ratio", "csv_to_parquet_ratio_large_batch",
    "parquet_vs_pyarrow_size", "latency_p50_ms", "latency_p99_ms", "postgres_consumer_eps",
    "s3_consumer_eps", "s3_consumer_eps_large_batch",
    "duckdb_csv_parquet_bytes", "landed_vs_duckdb_size_large_batch", "landed_vs_duckdb_size_defaults",
    "compacted_files", "compacted_bytes", "compacted_vs_duckdb_size",
]


@dataclass
class Profile:
    events: int            # the main dataset
    python_events: int     # the subset the Python baseline runs on
    memory_base: int       # the 1x size of the memory comparison (10x is ten times it)
    latency_events: int    # events produced at --rate 1000 for the latency measurement
    rounds: int            # rounds of the runs the headline ratios compare (their medians count)


QUICK = Profile(events=50_000, python_events=5_000, memory_base=50_000, latency_events=2_000, rounds=1)
FULL = Profile(events=DEFAULT_EVENTS, python_events=50_000, memory_base=200_000, latency_events=10_000,
               rounds=3)


class Broker(LocalServer):
    """The bench's own broker, started by scripts/local-kafka."""

    def __init__(self, data_dir: Path):
        super().__init__("local-kafka", data_dir)

    @property
    def bootstrap(self) -> str:
        return self.address


class PostgresServer(LocalServer):
    """A PostgreSQL 15 started by scripts/local-postgres, for the PostgreSQL sink's figure."""

    def __init__(self, data_dir: Path):
        super().__init__("local-postgres", data_dir)

    @property
    def uri(self) -> str:
        return self.address

    def start(self) -> None:
        try:
            super().start(timeout=120)
        except RuntimeError as error:
            raise StageFailed(str(error)) from error


# ---------------------------------------------------------------------------------------------
# Kafka helpers (kafka-python for admin and offsets, kcat for bulk data)

def wait_for_stable_group(bootstrap: str, group: str, timeout: float = 30) -> bool:
    """True once the consumer group has members with an assignment (state Stable)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="clickstream-bench")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                described = admin.describe_consumer_groups([group])
                if described and described[0].state == "Stable" and described[0].members:
                    return True
            except Exception:  # the group may not exist yet
                pass
            time.sleep(0.1)
        return False
    finally:
        admin.close()


def warm_up(bootstrap: str, logs: Path) -> None:
    """Gets the broker's first-use work out of the way before anything is timed: the idempotent
    producer's first PID request waits for the transaction coordinator to load, and the first
    consumer group creates __consumer_offsets."""
    from kafka import KafkaConsumer

    topic = fresh_name("warmup")
    create_topic(bootstrap, topic)
    message = logs / "warmup.txt"
    message.write_text("warm-up\n")
    measure("warmup-produce", ["kcat", "-b", bootstrap, "-t", topic, "-P", *producer_flags()], logs,
            stdin=message, timeout=120).check()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=fresh_name("warmup"),
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        for _ in consumer:
            break
        consumer.commit()
    finally:
        consumer.close()


def producer_flags() -> list[str]:
    return [arg for setting in PRODUCER_SETTINGS for arg in ("-X", setting)]


# ---------------------------------------------------------------------------------------------
# Parquet helpers

def parquet_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.parquet")) if directory.exists() else []


def parquet_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in parquet_files(directory))


def s3_rows(server, root: str) -> tuple[int, int]:
    """Rows and files landed under bucket/prefix, read with pyarrow's own S3 client."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(root, filesystem=server.filesystem(), format="parquet", partitioning="hive")
    return dataset.count_rows(), len(dataset.files)


def parquet_rows(directory: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(path).num_rows for path in parquet_files(directory))


def column_bytes(files: list[Path], single: Path) -> dict[str, list[int]]:
    """Compressed bytes per column: [clickstream files, the single pyarrow file]."""
    import pyarrow.parquet as pq

    def sizes(paths: list[Path]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for path in paths:
            metadata = pq.read_metadata(path)
            for group in range(metadata.num_row_groups):
                row_group = metadata.row_group(group)
                for index in range(row_group.num_columns):
                    column = row_group.column(index)
                    totals[column.path_in_schema] = totals.get(column.path_in_schema, 0) + \
                        column.total_compressed_size
        return totals

    ours, theirs = sizes(files), sizes([single])
    return {name: [ours.get(name, 0), theirs.get(name, 0)] for name in ours}


def duckdb_csv_parquet_bytes(csv: Path, work: Path) -> int:
    """DuckDB's own answer to 'this CSV as Parquet': every column of the CSV, one zstd file."""
    import duckdb

    target = work / "duckdb-csv.zstd.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    size = target.stat().st_size
    target.unlink()
    return size


def duckdb_group_by_seconds(directory: Path, events: int) -> float:
    """Best of three runs of a typical query over the dataset, in a fresh connection each."""
    import duckdb

    best = float("inf")
    for _ in range(3):
        connection = duckdb.connect()
        started = time.monotonic()
        rows = connection.sql(f"SELECT event_type, count(*) FROM read_parquet('{directory}/**/*.parquet', "
                              "hive_partitioning=true) GROUP BY 1").fetchall()
        best = min(best, time.monotonic() - started)
        connection.close()
        if sum(count for _, count in rows) != events:
            raise StageFailed(f"DuckDB counted {sum(count for _, count in rows)} rows, expected {events}")
    return best


def csv_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def head_csv(source: Path, target: Path, rows: int) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        for index, line in enumerate(src):
            if index > rows:
                break
            dst.write(line)


# ---------------------------------------------------------------------------------------------
# Metrics overhead

METRICS_ADDRESS = re.compile(r"metrics on http://([^/\s]+)/metrics")
LANDED_SAMPLE = re.compile(r"^clickstream_consume_events_landed_total\{[^}]*\} (\S+)$", re.M)
SCRAPE_INTERVAL_S = 1.0
# Pairs of consumer runs without and with --metrics-listen, at the least (more with --rounds).
METRICS_PAIRS = 3


class MetricsScraper:
    """Fetches a consumer's /metrics every SCRAPE_INTERVAL_S, as a Prometheus scraping it would,
    from the moment the consumer says where its port is until it exits. A scrape counts only when
    it answers 200 with an exposition of clickstream's; the most events landed that one showed is
    kept, to check that the scrapes saw the run."""

    def __init__(self, child: Child):
        self.child = child
        self.scrapes = 0
        self.landed_seen = 0.0
        self.failures: list[str] = []
        self.address = ""
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "MetricsScraper":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def finishing(self) -> bool:
        """The consumer is past its last landing (its port closes as it exits)."""
        return self.child.proc.poll() is not None or \
            "no new message" in self.child.stderr_path.read_text(errors="replace")

    def run(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 60
        while not self.address:
            found = METRICS_ADDRESS.search(self.child.stderr_path.read_text(errors="replace"))
            if found:
                self.address = found.group(1)
            elif self.stopped.wait(0.02) or time.monotonic() > deadline:
                self.failures.append("the consumer never said where its metrics are")
                return
        next_at = time.monotonic()
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=5) as response:
                    body = response.read().decode()
                landed = LANDED_SAMPLE.search(body)
                if landed:
                    self.landed_seen = max(self.landed_seen, float(landed.group(1)))
                # Before the consumer is set up, the exposition holds the build info alone.
                if response.status == 200 and "clickstream_build_info" in body:
                    self.scrapes += 1
                else:
                    self.failures.append(f"HTTP {response.status} without clickstream_build_info")
            except OSError as error:
                if not self.finishing():
                    self.failures.append(str(error))
            next_at += SCRAPE_INTERVAL_S
            self.stopped.wait(max(0.0, next_at - time.monotonic()))


def median_pair_ratio(without: list[float], with_metrics: list[float]) -> tuple[float, list[float]]:
    """The median of with/without over runs paired in the order they ran, and the ratios."""
    if len(without) != len(with_metrics) or not without:
        raise ValueError(f"{len(without)} runs without metrics against {len(with_metrics)} with")
    ratios = [w / wo for wo, w in zip(without, with_metrics)]
    return statistics.median(ratios), ratios


# ---------------------------------------------------------------------------------------------
# The benchmark

@dataclass
class Bench:
    profile: Profile
    broker: Broker
    work: Path
    logs: Path
    csv_override: Path | None
    results: dict = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    column_bytes: dict = field(default_factory=dict)

    # -- bookkeeping ----------------------------------------------------------------------------
    def record(self, stage: str, measured: Measured | None, events: int | None, **extra) -> None:
        row = {"stage": stage, "events": events}
        if measured is not None:
            row.update(seconds=round(measured.seconds, 3), peak_rss_mb=round(measured.peak_rss_mb, 1),
                       command=" ".join(Path(measured.argv[0]).name if i == 0 else a
                                        for i, a in enumerate(measured.argv)))
        row.update(extra)
        self.stages.append(row)

    def run_stage(self, name: str, function) -> None:
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            function()
            print(f"bench: {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        except StageFailed as failure:
            self.missing.append(f"{name}: {failure}")
            print(f"bench: {name} MISSING: {failure}", file=sys.stderr, flush=True)

    def clickstream(self, *args) -> list[str]:
        return [str(BINARY), *map(str, args)]

    # -- stages ---------------------------------------------------------------------------------
    def generate(self, events: int, output: Path, stage: str | None = None, *extra) -> Measured:
        measured = measure(stage or f"generate-{events}",
                           self.clickstream("generate", "--events", events, "--output", output, *extra),
                           self.logs).check()
        rows = csv_rows(output)
        if rows != events:
            raise StageFailed(f"generate --events {events} wrote {rows} rows")
        return measured

    def stage_generate(self) -> None:
        self.csv = self.work / "events.csv"
        if self.csv_override:
            shutil.copyfile(self.csv_override, self.csv)
            self.events = csv_rows(self.csv)
            self.notes.append(f"Dataset: {self.csv_override} ({self.events} events), not generated.")
        else:
            self.events = self.profile.events
            measured = self.generate(self.events, self.csv, "generate")
            self.results["generate_seconds"] = measured.seconds
            self.results["generate_peak_rss_mb"] = measured.peak_rss_mb
            self.record("generate", measured, self.events)
        self.results["events"] = self.events
        self.results["csv_bytes"] = self.csv.stat().st_size

    def produce(self, csv: Path, topic: str, name: str, events: int) -> Measured:
        create_topic(self.broker.bootstrap, topic)
        measured = measure(name, self.clickstream(
            "produce", "--input", csv, "-b", self.broker.bootstrap, "-t", topic, "--rate", 0,
            "--partitions", PARTITIONS, "--no-progress", *producer_flags()), self.logs).check()
        delivered = topic_message_count(self.broker.bootstrap, topic)
        if delivered != events:
            raise StageFailed(f"{name}: {delivered} messages in the topic, expected {events}")
        return measured

    def consume(self, topic: str, output: Path, name: str, events: int, *extra, scraped: bool = False) -> Measured:
        """`scraped`: with --metrics-listen and a MetricsScraper on it (its counts in self.last_scraper)."""
        metrics = ["--metrics-listen", "127.0.0.1:0"] if scraped else []
        child = Child(name, self.clickstream(
            "consume", "--output", output, "-b", self.broker.bootstrap, "-t", topic,
            "-g", fresh_name("group"), "--exit-when-idle-ms", IDLE_MS, *metrics, *extra), self.logs)
        if scraped:
            with MetricsScraper(child) as self.last_scraper:
                measured = child.wait(1800)
        else:
            measured = child.wait(1800)
        measured.check()
        if scraped and (self.last_scraper.failures or not self.last_scraper.scrapes):
            raise StageFailed(f"{name}: {self.last_scraper.scrapes} scrapes of /metrics answered, "
                              f"{len(self.last_scraper.failures)} failed: {self.last_scraper.failures[:3]}")
        rows = parquet_rows(output)
        if rows != events:
            raise StageFailed(f"{name}: {rows} rows landed, expected {events}")
        return measured

    def stage_produce(self) -> None:
        self.topic = fresh_name("produce")
        measured = self.produce(self.csv, self.topic, "clickstream-produce", self.events)
        self.results["producer_eps"] = self.events / measured.seconds
        self.results["producer_peak_rss_mb"] = measured.peak_rss_mb
        self.record("clickstream produce --rate 0", measured, self.events,
                    eps=round(self.results["producer_eps"]))
        self.topic_filled_by_clickstream = True

    def kcat_input(self) -> Path:
        """The messages clickstream sent, as `key<TAB>json` lines, for kcat -P to send again."""
        lines = self.work / "messages.tsv"
        if getattr(self, "topic_filled_by_clickstream", False):
            measure("kcat-dump", ["kcat", "-b", self.broker.bootstrap, "-t", self.topic, "-C", "-e",
                                  "-q", "-o", "beginning", "-f", "%k\t%s\n"],
                    self.logs, stdout=lines).check()
        else:
            raise StageFailed("no topic filled by `clickstream produce` to take the messages from")
        return lines

    def kcat_produce(self, lines: Path, name: str) -> Measured:
        topic = fresh_name("kcat-produce")
        create_topic(self.broker.bootstrap, topic)
        measured = measure(name, ["kcat", "-b", self.broker.bootstrap, "-t", topic, "-P",
                                  "-K", "\t", *producer_flags()],
                           self.logs, stdin=lines).check()
        delivered = topic_message_count(self.broker.bootstrap, topic)
        if delivered != self.events:
            raise StageFailed(f"kcat -P delivered {delivered} messages, expected {self.events}")
        return measured

    def kcat_consume(self, name: str) -> Measured:
        return measure(name, ["kcat", "-b", self.broker.bootstrap, "-t", self.topic,
                              "-C", "-e", "-q", "-o", "beginning"], self.logs).check()

    def stage_kcat_produce(self) -> None:
        lines = self.kcat_input()
        measured = self.kcat_produce(lines, "kcat-produce")
        self.results["kcat_produce_eps"] = self.events / measured.seconds
        self.record("kcat -P (same messages)", measured, self.events,
                    eps=round(self.results["kcat_produce_eps"]))
        lines.unlink()

    def stage_kcat_consume(self) -> None:
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        measured = self.kcat_consume("kcat-consume")
        self.results["kcat_consume_eps"] = self.events / measured.seconds
        self.record("kcat -C -e > /dev/null", measured, self.events,
                    eps=round(self.results["kcat_consume_eps"]))

    def stage_duckdb_size(self) -> None:
        """The size to compare the landed data with: DuckDB's one zstd Parquet file of the CSV's columns."""
        self.results["duckdb_csv_parquet_bytes"] = duckdb_csv_parquet_bytes(self.csv, self.work)
        self.record("duckdb, the CSV's columns as one zstd file", None, self.events, files=1,
                    parquet_bytes=self.results["duckdb_csv_parquet_bytes"])

    def stage_consume(self) -> None:
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        output = self.work / "landed-default"
        measured = self.consume(self.topic, output, "clickstream-consume", self.events)
        busy = measured.seconds - IDLE_MS / 1000
        self.results["consumer_eps"] = self.events / busy
        self.results["consumer_peak_rss_mb"] = measured.peak_rss_mb
        self.results["parquet_bytes"] = parquet_bytes(output)
        self.results["parquet_files"] = len(parquet_files(output))
        self.results["csv_to_parquet_ratio"] = self.results["csv_bytes"] / self.results["parquet_bytes"]
        self.record("clickstream consume (defaults)", measured, self.events,
                    eps=round(self.results["consumer_eps"]), files=self.results["parquet_files"],
                    parquet_bytes=self.results["parquet_bytes"])
        self.landed_default = output

    def stage_metrics_overhead(self) -> None:
        """What --metrics-listen costs while a scraper fetches /metrics every second: consumer runs at
        the defaults on the consume stage's topic, without and with, each pair in the opposite order
        to the one before (without, with; with, without; ...): consecutive runs slow down as the
        machine's disk catches up with the files before them (6 consumer runs of the full data went
        from 195k to 131k events/s), and a fixed order would charge that drift to one side. The
        figure is the median of the pairs' with/without events/s."""
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        pairs = max(METRICS_PAIRS, self.profile.rounds)
        eps: dict[bool, list[float]] = {False: [], True: []}
        scrapes = []
        for number in range(1, pairs + 1):
            for scraped in ((False, True) if number % 2 else (True, False)):
                side = "with" if scraped else "without"
                output = self.work / f"landed-metrics-{side}-{number}"
                measured = self.consume(self.topic, output, f"clickstream-consume-metrics-{side}-{number}",
                                        self.events, scraped=scraped)
                shutil.rmtree(output)
                eps[scraped].append(self.events / (measured.seconds - IDLE_MS / 1000))
                extra = {"scrapes": self.last_scraper.scrapes,
                         "most_landed_scraped": int(self.last_scraper.landed_seen)} if scraped else {}
                self.record(f"clickstream consume, pair {number} {side} --metrics-listen"
                            + (" (/metrics every 1 s)" if scraped else ""), measured, self.events,
                            eps=round(eps[scraped][-1]), **extra)
                if scraped:
                    scrapes.append(self.last_scraper.scrapes)
        self.results["metrics_overhead"], ratios = median_pair_ratio(eps[False], eps[True])
        self.results["metrics_overhead_rounds"] = [round(ratio, 4) for ratio in ratios]
        self.results["consumer_eps_without_metrics_rounds"] = [round(value) for value in eps[False]]
        self.results["consumer_eps_with_metrics_rounds"] = [round(value) for value in eps[True]]
        self.results["metrics_scrapes_rounds"] = scrapes
        self.notes.append(f"Metrics overhead: {pairs} pairs of `clickstream consume` at the defaults on the "
                          "consume stage's topic, without `--metrics-listen` and with it while the bench "
                          f"fetched /metrics every {SCRAPE_INTERVAL_S:g} s, each pair in the opposite order to "
                          "the one before; metrics_overhead is the "
                          "median of the pairs' with/without events/s (each pair in metrics_overhead_rounds).")

    def stage_more_rounds(self) -> None:
        """More rounds of the four runs the headline ratios compare (produce, kcat -P, kcat -C,
        consume at the defaults), one after the other as in the first round: on a shared machine one
        slow moment of one run moved a ratio by half. Each of the four events/s figures becomes the
        median of its rounds; the stages above are the first round, and their rows stay the table's."""
        if self.profile.rounds <= 1:
            return
        keys = ("producer_eps", "kcat_produce_eps", "kcat_consume_eps", "consumer_eps")
        if not getattr(self, "topic_filled_by_clickstream", False) or any(not self.results.get(k) for k in keys):
            raise StageFailed("the first round of produce, kcat -P, kcat -C and consume is incomplete")
        rounds = {key: [self.results[key]] for key in keys}
        lines = self.kcat_input()
        try:
            for number in range(2, self.profile.rounds + 1):
                measured = self.produce(self.csv, fresh_name("produce"), f"clickstream-produce-{number}",
                                        self.events)
                rounds["producer_eps"].append(self.events / measured.seconds)
                rounds["kcat_produce_eps"].append(
                    self.events / self.kcat_produce(lines, f"kcat-produce-{number}").seconds)
                rounds["kcat_consume_eps"].append(self.events / self.kcat_consume(f"kcat-consume-{number}").seconds)
                output = self.work / f"landed-round-{number}"
                measured = self.consume(self.topic, output, f"clickstream-consume-{number}", self.events)
                rounds["consumer_eps"].append(self.events / (measured.seconds - IDLE_MS / 1000))
                shutil.rmtree(output)
        finally:
            lines.unlink()
        for key, values in rounds.items():
            self.results[key] = statistics.median(values)
            self.results[f"{key}_rounds"] = [round(value) for value in values]
        self.notes.append(f"Rounds: produce, kcat -P, kcat -C and consume at the defaults ran {self.profile.rounds} "
                          "times each, in that order; producer_eps, kcat_produce_eps, kcat_consume_eps and "
                          "consumer_eps are the medians (every round in the *_rounds keys); the Stages table "
                          "shows the first round.")

    def stage_compact(self) -> None:
        """`clickstream compact --min-age 0` of the default landing, against DuckDB's one zstd file
        of the CSV's columns; a DuckDB group-by over the dataset before and after."""
        output = getattr(self, "landed_default", None)
        if output is None or not output.exists():
            raise StageFailed("no default landing to compact")
        try:
            if self.results.get("duckdb_csv_parquet_bytes") is None:
                self.results["duckdb_csv_parquet_bytes"] = duckdb_csv_parquet_bytes(self.csv, self.work)
            self.results["duckdb_group_by_seconds_landed"] = duckdb_group_by_seconds(output, self.events)
            measured = measure("clickstream-compact", self.clickstream("compact", "--output", output,
                                                                      "--min-age", 0), self.logs).check()
            rows = parquet_rows(output)
            if rows != self.events:
                raise StageFailed(f"compact: {rows} rows after compaction, expected {self.events}")
            self.results["compacted_files"] = len(parquet_files(output))
            self.results["compacted_bytes"] = parquet_bytes(output)
            self.results["compacted_vs_duckdb_size"] = (self.results["compacted_bytes"] /
                                                        self.results["duckdb_csv_parquet_bytes"])
            self.results["compact_seconds"] = measured.seconds
            self.results["duckdb_group_by_seconds_compacted"] = duckdb_group_by_seconds(output, self.events)
            self.record("clickstream compact --min-age 0 (of the default landing)", measured, self.events,
                        files=self.results["compacted_files"], parquet_bytes=self.results["compacted_bytes"])
        finally:
            shutil.rmtree(output)

    def stage_postgres_consume(self) -> None:
        """The same topic and consumer defaults as the Parquet figure, landed in a PostgreSQL table."""
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        import psycopg

        server = PostgresServer(self.work / "postgres")
        try:
            server.start()
            # The password goes by PGPASSWORD, so the command line in the report carries none.
            user_info, rest = server.uri.split("://", 1)[1].split("@", 1)
            user, password = user_info.split(":", 1)
            table = "bench_events"
            measured = measure("clickstream-consume-postgres", self.clickstream(
                "consume", "--output", f"postgresql://{user}@{rest}", "--table", table,
                "-b", self.broker.bootstrap, "-t", self.topic, "-g", fresh_name("group"),
                "--exit-when-idle-ms", IDLE_MS), self.logs, env={"PGPASSWORD": password}).check()
            with psycopg.connect(server.uri) as conn:
                rows, distinct = conn.execute(f"SELECT count(*), count(DISTINCT (source_id, source_line)) FROM {table}").fetchone()
                table_bytes = conn.execute("SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                                           "WHERE inhparent = %s::regclass", (table,)).fetchone()[0]
        finally:
            server.stop()
        if rows != self.events or distinct != self.events:
            raise StageFailed(f"PostgreSQL: {rows} rows ({distinct} distinct) landed, expected {self.events}")
        busy = measured.seconds - IDLE_MS / 1000
        self.results["postgres_consumer_eps"] = self.events / busy
        self.results["postgres_table_bytes"] = int(table_bytes or 0)
        self.record("clickstream consume --output postgresql:// (defaults)", measured, self.events,
                    eps=round(self.results["postgres_consumer_eps"]), parquet_bytes=int(table_bytes or 0))
        self.notes.append("PostgreSQL: a local PostgreSQL 15 (scripts/local-postgres, default settings, fsync on) "
                          "on the same machine; one transaction per landing round (binary COPY plus the "
                          "offsets-table update); the bytes column is the table's partitions with their indexes.")

    def stage_large_batch(self) -> None:
        """--batch-size 100000 with the default layout (the required figures), then with
        --partition-by none: Hive date directories split every batch by day, so the flat layout
        shows what the batch size alone gives."""
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        for layout, suffix in (("event_date", ""), ("none", "_flat")):
            large_bytes, single_bytes = self.large_batch(layout)
            self.results[f"csv_to_parquet_ratio_large_batch{suffix}"] = self.results["csv_bytes"] / large_bytes
            self.results[f"parquet_vs_pyarrow_size{suffix}"] = large_bytes / single_bytes

    def large_batch(self, layout: str) -> tuple[int, int]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        output = self.work / f"landed-large-{layout}"
        measured = self.consume(self.topic, output, f"clickstream-consume-large-{layout}", self.events,
                                "--batch-size", LARGE_BATCH, "--flush-interval-ms", 600_000,
                                "--partition-by", layout)
        files = parquet_files(output)
        large_bytes = parquet_bytes(output)
        # The same rows and columns, written by pyarrow (its defaults) as a single zstd file.
        table = pa.concat_tables([pq.ParquetFile(path).read() for path in files], promote_options="default")
        single = self.work / "pyarrow-single.zstd.parquet"
        pq.write_table(table, single, compression="zstd")
        single_bytes = single.stat().st_size
        suffix = "" if layout == "event_date" else "_flat"
        if layout == "none":
            self.column_bytes = column_bytes(files, single)
        if layout == "event_date":
            self.results["consumer_eps_large_batch"] = self.events / (measured.seconds - IDLE_MS / 1000)
        self.results[f"parquet_bytes_large_batch{suffix}"] = large_bytes
        self.results[f"parquet_files_large_batch{suffix}"] = len(files)
        self.results[f"pyarrow_single_file_bytes{suffix}"] = single_bytes
        self.record(f"clickstream consume --batch-size {LARGE_BATCH} --partition-by {layout}", measured,
                    self.events, eps=round(self.events / (measured.seconds - IDLE_MS / 1000)),
                    files=len(files), parquet_bytes=large_bytes)
        self.record("pyarrow, one zstd file (same rows as above)", None, table.num_rows, files=1,
                    parquet_bytes=single_bytes)
        single.unlink()
        shutil.rmtree(output)
        return large_bytes, single_bytes

    def stage_s3(self) -> None:
        """The same consumer into s3://bucket/prefix on the loopback S3 server the tests use (moto, in
        memory): what uploads cost against local files, not what a remote store's latency costs."""
        if not getattr(self, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to read")
        from s3_server import S3Server

        server = S3Server(self.logs / "moto.log")
        try:
            server.start()
        except RuntimeError as error:
            raise StageFailed(str(error)) from error
        try:
            server.create_bucket("bench")
            for key, label, extra in (
                    ("s3_consumer_eps", "defaults", []),
                    ("s3_consumer_eps_large_batch", f"--batch-size {LARGE_BATCH}",
                     ["--batch-size", LARGE_BATCH, "--flush-interval-ms", 600_000])):
                prefix = fresh_name("landed")
                measured = measure(f"clickstream-consume-s3-{prefix}", self.clickstream(
                    "consume", "--output", f"s3://bench/{prefix}", "-b", self.broker.bootstrap, "-t", self.topic,
                    "-g", fresh_name("group"), "--exit-when-idle-ms", IDLE_MS, *extra),
                    self.logs, env=server.env()).check()
                rows, files = s3_rows(server, f"bench/{prefix}")
                if rows != self.events:
                    raise StageFailed(f"consume into S3 ({label}): {rows} rows landed, expected {self.events}")
                self.results[key] = self.events / (measured.seconds - IDLE_MS / 1000)
                self.record(f"clickstream consume into s3:// ({label})", measured, self.events,
                            eps=round(self.results[key]), files=files)
        finally:
            server.stop()

    def stage_python(self) -> None:
        count = min(self.profile.python_events, self.events)
        subset = self.csv
        if count < self.events:
            subset = self.work / "python-subset.csv"
            head_csv(self.csv, subset, count)
            self.notes.append(f"The Python baseline ran on the first {count:,} of the {self.events:,} "
                              "events; its events/s come from that subset.")
        topic = fresh_name("python")
        create_topic(self.broker.bootstrap, topic)
        produced = measure("python-producer", [PYTHON, BASELINE / "producer.py", "--bootstrap",
                                               self.broker.bootstrap, "--topic", topic, "--input", subset],
                           self.logs).check()
        delivered = topic_message_count(self.broker.bootstrap, topic)
        if delivered != count:
            raise StageFailed(f"the Python producer delivered {delivered} messages, expected {count}")
        self.results["python_events"] = count
        self.results["python_producer_eps"] = count / produced.seconds
        self.record("Python baseline producer (kafka-python, pandas)", produced, count,
                    eps=round(self.results["python_producer_eps"]))
        output = self.work / "landed-python"
        consumed = measure("python-consumer", [PYTHON, BASELINE / "consumer.py", "--bootstrap",
                                               self.broker.bootstrap, "--topic", topic, "--group",
                                               fresh_name("python-group"), "--output", output,
                                               "--idle-ms", IDLE_MS], self.logs).check()
        rows = parquet_rows(output)
        if rows != count:
            raise StageFailed(f"the Python consumer landed {rows} rows, expected {count}")
        self.results["python_consumer_eps"] = count / (consumed.seconds - IDLE_MS / 1000)
        self.results["python_parquet_bytes"] = parquet_bytes(output)
        self.record("Python baseline consumer (batches of 500)", consumed, count,
                    eps=round(self.results["python_consumer_eps"]),
                    files=len(parquet_files(output)), parquet_bytes=self.results["python_parquet_bytes"])
        shutil.rmtree(output)
        if subset != self.csv:
            subset.unlink()

    def stage_memory(self) -> None:
        base = self.profile.memory_base
        for factor, label in ((1, "1x"), (10, "10x")):
            events = base * factor
            if events == self.events and "producer_peak_rss_mb" in self.results \
                    and "consumer_peak_rss_mb" in self.results:
                self.results[f"producer_peak_rss_mb_{label}"] = self.results["producer_peak_rss_mb"]
                self.results[f"consumer_peak_rss_mb_{label}"] = self.results["consumer_peak_rss_mb"]
                continue
            csv = self.work / f"memory-{label}.csv"
            self.generate(events, csv)
            topic = fresh_name(f"memory-{label}")
            produced = self.produce(csv, topic, f"clickstream-produce-{label}", events)
            csv.unlink()
            output = self.work / f"landed-{label}"
            consumed = self.consume(topic, output, f"clickstream-consume-{label}", events)
            shutil.rmtree(output)
            self.results[f"producer_peak_rss_mb_{label}"] = produced.peak_rss_mb
            self.results[f"consumer_peak_rss_mb_{label}"] = consumed.peak_rss_mb
            self.record(f"clickstream produce, memory {label}", produced, events,
                        eps=round(events / produced.seconds))
            self.record(f"clickstream consume, memory {label}", consumed, events,
                        eps=round(events / (consumed.seconds - IDLE_MS / 1000)))
        self.notes.append(f"Memory: 1x = {base:,} events, 10x = {base * 10:,} events "
                          "(generated with the same seed, produced and consumed at the defaults).")

    def stage_latency(self) -> None:
        import pyarrow.parquet as pq

        events = self.profile.latency_events
        csv = self.work / "latency.csv"
        # One day of event time, as a live stream has: the default 139 days would spread a few
        # thousand events over that many date directories and files.
        self.generate(events, csv, "generate-latency", "--days", 1)
        topic = fresh_name("latency")
        group = fresh_name("latency-group")
        create_topic(self.broker.bootstrap, topic)
        output = self.work / "landed-latency"
        output.mkdir()
        first_seen: dict[Path, float] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                now = time.time()
                for path in output.rglob("*.parquet"):
                    first_seen.setdefault(path, now)
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        consumer = Child("latency-consume", self.clickstream(
            "consume", "--output", output, "-b", self.broker.bootstrap, "-t", topic, "-g", group,
            "--flush-interval-ms", 1000, "--exit-when-idle-ms", 15_000), self.logs)
        try:
            if not wait_for_stable_group(self.broker.bootstrap, group):
                raise StageFailed("the latency consumer did not join its group within 30 s")
            produced = measure("latency-produce", self.clickstream(
                "produce", "--input", csv, "-b", self.broker.bootstrap, "-t", topic, "--rate", 1000,
                "--partitions", PARTITIONS, "--no-progress", *producer_flags()), self.logs).check()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if sum(pq.read_metadata(p).num_rows for p in list(first_seen)) >= events:
                    break
                time.sleep(0.1)
        finally:
            consumer.signal(signal.SIGTERM)
            consumed = consumer.wait(60)
            stop.set()
            watcher.join()
        consumed.check()
        dump = measure("latency-timestamps", ["kcat", "-b", self.broker.bootstrap, "-t", topic, "-C",
                                              "-e", "-q", "-o", "beginning", "-f", "%p %o %T\n"],
                       self.logs, stdout=self.work / "latency-timestamps.txt").check()
        del dump
        sent_ms = {}
        for line in (self.work / "latency-timestamps.txt").read_text().split("\n"):
            if line:
                partition, offset, timestamp = line.split()
                sent_ms[(int(partition), int(offset))] = int(timestamp)
        latencies = []
        for path, seen in first_seen.items():
            table = pq.ParquetFile(path).read(columns=["kafka_partition", "kafka_offset"])
            for partition, offset in zip(table.column("kafka_partition").to_pylist(),
                                         table.column("kafka_offset").to_pylist()):
                latencies.append(seen * 1000 - sent_ms[(partition, offset)])
        if len(latencies) != events:
            raise StageFailed(f"latency: {len(latencies)} events landed, expected {events}")
        latencies.sort()
        self.results["latency_p50_ms"] = percentile(latencies, 50)
        self.results["latency_p99_ms"] = percentile(latencies, 99)
        self.results["latency_max_ms"] = latencies[-1]
        self.record("latency: produce --rate 1000, consume --flush-interval-ms 1000", produced, events,
                    p50_ms=round(self.results["latency_p50_ms"]),
                    p99_ms=round(self.results["latency_p99_ms"]), files=len(first_seen))
        self.notes.append(f"Latency: {events:,} events generated over one day (`--days 1`), produced at "
                          "--rate 1000 while one consumer ran with --flush-interval-ms 1000.")
        csv.unlink()

    def ratios(self) -> None:
        def ratio(key: str, numerator: str, denominator: str) -> None:
            if self.results.get(numerator) is not None and self.results.get(denominator):
                self.results[key] = self.results[numerator] / self.results[denominator]

        ratio("producer_vs_kcat", "producer_eps", "kcat_produce_eps")
        ratio("consumer_vs_kcat", "consumer_eps", "kcat_consume_eps")
        ratio("consumer_vs_kcat_large_batch", "consumer_eps_large_batch", "kcat_consume_eps")
        ratio("producer_vs_python", "producer_eps", "python_producer_eps")
        ratio("consumer_vs_python", "consumer_eps", "python_consumer_eps")
        ratio("postgres_vs_parquet_consumer", "postgres_consumer_eps", "consumer_eps")
        ratio("s3_vs_local_consumer", "s3_consumer_eps", "consumer_eps")
        ratio("landed_vs_duckdb_size_large_batch", "parquet_bytes_large_batch", "duckdb_csv_parquet_bytes")
        ratio("landed_vs_duckdb_size_defaults", "parquet_bytes", "duckdb_csv_parquet_bytes")


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))
    return sorted_values[rank - 1]


# ---------------------------------------------------------------------------------------------
# Machine and versions

def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {"cpu_model": model or platform.processor(), "cores": os.cpu_count(),
            "memory_gb": round(memory_kb / 1024 / 1024, 1), "kernel": platform.release(),
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def versions() -> dict:
    import kafka
    import pandas
    import pyarrow

    kcat = command_output(["kcat", "-V"])
    kcat_version = re.search(r"Version (\S+)", kcat)
    librdkafka = command_output(["pkg-config", "--modversion", "rdkafka"])
    pom = (ROOT / "scripts" / "kafka" / "pom.xml").read_text()
    kafka_version = re.search(r"<kafka.version>(.*?)</kafka.version>", pom)
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "clickstream": (command_output([str(BINARY), "--version"]) or "unknown")
        + f" (git {commit}{'+changes' if dirty else ''})",
        "librdkafka": librdkafka or "unknown",
        "arrow_cpp": pyarrow.cpp_version,
        "kafka_broker": kafka_version.group(1) if kafka_version else "unknown",
        "kcat": kcat_version.group(1) if kcat_version else "unknown",
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__,
        "kafka-python": kafka.__version__,
        "java": (command_output(["java", "-version"]) or
                 subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
                 ).splitlines()[0] if shutil.which("java") else "unknown",
    }


# ---------------------------------------------------------------------------------------------
# Report

# Figures beyond the required ones, shown under them.
EXTRA_KEYS = [
    "generate_peak_rss_mb", "consumer_eps_large_batch", "parquet_files", "parquet_files_large_batch",
    "pyarrow_single_file_bytes",
    "csv_to_parquet_ratio_large_batch_flat", "parquet_vs_pyarrow_size_flat", "parquet_files_large_batch_flat",
    "python_events", "latency_max_ms", "postgres_table_bytes", "postgres_vs_parquet_consumer",
    "s3_vs_local_consumer", "compact_seconds", "duckdb_group_by_seconds_landed",
    "duckdb_group_by_seconds_compacted",
    "producer_eps_rounds", "kcat_produce_eps_rounds", "kcat_consume_eps_rounds", "consumer_eps_rounds",
    "metrics_overhead_rounds", "consumer_eps_without_metrics_rounds", "consumer_eps_with_metrics_rounds",
    "metrics_scrapes_rounds",
]

TARGETS = {
    "producer_vs_kcat": (">=", 1.0), "consumer_vs_kcat": (">=", 0.3),
    "consumer_vs_kcat_large_batch": (">=", 0.5), "metrics_overhead": (">=", 0.98),
    "producer_vs_python": (">=", 100), "consumer_vs_python": (">=", 30),
    "csv_to_parquet_ratio_large_batch": (">=", 8), "parquet_vs_pyarrow_size": ("<=", 1.1),
    "landed_vs_duckdb_size_large_batch": ("<=", 1.5), "landed_vs_duckdb_size_defaults": ("<=", 3),
    "producer_peak_rss_mb_10x": ("<", 100), "consumer_peak_rss_mb_10x": ("<", 256),
    "compacted_vs_duckdb_size": ("<=", 1.5),
}


def rss_growth_status(results: dict, who: str) -> str:
    one, ten = results.get(f"{who}_peak_rss_mb_1x"), results.get(f"{who}_peak_rss_mb_10x")
    if one is None or ten is None:
        return "10x within 10% of 1x: not measured"
    growth = ten / one - 1
    return f"10x within 10% of 1x: {'met' if growth <= 0.10 else 'MISSED'} ({growth:+.0%})"


def render_markdown(report: dict) -> str:
    results, mode = report["results"], report["mode"]
    lines = [f"# clickstream bench ({mode}, {report['finished_at']})", ""]
    m = report["machine"]
    lines += [f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['cpu_model']}, Linux {m['kernel']}; "
              f"load average {m['load_average_at_start']} at start, {m.get('load_average_at_end')} at end "
              "(the machine may be shared: figures are from a loaded machine when the load is high).", ""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    lines += ["Producer settings (both clickstream and kcat): `" + " ".join(PRODUCER_SETTINGS) + "`", ""]
    lines += ["## Headline figures", "", "| key | value | target |", "| --- | ---: | --- |"]
    for key in REQUIRED_KEYS:
        status = target_status(key, results.get(key), TARGETS)
        if key in ("producer_peak_rss_mb_10x", "consumer_peak_rss_mb_10x"):
            who = key.split("_")[0]
            status = "; ".join(filter(None, [status, rss_growth_status(results, who)]))
        lines.append(f"| {key} | {fmt(results.get(key))} | {status} |")
    for key in EXTRA_KEYS:
        if results.get(key) is not None:
            lines.append(f"| {key} | {fmt(results.get(key))} | |")
    lines += ["", "## Stages", "", "| stage | events | seconds | events/s | peak RSS MB | files | bytes |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["stages"]:
        extra = row.get("eps")
        if "p50_ms" in row:
            extra = f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        cells = [row.get("events"), row.get("seconds"), extra, row.get("peak_rss_mb"), row.get("files"),
                 row.get("parquet_bytes")]
        lines.append(f"| {row['stage']} | " + " | ".join(fmt(cell, "") for cell in cells) + " |")
    columns = report.get("parquet_column_bytes_flat_large_batch")
    if columns:
        events = results.get("events") or 1
        lines += ["", f"## Where the Parquet bytes go (--batch-size {LARGE_BATCH} --partition-by none)", "",
                  "| column | clickstream bytes | pyarrow one-file bytes | clickstream bytes/event |",
                  "| --- | ---: | ---: | ---: |"]
        for name, (ours, theirs) in sorted(columns.items(), key=lambda item: -item[1][0]):
            lines.append(f"| {name} | {ours:,} | {theirs:,} | {ours / events:.2f} |")
        lines.append(f"| (CSV, for scale) | {results.get('csv_bytes'):,} | | "
                     f"{(results.get('csv_bytes') or 0) / events:.2f} |")
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in report["notes"]]
    lines += [f"- Consumer events/s exclude the {IDLE_MS} ms idle wait that ends each consumer run "
              "(`--exit-when-idle-ms`, `consumer_timeout_ms`); they include start-up and the group join. "
              "`kcat -C` reads by partition assignment without a group and writes nothing to disk.",
              "- S3 figures: the same consumer into `s3://bench/<prefix>` on moto's S3 server on loopback "
              "(in memory, one Python process): upload cost without network latency, not a remote store's.",
              "- Latency: Kafka message timestamp (set when produced) to the first poll (every 20 ms) "
              "that saw the event's file."]
    if report.get("peers"):
        lines += peer_stages.render_markdown(report)
    if report["missing"]:
        lines += ["", "## Missing stages (reported as null)", ""]
        lines += [f"- {item}" for item in report["missing"]]
    return "\n".join(lines) + "\n"


# The stages after generate, in the order they run: (name, key); the key names the method
# stage_<key> and is what --only takes.
STAGES = [("clickstream produce", "produce"),
          ("kcat produce", "kcat_produce"),
          ("kcat consume", "kcat_consume"),
          ("duckdb size", "duckdb_size"),
          ("clickstream consume", "consume"),
          ("metrics overhead", "metrics_overhead"),
          ("more rounds of the compared runs", "more_rounds"),
          ("compact", "compact"),
          ("clickstream consume to PostgreSQL", "postgres_consume"),
          ("large batch and pyarrow size", "large_batch"),
          ("clickstream consume into S3", "s3"),
          ("Python baseline", "python"),
          ("memory 1x/10x", "memory"),
          ("latency", "latency")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small dataset, about a minute or two")
    parser.add_argument("--results-dir", type=Path,
                        help="where latest.md and latest.json go (default bench/results)")
    parser.add_argument("--csv", type=Path, help="benchmark this CSV instead of generating one")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary directory")
    parser.add_argument("--rounds", type=int, choices=range(1, 10), metavar="N",
                        help="rounds of the runs the headline ratios compare (default: 3, 1 with --quick)")
    parser.add_argument("--peers", action="store_true",
                        help="also run the peers: Kafka's perf tools and Spark (bench/peer_stages.py)")
    parser.add_argument("--only", metavar="STAGE,...",
                        help="run only these stages after generate (needs --results-dir): "
                             + ",".join(key for _, key in STAGES) + "; e.g. produce,consume,metrics_overhead")
    args = parser.parse_args()
    only = None
    if args.only is not None:
        only = [key.strip() for key in args.only.split(",") if key.strip()]
        unknown = [key for key in only if key not in {known for _, known in STAGES}]
        if unknown or not only:
            parser.error(f"--only: unknown stage {', '.join(unknown) or '(none given)'}; "
                         f"the stages are {', '.join(key for _, key in STAGES)}")
        if args.results_dir is None:
            parser.error("--only needs --results-dir: a partial run must not replace bench/results/latest.*")
    if args.results_dir is None:
        args.results_dir = ROOT / "bench" / "results"

    profile = QUICK if args.quick else FULL
    if args.rounds is not None:
        profile = replace(profile, rounds=args.rounds)
    if not BINARY.exists():
        print(f"bench: {BINARY} does not exist: run `make build` (or set CLICKSTREAM_BIN)", file=sys.stderr)
        return 2
    if shutil.which("kcat") is None:
        print("bench: kcat is missing: run `make setup`", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="clickstream-bench-"))
    logs = work / "logs"
    logs.mkdir()
    broker = Broker(work / "kafka")
    started_at = time.monotonic()
    report_info = {"machine": machine(), "versions": versions()}
    bench = Bench(profile, broker, work, logs, args.csv)
    peers = peer_stages.Peers(bench) if args.peers else None
    try:
        build_launcher(work)
        if peers:
            print("bench: fetching the peers if missing (scripts/bench-peers fetch) ...", file=sys.stderr, flush=True)
            peers.fetch()
        print("bench: starting a Kafka broker ...", file=sys.stderr, flush=True)
        broker.start()
        warm_up(broker.bootstrap, logs)
        bench.run_stage("generate", bench.stage_generate)
        if not hasattr(bench, "csv") or not bench.csv.exists():
            bench.missing.append("every later stage: no dataset (generate is missing; --csv FILE runs on "
                                 "an existing CSV)")
        else:
            for name, key in STAGES:
                if only is None or key in only:
                    bench.run_stage(name, getattr(bench, f"stage_{key}"))
            if peers:
                peers.run()
        bench.ratios()
        if only:
            bench.notes.append(f"A partial run (--only {','.join(only)}): the figures of the other stages "
                               "were not measured and are null.")
    finally:
        broker.stop()
        if args.keep_work:
            print(f"bench: work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    results = {key: None for key in REQUIRED_KEYS}
    results.update(bench.results)
    results = {key: (round(value, 4) if isinstance(value, float) else value) for key, value in results.items()}
    report_info["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    report = {
        "mode": ("quick" if args.quick else "full") + (f", only {','.join(only)}" if only else ""),
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": round(time.monotonic() - started_at, 1),
        "profile": profile.__dict__,
        **report_info,
        "producer_settings": PRODUCER_SETTINGS,
        "results": results,
        "stages": bench.stages,
        "notes": bench.notes,
        "missing": bench.missing,
        "parquet_column_bytes_flat_large_batch": bench.column_bytes,
    }
    if peers:
        report["peers"] = peers.report()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    (args.results_dir / "latest.md").write_text(markdown)
    # The required keys sit at the top level as numbers (null when a stage could not run).
    (args.results_dir / "latest.json").write_text(json.dumps({**results, "report": report}, indent=2) + "\n")
    print(markdown)
    print(f"bench: {args.results_dir / 'latest.md'} and latest.json written in "
          f"{report['total_seconds']}s", file=sys.stderr)
    return 1 if bench.missing else 0


if __name__ == "__main__":
    sys.exit(main())
