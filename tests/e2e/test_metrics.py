"""`consume --metrics-listen`: a real Prometheus scrapes it during a run, and what it stored is
checked against the destination (pyarrow and DuckDB), the dead-letter topic, promtool and the
prometheus_client parser."""
from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter

import duckdb
import pyarrow.dataset as ds
import pytest

from helpers import create_topic, kcat_produce
from test_consume import (FAST_SESSION, KEY_DELIMITER, ConsumerProcess, all_ids, consume_args, event_lines,
                          poison_messages)
from test_postgres import PASSWORD, assert_exactly_in_table, started_postgres, table_for

EVENTS = 3_000
PARTITIONS = 3


def metrics_address(consumer: ConsumerProcess) -> str:
    consumer.wait_for("metrics on http://")
    return re.search(r"metrics on http://([\d.]+:\d+)/metrics", consumer.stderr()).group(1)


def get(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def one_value(samples) -> float:
    assert len(samples) == 1, samples
    return samples[0][1]


def produce_events_and_poisons(bootstrap: str, topic: str) -> list[bytes | None]:
    from kafka import KafkaProducer

    kcat_produce(bootstrap, topic, event_lines(EVENTS), key_delimiter=KEY_DELIMITER)
    poisons = [value for value, _ in poison_messages(b"{}")]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i, value in enumerate(poisons):
        producer.send(topic, key=b"poison", value=value, partition=i % PARTITIONS)
    producer.flush()
    producer.close()
    return poisons


def dead_letters_by_reason_code(bootstrap: str, topic: str) -> Counter:
    from kafka import KafkaConsumer

    dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                        consumer_timeout_ms=5000, enable_auto_commit=False)
    try:
        return Counter(dict(message.headers)["reason.code"].decode() for message in dlq)
    finally:
        dlq.close()


def stop(consumer: ConsumerProcess) -> None:
    consumer.process.send_signal(signal.SIGTERM)
    assert consumer.wait(timeout=60) == 0, consumer.stderr()


def test_prometheus_sees_what_landed_the_lag_and_the_dead_letters(broker, topic, tmp_path, prometheus_server):
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    output = tmp_path / "landed"
    # Batches wait 6 s before they land, so the lag stays above 0 long enough for scrapes to see it.
    consumer = ConsumerProcess(tmp_path, "scraped", consume_args(
        broker.bootstrap, topic, output, "g-metrics", "--metrics-listen", "127.0.0.1:0",
        "--batch-size", "100000", "--flush-interval-ms", "6000", "--max-message-bytes", "4096"))
    try:
        address = metrics_address(consumer)
        prometheus_server.add_target(topic, address)
        prometheus_server.wait_for(f'up{{instance="{address}"}}', lambda r: r and r[0][1] == 1)
        poisons = produce_events_and_poisons(broker.bootstrap, topic)

        selector = f'topic="{topic}"'
        prometheus_server.wait_for(f"sum(clickstream_consume_lag_messages{{{selector}}})",
                                   lambda r: r and r[0][1] > 0)
        prometheus_server.wait_for(f"clickstream_consume_events_landed_total{{{selector}}}",
                                   lambda r: r and r[0][1] == EVENTS, timeout=60)
        lags = prometheus_server.wait_for(f"clickstream_consume_lag_messages{{{selector}}}",
                                          lambda r: len(r) == PARTITIONS and all(v == 0 for _, v in r))
        assert {labels["partition"] for labels, _ in lags} == {str(p) for p in range(PARTITIONS)}

        landed = one_value(prometheus_server.query(f"clickstream_consume_events_landed_total{{{selector}}}"))
        assert ds.dataset(output, format="parquet", partitioning="hive").count_rows() == landed
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{output}/**/*.parquet')").fetchone()[0] == landed

        in_topic = dead_letters_by_reason_code(broker.bootstrap, topic)
        assert sum(in_topic.values()) == len(poisons)
        scraped = prometheus_server.wait_for(
            f"clickstream_consume_dead_letters_total{{{selector}}}",
            lambda r: sum(v for _, v in r) == len(poisons))
        assert {labels["reason"]: int(v) for labels, v in scraped if v} == dict(in_topic)
        assert one_value(prometheus_server.query(f"clickstream_consume_landing_failing{{{selector}}}")) == 0
        assert one_value(prometheus_server.query(
            f"clickstream_consume_event_latency_seconds_count{{{selector}}}")) > 0

        status, ready = get(f"http://{address}/ready")
        assert (status, ready) == (200, "ready\n")
        assert get(f"http://{address}/health") == (200, "ok\n")
        assert get(f"http://{address}/nothing")[0] == 404
        assert get(f"http://{address}/metrics", method="POST")[0] == 405
    finally:
        prometheus_server.remove_target(topic)
        stop(consumer)


