"""`produce --metrics-listen` and `compact --metrics-listen`: the replay's sent, delivered and
failed events, its paced rate against the target, and compaction's progress, read by a real
Prometheus and straight from the port while the commands run."""
from __future__ import annotations

import fcntl
import re
import subprocess
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import Broker
from helpers import BINARY, free_port
from test_compact import landed, landed_template  # noqa: F401  (fixtures)
from test_metrics import get, one_value
from test_produce import generate, wait_for_messages


class Running:
    """A clickstream command with its stderr in a file, and the metrics address it logged."""

    def __init__(self, tmp_path: Path, name: str, *args: str):
        self.log = tmp_path / f"{name}.stderr"
        self.out = tmp_path / f"{name}.stdout"
        with open(self.log, "w") as err, open(self.out, "w") as out:
            self.process = subprocess.Popen([str(BINARY), *args], stdout=out, stderr=err)

    def stderr(self) -> str:
        return self.log.read_text()

    def metrics_address(self, command: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while not (match := re.search(rf"^{command}: metrics on http://([\d.]+:\d+)/metrics$", self.stderr(), re.M)):
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, self.stderr()
            time.sleep(0.05)
        return match.group(1)

    def wait(self, timeout: float = 120) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def scrape(address: str) -> dict[tuple[str, tuple], float]:
    """The port's /metrics as (sample name, sorted labels) -> value, parsed by prometheus_client."""
    status, text = get(f"http://{address}/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_prometheus_sees_the_paced_rate_against_the_target(broker, topic, tmp_path, prometheus_server):
    source = generate(tmp_path / "events.csv", 900)
    producer = Running(tmp_path, "produce", "produce", "-b", broker.bootstrap, "-t", topic, "--no-progress",
                       "--input", str(source), "--rate", "150", "--metrics-listen", "127.0.0.1:0")
    try:
        address = producer.metrics_address("produce")
        prometheus_server.add_target(topic, address)
        selector = f'topic="{topic}"'
        assert one_value(prometheus_server.wait_for(f"clickstream_produce_target_rate{{{selector}}}",
                                                    lambda r: len(r) == 1)) == 150
        # Paced, the delivered rate settles near the target (broadly: the machine may be busy).
        prometheus_server.wait_for(f"clickstream_produce_rate{{{selector}}}",
                                   lambda r: len(r) == 1 and 75 <= r[0][1] <= 225)
        sent = one_value(prometheus_server.wait_for(f"clickstream_produce_events_sent_total{{{selector}}}",
                                                    lambda r: r and r[0][1] > 150))
        assert one_value(prometheus_server.query(f"clickstream_produce_events_delivered_total{{{selector}}}")) <= sent
        assert get(f"http://{address}/ready") == (200, "ready\n")
        metrics = scrape(address)
        assert metrics[("clickstream_kafka_producer_queue_messages", ())] >= 0
        assert metrics[("clickstream_produce_events_failed_total",
                        (("reason", "_MSG_TIMED_OUT"), ("topic", topic)))] == 0
        assert producer.wait() == 0, producer.stderr()
    finally:
        prometheus_server.remove_target(topic)
        producer.kill()


def test_events_lost_to_a_broker_outage_are_counted_by_reason(tmp_path, topic):
    own = Broker(tmp_path / "kafka", free_port())
    own.start()
    producer = None
    try:
        source = generate(tmp_path / "events.csv", 1500)
        # 15 s at 100/s; events sent while the broker is down fail after 1 s instead of 5 minutes.
        producer = Running(tmp_path, "produce", "produce", "-b", own.bootstrap, "-t", topic, "--no-progress",
                           "--input", str(source), "--rate", "100", "-X", "message.timeout.ms=1000",
                           "--metrics-listen", "127.0.0.1:0")
        address = producer.metrics_address("produce")
        wait_for_messages(own.bootstrap, topic, 50, producer.process)
        own.stop()
        failed_key = ("clickstream_produce_events_failed_total", (("reason", "_MSG_TIMED_OUT"), ("topic", topic)))
        deadline = time.monotonic() + 60
        while (metrics := scrape(address))[failed_key] == 0:
            assert producer.process.poll() is None, producer.stderr()
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)
        sent = metrics[("clickstream_produce_events_sent_total", (("topic", topic),))]
        delivered = metrics[("clickstream_produce_events_delivered_total", (("topic", topic),))]
        in_flight = metrics[("clickstream_produce_in_flight", (("topic", topic),))]
        # Every event sent is delivered, failed or still in flight; none is counted twice. The
        # counters are published together, a few times a second.
        assert delivered + metrics[failed_key] + in_flight == sent
        assert producer.wait() == 1, producer.stderr()  # the events sent into the outage were lost
    finally:
        if producer:
            producer.kill()
        own.stop()


def test_compact_reports_each_finished_day_while_it_runs(landed, tmp_path, prometheus_server):  # noqa: F811
    days = sorted(path.name for path in landed.iterdir() if path.name.startswith("event_date="))
    assert len(days) >= 2, days
    # A consumer's shared lock on the last day holds compaction before that day's swap, so the
    # metrics of the days before it can be read while the command still runs.
    with open(landed / ".clickstream-locks" / f"{days[-1]}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        compactor = Running(tmp_path, "compact", "compact", "--output", str(landed), "--min-age", "0",
                            "--metrics-listen", "127.0.0.1:0")
        try:
            address = compactor.metrics_address("compact")
            prometheus_server.add_target("compact", address)
            done = prometheus_server.wait_for("clickstream_compact_days_done",
                                              lambda r: r and r[0][1] == len(days) - 1)
            assert done and one_value(prometheus_server.query("clickstream_compact_days_total")) == len(days)
            metrics = scrape(address)
            input_files = metrics[("clickstream_compact_input_files_total", ())]
            output_files = metrics[("clickstream_compact_output_files_total", ())]
            assert input_files > output_files > 0, metrics
            assert metrics[("clickstream_compact_input_bytes_total", ())] > 0
            assert metrics[("clickstream_compact_output_bytes_total", ())] > 0
            assert metrics[("clickstream_compact_duration_seconds", ())] > 0
            assert get(f"http://{address}/ready") == (200, "ready\n")
            assert compactor.process.poll() is None
        finally:
            prometheus_server.remove_target("compact")
            fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            assert compactor.wait() == 0, compactor.stderr()
        finally:
            compactor.kill()
    assert re.match(rf"compacted {len(days)} days in ", compactor.out.read_text()), compactor.out.read_text()
