"""The bench's peers (`make bench PEERS=1`, `run.py --peers`): what people would use instead.

- Apache Kafka's own ProducerPerformance and ConsumerPerformance (kafka-tools, the broker's
  version) on the same broker, partitions and producer settings as `clickstream produce`.
- Spark Structured Streaming (pyspark, local[2], trigger availableNow) doing the work of
  `clickstream consume` at the defaults: JSON to typed columns, Kafka partition and offset, an
  ingest time, Hive event_date= directories, zstd Parquet (bench/peers/spark_consume.py).

They run after every other stage, on the topic `clickstream produce` filled, and compare with the
figures those stages measured. scripts/bench-peers fetches the tools into .cache/ once; a peer that
cannot run is reported missing with its reason, like any other stage.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common import (BINARY, IDLE_MS, LARGE_BATCH, PRODUCER_SETTINGS, ROOT, StageFailed, create_topic, fmt,
                    fresh_name, last_line, measure, target_status, topic_message_count)

BENCH_PEERS = ROOT / "scripts" / "bench-peers"
PEERS_DIR = ROOT / "bench" / "peers"
SPARK_JOB = PEERS_DIR / "spark_consume.py"
TOOLS_LOG4J = PEERS_DIR / "kafka-tools-log4j.properties"
# The heap and collector settings Kafka's own kafka-*-perf-test.sh scripts start the tools with.
KAFKA_TOOLS_JVM = ["-Xmx512M", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                   "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                   "-Djava.awt.headless=true"]
# PRODUCER_SETTINGS (librdkafka names) as Java producer properties. librdkafka's
# batch.num.messages has no Java counterpart: the Java producer caps a batch by bytes only.
JAVA_PRODUCER_NAMES = {
    "acks": "acks",
    "enable.idempotence": "enable.idempotence",
    "linger.ms": "linger.ms",
    "batch.size": "batch.size",
    "compression.codec": "compression.type",
    "batch.num.messages": None,
}
# The peers' keys, null in latest.json when a peer could not run.
PEER_KEYS = [
    "kafka_perf_producer_eps", "producer_vs_kafka_perf",
    "kafka_perf_consumer_eps", "consumer_vs_kafka_perf",
    "spark_wall_seconds", "spark_steady_eps", "consumer_vs_spark", "consumer_vs_spark_large_batch",
]
PEER_EXTRA_KEYS = [
    "kafka_perf_record_bytes", "kafka_perf_producer_eps_wall", "kafka_perf_consumer_fetch_eps",
    "spark_startup_seconds", "spark_query_seconds", "spark_processing_seconds", "spark_batches",
    "spark_peak_rss_mb", "spark_jvm_peak_rss_mb", "spark_parquet_bytes", "spark_parquet_files",
]
PEER_TARGETS = {"consumer_vs_spark": (">=", 8)}


class Peers:
    """The peer stages of one bench run; their figures go into the bench's results and stages."""

    def __init__(self, bench):
        """`bench` is bench/run.py's Bench: its broker, topic, work directories, results and stages."""
        self.bench = bench
        self.tools: dict[str, str] = {}
        self.fetch_error = "it did not run"
        self.settings: dict[str, object] = {}
        self.versions: dict[str, str] = {}
        for key in PEER_KEYS:
            bench.results.setdefault(key, None)

    # -- setup ------------------------------------------------------------------------------------
    def fetch(self) -> None:
        """Downloads what is missing (before the broker starts, so nothing timed waits for it)."""
        result = subprocess.run([str(BENCH_PEERS), "fetch"], capture_output=True, text=True, timeout=3600)
        if result.returncode != 0:
            self.fetch_error = last_line(result.stderr)
            print(f"bench: the peers could not be fetched:\n{result.stderr[-2000:]}", file=sys.stderr, flush=True)
        self.tools = tool_paths()
        self.versions = {"kafka-tools": self.tools.get("KAFKA_TOOLS_VERSION", "unknown"),
                         "pyspark": self.tools.get("SPARK_VERSION", "unknown")}
        # The jars Spark loads besides its own: its Kafka source and the Kafka client it brings.
        for jar in filter(None, self.tools.get("SPARK_JARS", "").split(",")):
            named = re.match(r"(.+)-(\d[\d.]*)\.jar$", Path(jar).name)
            if named and named.group(1).startswith("spark-sql-kafka"):
                self.versions[named.group(1)] = named.group(2)
            elif named and named.group(1) == "kafka-clients":
                self.versions["kafka-clients (Spark's)"] = named.group(2)

    def require(self, what: str) -> None:
        if self.tools.get(f"{what}_READY") != "1":
            raise StageFailed(f"{what.lower().replace('_', '-')} is not installed: `scripts/bench-peers fetch` "
                              f"failed: {self.fetch_error}")

    def require_topic(self) -> None:
        if not getattr(self.bench, "topic_filled_by_clickstream", False):
            raise StageFailed("no topic filled by `clickstream produce` to compare on")

    def run(self) -> None:
        for name, stage in (("Kafka ProducerPerformance", self.stage_producer_performance),
                            ("Kafka ConsumerPerformance", self.stage_consumer_performance),
                            ("Spark Structured Streaming", self.stage_spark)):
            self.bench.run_stage(name, stage)

    # -- Kafka's tools ------------------------------------------------------------------------------
    def kafka_tool(self, main_class: str, *args) -> list[str]:
        return ["java", *KAFKA_TOOLS_JVM, f"-Dlog4j.configuration=file:{TOOLS_LOG4J}",
                "-cp", f"{self.tools['KAFKA_TOOLS_LIBS']}/*", main_class, *map(str, args)]

    def stage_producer_performance(self) -> None:
        self.require("KAFKA_TOOLS")
        self.require_topic()
        bench = self.bench
        record_bytes = mean_message_bytes(bench.broker.bootstrap, bench.topic, bench.events, bench.logs)
        props = java_producer_properties()
        topic = fresh_name("kafka-perf-produce")
        create_topic(bench.broker.bootstrap, topic)
        stdout = bench.logs / "kafka-perf-producer.stdout"
        measured = measure("kafka-perf-producer", self.kafka_tool(
            "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", bench.events,
            "--record-size", record_bytes, "--throughput", -1, "--producer-props",
            f"bootstrap.servers={bench.broker.bootstrap}", *props), bench.logs, stdout=stdout).check()
        sent, eps = producer_performance_total(stdout.read_text())
        delivered = topic_message_count(bench.broker.bootstrap, topic)
        if sent != bench.events or delivered != bench.events:
            raise StageFailed(f"ProducerPerformance sent {sent} records, {delivered} in the topic; "
                              f"expected {bench.events}")
        results = bench.results
        results["kafka_perf_record_bytes"] = record_bytes
        results["kafka_perf_producer_eps"] = eps
        results["kafka_perf_producer_eps_wall"] = bench.events / measured.seconds
        ratio(results, "producer_vs_kafka_perf", "producer_eps", "kafka_perf_producer_eps")
        bench.record(f"Kafka ProducerPerformance ({record_bytes}-byte records)", measured, bench.events,
                     eps=round(eps))
        self.settings["ProducerPerformance"] = (
            f"--num-records {bench.events} --record-size {record_bytes} --throughput -1 --producer-props "
            + " ".join(props) + f"; JVM {' '.join(KAFKA_TOOLS_JVM)}")

    def stage_consumer_performance(self) -> None:
        self.require("KAFKA_TOOLS")
        self.require_topic()
        bench = self.bench
        stdout = bench.logs / "kafka-perf-consumer.stdout"
        measured = measure("kafka-perf-consumer", self.kafka_tool(
            "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bench.broker.bootstrap,
            "--topic", bench.topic, "--messages", bench.events, "--group", fresh_name("kafka-perf-group"),
            "--timeout", 60_000), bench.logs, stdout=stdout).check()
        stats = consumer_performance_stats(stdout.read_text())
        if stats["data.consumed.in.nMsg"] != bench.events:
            raise StageFailed(f"ConsumerPerformance read {stats['data.consumed.in.nMsg']:.0f} messages, "
                              f"expected {bench.events}")
        results = bench.results
        results["kafka_perf_consumer_eps"] = stats["nMsg.sec"]
        results["kafka_perf_consumer_fetch_eps"] = stats["fetch.nMsg.sec"]
        ratio(results, "consumer_vs_kafka_perf", "consumer_eps", "kafka_perf_consumer_eps")
        bench.record("Kafka ConsumerPerformance (same topic)", measured, bench.events,
                     eps=round(stats["nMsg.sec"]))
        self.settings["ConsumerPerformance"] = (f"--messages {bench.events} --timeout 60000, the tool's "
                                                f"consumer defaults; JVM {' '.join(KAFKA_TOOLS_JVM)}")

    # -- Spark --------------------------------------------------------------------------------------
    def stage_spark(self) -> None:
        self.require("SPARK")
        self.require_topic()
        bench = self.bench
        work = bench.work / "spark"
        output = work / "landed"
        result_path = work / "result.json"
        try:
            measured = measure("spark-consume", [
                self.tools["SPARK_PYTHON"], SPARK_JOB, "--bootstrap", bench.broker.bootstrap,
                "--topic", bench.topic, "--output", output, "--work", work / "scratch",
                "--jars", self.tools["SPARK_JARS"], "--result", result_path],
                bench.logs, env={"SPARK_LOCAL_IP": "127.0.0.1"}).check()
            job = json.loads(result_path.read_text())
            files, parquet_bytes = check_spark_landing(output, bench.events)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results = bench.results
        results["spark_wall_seconds"] = measured.seconds
        results["spark_startup_seconds"] = job["startup_seconds"]
        results["spark_query_seconds"] = job["query_seconds"]
        results["spark_processing_seconds"] = job["processing_seconds"]
        results["spark_batches"] = job["batches"]
        results["spark_steady_eps"] = (job["input_rows"] / job["processing_seconds"]
                                       if job["processing_seconds"] else None)
        results["spark_peak_rss_mb"] = measured.peak_rss_mb
        results["spark_jvm_peak_rss_mb"] = job["jvm_peak_rss_mb"]
        results["spark_parquet_files"] = files
        results["spark_parquet_bytes"] = parquet_bytes
        ours = {"consumer_vs_spark": self.consume_seconds_defaults(),
                "consumer_vs_spark_large_batch": self.consume_seconds_large_batch()}
        for key, seconds in ours.items():
            results[key] = measured.seconds / seconds if seconds else None
        bench.record("Spark Structured Streaming, local[2], availableNow (wall with start-up)", measured,
                     bench.events, eps=round(bench.events / measured.seconds), files=files,
                     parquet_bytes=parquet_bytes)
        self.versions["spark"] = job["spark_version"]
        self.settings["Spark"] = (f"master {job['master']}, trigger availableNow, startingOffsets earliest, "
                                  "the Kafka source's defaults, partitionBy event_date, "
                                  + ", ".join(f"{k}={v}" for k, v in job["settings"].items())
                                  + "; spark.driver.memory and everything else at Spark's defaults")
        unmatched = [key for key, seconds in ours.items() if not seconds]
        if unmatched:
            raise StageFailed(f"{', '.join(unmatched)}: no `clickstream consume` figure of the same work in this "
                              "run to compare with (its stage is missing)")

    def consume_seconds_defaults(self) -> float | None:
        """`clickstream consume`'s busy seconds at the defaults, as its events/s were computed."""
        eps = self.bench.results.get("consumer_eps")
        return self.bench.events / eps if eps else None

    def consume_seconds_large_batch(self) -> float | None:
        """The same at --batch-size LARGE_BATCH with the default layout (the large-batch stage)."""
        eps = self.bench.results.get("consumer_eps_large_batch")
        if eps:
            return self.bench.events / eps
        wanted = f"clickstream consume --batch-size {LARGE_BATCH} --partition-by event_date"
        for row in self.bench.stages:
            if row["stage"] == wanted and row.get("seconds"):
                return row["seconds"] - IDLE_MS / 1000
        return None

    def report(self) -> dict:
        return {"versions": self.versions, "settings": self.settings}