def test_the_exposition_passes_promtool_and_the_python_parser(broker, topic, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    produce_events_and_poisons(broker.bootstrap, topic)
    consumer = ConsumerProcess(tmp_path, "exposed", consume_args(
        broker.bootstrap, topic, tmp_path / "landed", "g-exposition", "--metrics-listen", "127.0.0.1:0",
        "--flush-interval-ms", "200", "--max-message-bytes", "4096"))
    try:
        address = metrics_address(consumer)
        deadline = time.monotonic() + 60
        while f'clickstream_consume_events_landed_total{{sink="parquet",topic="{topic}"}} {EVENTS}' not in \
                get(f"http://{address}/metrics")[1]:
            assert time.monotonic() < deadline, get(f"http://{address}/metrics")[1]
            time.sleep(0.2)
        text = get(f"http://{address}/metrics")[1]
    finally:
        stop(consumer)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families["clickstream_consume_events_landed"].type == "counter"
    assert families["clickstream_consume_landing_round_duration_seconds"].type == "histogram"
    assert families["clickstream_consume_lag_messages"].type == "gauge"
    info = families["clickstream_build_info"].samples[0]
    assert info.labels["version"] and info.labels["librdkafka"] and info.value == 1


def test_ready_goes_false_while_the_destination_fails_and_true_after(broker, topic, tmp_path, prometheus_server):
    """As root, chmod does not stop writes: the output directory is moved aside and a regular file put
    in its place, so every write fails (ENOTDIR) until it is moved back."""
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    output = tmp_path / "landed"
    aside = tmp_path / "landed-aside"
    consumer = ConsumerProcess(tmp_path, "failing", consume_args(
        broker.bootstrap, topic, output, "g-ready", "--metrics-listen", "127.0.0.1:0",
        "--flush-interval-ms", "200", "--write-retry-ms", "120000"))
    try:
        address = metrics_address(consumer)
        prometheus_server.add_target(topic, address)
        selector = f'topic="{topic}"'
        kcat_produce(broker.bootstrap, topic, event_lines(300), key_delimiter=KEY_DELIMITER)
        prometheus_server.wait_for(f"clickstream_consume_events_landed_total{{{selector}}}",
                                   lambda r: r and r[0][1] == 300, timeout=60)
        assert get(f"http://{address}/ready")[0] == 200

        output.rename(aside)
        output.write_text("not a directory")
        kcat_produce(broker.bootstrap, topic, event_lines(300, start=300), key_delimiter=KEY_DELIMITER)
        prometheus_server.wait_for(f"clickstream_consume_landing_failing{{{selector}}}",
                                   lambda r: r and r[0][1] == 1, timeout=60)
        status, body = get(f"http://{address}/ready")
        assert status == 503 and body.startswith("not ready: landing into"), body
        assert one_value(prometheus_server.query(f"clickstream_consume_write_retries_total{{{selector}}}")) > 0

        output.unlink()
        aside.rename(output)
        prometheus_server.wait_for(f"clickstream_consume_events_landed_total{{{selector}}}",
                                   lambda r: r and r[0][1] == 600, timeout=60)
        prometheus_server.wait_for(f"clickstream_consume_landing_failing{{{selector}}}",
                                   lambda r: r and r[0][1] == 0)
        assert get(f"http://{address}/ready") == (200, "ready\n")
    finally:
        prometheus_server.remove_target(topic)
        stop(consumer)


def scraped(address: str, name: str, topic: str) -> float | None:
    """One sample of the topic's metric as /metrics shows it now, None while it has none."""
    from prometheus_client.parser import text_string_to_metric_families

    values = [sample.value for family in text_string_to_metric_families(get(f"http://{address}/metrics")[1])
              for sample in family.samples if sample.name == name and sample.labels.get("topic") == topic]
    assert len(values) <= 1, values
    return values[0] if values else None


def poll_until(consumer: ConsumerProcess, what: str, check, timeout: float = 60):
    """Polls `check` until it returns something true; the consumer must keep running meanwhile."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert consumer.process.poll() is None, f"consumer exited while waiting for {what}:\n{consumer.stderr()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout}s:\n{consumer.stderr()[-3000:]}"
        time.sleep(0.2)
    return result


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own, which it stops and starts: the session's `postgres`
    stays up for the other tests."""
    with started_postgres() as instance:
        yield instance


def test_ready_goes_false_while_postgresql_is_down_and_true_after_it_is_back(broker, topic, tmp_path, own_postgres):
    """The server stopped mid-run: the round retries (--write-retry-ms outlasts the outage), /ready
    says which destination fails, and once the server is back every event lands once."""
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    table = table_for(topic)
    consumer = ConsumerProcess(tmp_path, "pg-outage", [
        "-b", broker.bootstrap, "-t", topic, "-o", own_postgres.uri, "--table", table, "-g", "g-pg-ready",
        *FAST_SESSION, "--metrics-listen", "127.0.0.1:0", "--flush-interval-ms", "200",
        "--write-retry-ms", "300000"])
    try:
        address = metrics_address(consumer)
        landed = "clickstream_consume_events_landed_total"
        failing = "clickstream_consume_landing_failing"
        kcat_produce(broker.bootstrap, topic, event_lines(300), key_delimiter=KEY_DELIMITER)
        poll_until(consumer, "300 events landed", lambda: scraped(address, landed, topic) == 300)
        assert scraped(address, failing, topic) == 0
        assert get(f"http://{address}/ready") == (200, "ready\n")

        own_postgres.stop()
        kcat_produce(broker.bootstrap, topic, event_lines(300, start=300), key_delimiter=KEY_DELIMITER)
        poll_until(consumer, "landing_failing 1", lambda: scraped(address, failing, topic) == 1)
        status, body = poll_until(consumer, "/ready 503", lambda: (r := get(f"http://{address}/ready"))[0] == 503 and r)
        port = own_postgres.port
        assert body.startswith(f"not ready: landing into PostgreSQL table public.{table} at "
                               f"postgresql://clickstream@127.0.0.1:{port}/clickstream keeps failing"), body
        assert PASSWORD not in body
        # Down across several attempts of the backoff (200, 400, 800 ms...), not only the first.
        poll_until(consumer, "3 write retries",
                   lambda: scraped(address, "clickstream_consume_write_retries_total", topic) >= 3)
        assert scraped(address, failing, topic) == 1 and get(f"http://{address}/ready")[0] == 503
        assert scraped(address, landed, topic) == 300

        own_postgres.start()
        poll_until(consumer, "600 events landed", lambda: scraped(address, landed, topic) == 600)
        poll_until(consumer, "landing_failing 0", lambda: scraped(address, failing, topic) == 0)
        # The gauge and /ready are set one after the other: poll for the second as well.
        poll_until(consumer, "/ready 200", lambda: get(f"http://{address}/ready") == (200, "ready\n"))
    finally:
        stop(consumer)
    assert_exactly_in_table(own_postgres, table, all_ids(600))
    assert "retrying in" in consumer.stderr() and "giving up" not in consumer.stderr()


def test_an_unusable_metrics_address_is_one_line_and_a_usage_error(tmp_path):
    from helpers import run_clickstream

    for listen, words in (("nonsense", "not HOST:PORT"), ("127.0.0.1:99999", "port must be")):
        result = run_clickstream("consume", "-o", tmp_path / "out", "-b", "127.0.0.1:1", "-t", "t",
                                 "--metrics-listen", listen, timeout=30)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