# ---------------------------------------------------------------------------------------------
# Helpers

def tool_paths() -> dict[str, str]:
    """KEY=VALUE lines from `scripts/bench-peers env`: where the tools are and whether they are ready."""
    result = subprocess.run([str(BENCH_PEERS), "env"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return {}
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def ratio(results: dict, key: str, numerator: str, denominator: str) -> None:
    if results.get(numerator) is not None and results.get(denominator):
        results[key] = results[numerator] / results[denominator]


def java_producer_properties() -> list[str]:
    props = []
    for setting in PRODUCER_SETTINGS:
        name, value = setting.split("=", 1)
        if name not in JAVA_PRODUCER_NAMES:
            raise StageFailed(f"producer setting {name} has no known Java producer property: "
                              "add it to JAVA_PRODUCER_NAMES in bench/peer_stages.py")
        if JAVA_PRODUCER_NAMES[name] is not None:
            props.append(f"{JAVA_PRODUCER_NAMES[name]}={value}")
    return props


def mean_message_bytes(bootstrap: str, topic: str, events: int, logs: Path) -> int:
    """The mean key + value size of the messages in the topic, rounded: ProducerPerformance sends
    records of one size and no key, so the same bytes per record go as value alone."""
    sizes = logs / "message-sizes.txt"
    measure("kcat-message-sizes", ["kcat", "-b", bootstrap, "-t", topic, "-C", "-e", "-q",
                                   "-o", "beginning", "-f", "%K %S\n"], logs, stdout=sizes).check()
    count = total = 0
    with open(sizes) as handle:
        for line in handle:
            key_bytes, value_bytes = line.split()
            count += 1
            total += max(int(key_bytes), 0) + max(int(value_bytes), 0)
    sizes.unlink()
    if count != events:
        raise StageFailed(f"{count} messages read back to measure their size, expected {events}")
    return round(total / count)


def producer_performance_total(stdout: str) -> tuple[int, float]:
    """(records sent, records/s) from ProducerPerformance's closing line:
    `2756101 records sent, 190312.4 records/sec (37.1 MB/sec), 95.2 ms avg latency, ...`."""
    totals = re.findall(r"^(\d+) records sent, ([\d.]+) records/sec", stdout, re.MULTILINE)
    if not totals:
        raise StageFailed(f"no closing line in ProducerPerformance's output: {last_line(stdout)}")
    sent, eps = totals[-1]
    return int(sent), float(eps)


def consumer_performance_stats(stdout: str) -> dict[str, float]:
    """ConsumerPerformance's header and its one line of figures, by column name."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if line.startswith("start.time"):
            names = [name.strip() for name in line.split(",")]
            values = [value.strip() for value in lines[index + 1].split(",")]
            stats = {}
            for name, value in zip(names, values):
                try:
                    stats[name] = float(value)
                except ValueError:
                    pass
            wanted = {"data.consumed.in.nMsg", "nMsg.sec", "fetch.nMsg.sec"}
            if wanted <= stats.keys():
                return stats
    raise StageFailed(f"no figures in ConsumerPerformance's output: {last_line(stdout)}")


def check_spark_landing(output: Path, events: int) -> tuple[int, int]:
    """Counts what Spark wrote with DuckDB (every offset once) and checks its columns against the
    landed schema; returns its files and bytes."""
    import duckdb
    import pyarrow.parquet as pq

    files = sorted(output.glob("event_date=*/*.parquet"))
    if not files:
        raise StageFailed(f"Spark wrote no Parquet files under {output}/event_date=*/")
    rows, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) "
        f"FROM read_parquet('{output}/event_date=*/*.parquet', hive_partitioning=true)").fetchone()
    if rows != events or distinct != events:
        raise StageFailed(f"Spark landed {rows} rows ({distinct} distinct offsets), expected {events}")
    expected = landed_columns()
    schema = pq.read_schema(files[0])
    found = {field.name: str(field.type) for field in schema}
    wrong = [f"{name}: {found.get(name, 'missing')} (ours {kind})" for name, kind in expected.items()
             if found.get(name) != kind]
    if wrong:
        raise StageFailed("Spark's columns differ from the landed schema: " + "; ".join(wrong))
    return len(files), sum(path.stat().st_size for path in files)


def landed_columns() -> dict[str, str]:
    """The landed schema's columns and Arrow types (`clickstream schema`), with dictionaries as the
    plain values they encode: Spark has no dictionary type, only dictionary pages."""
    result = subprocess.run([str(BINARY), "schema"], capture_output=True, text=True, timeout=60, check=True)
    columns = {}
    for column in json.loads(result.stdout)["columns"]:
        kind = column["type"]
        dictionary = re.match(r"dictionary<values=(\w+),", kind)
        columns[column["name"]] = dictionary.group(1) if dictionary else kind
    return columns


# ---------------------------------------------------------------------------------------------
# Report

def render_markdown(report: dict) -> list[str]:
    """The peers' section of latest.md; nothing when the run had no peers."""
    peers = report.get("peers")
    if not peers:
        return []
    results = report["results"]
    lines = ["", "## Peers (`make bench PEERS=1`)", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in peers["versions"].items()), ""]
    lines += ["| key | value | target |", "| --- | ---: | --- |"]
    for key in PEER_KEYS + PEER_EXTRA_KEYS:
        if key in PEER_KEYS or results.get(key) is not None:
            lines.append(f"| {key} | {fmt(results.get(key))} | {target_status(key, results.get(key), PEER_TARGETS)} |")
    lines += ["", "Settings:", ""]
    lines += [f"- {name}: `{settings}`" for name, settings in peers["settings"].items()]
    lines += [
        "- ProducerPerformance sends records of one size (the mean key + value bytes of the messages "
        "`clickstream produce` sent), no key, random upper-case letters (less compressible with lz4 than "
        "the JSON events); librdkafka's batch.num.messages has no Java counterpart. Its events/s is the "
        "tool's own closing figure (without JVM start-up); `_wall` includes it.",
        "- ConsumerPerformance reads the topic `clickstream produce` filled, from the earliest offset in a "
        "new group, and discards the records; its events/s (`nMsg.sec`) include the group join like ours, "
        "`fetch.nMsg.sec` excludes it.",
        "- Spark does the work `clickstream consume` does at the defaults (typed columns, Kafka partition "
        "and offset, ingest time, Hive event_date= directories, zstd) but validates nothing and has no "
        "dead-letter topic; it is counted afterwards with DuckDB (every offset once) and its columns "
        "checked against `clickstream schema`. `consumer_vs_spark` = Spark's wall time with start-up / "
        "`clickstream consume`'s at the defaults (without the idle wait), `_large_batch` the same against "
        f"`--batch-size {LARGE_BATCH}`. `spark_steady_eps` = rows / the query's own trigger execution "
        "time from its progress events; `spark_peak_rss_mb` is the largest process (the driver JVM).",
    ]
    return lines
