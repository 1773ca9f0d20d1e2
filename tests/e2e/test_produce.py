"""`clickstream produce` against a real broker: what arrives in the topic, what is reported, exit codes."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

from conftest import Broker
from helpers import BINARY, free_port, kcat_consume, run_clickstream

GENERATOR_HEADER = "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os"
SUMMARY = re.compile(r"read (\d+) rows: sent (\d+), delivered (\d+), rejected (\d+), failed (\d+) in ([\d.]+) s")


def generate(path: Path, events: int) -> Path:
    result = run_clickstream("generate", "--events", events, "--output", path)
    assert result.returncode == 0, result.stderr
    return path


def produce(bootstrap: str, topic: str, *args, **kwargs):
    return run_clickstream("produce", "-b", bootstrap, "-t", topic, "--no-progress", *args, **kwargs)


def summary(stderr: str) -> dict:
    match = SUMMARY.search(stderr)
    assert match, stderr
    keys = ["read", "sent", "delivered", "rejected", "failed"]
    return {**{key: int(match.group(i + 1)) for i, key in enumerate(keys)}, "elapsed": float(match.group(6))}


def read_messages(bootstrap: str, topic: str, expected: int | None = None) -> list[tuple[str, dict]]:
    """The whole topic as (key, event). kcat -e has been seen stopping a couple of messages short on a
    topic written a moment before, so a short read is retried, up to a deadline, before it counts as
    missing data."""
    deadline = time.time() + 30
    while True:
        lines = kcat_consume(bootstrap, topic, fmt="%k\t%s\n")
        if expected is None or len(lines) >= expected or time.time() > deadline:
            break
        time.sleep(0.2)
    return [(key, json.loads(value)) for key, value in (line.split("\t", 1) for line in lines)]


def topic_message_count(bootstrap: str, topic: str) -> int:
    """Messages in the topic so far (the sum of its partitions' end offsets); 0 before it exists or
    while a just-created topic has no leader yet (kafka-python then raises from inside end_offsets,
    sometimes as an AttributeError): the callers poll with a deadline."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions]) if partitions else {}
        return sum(ends.values())
    except (KafkaError, AttributeError):
        return 0
    finally:
        consumer.close()


def wait_for_messages(bootstrap: str, topic: str, count: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Waits until the topic holds at least `count` messages while `process` keeps running."""
    deadline = time.time() + timeout
    while topic_message_count(bootstrap, topic) < count:
        assert process.poll() is None, "the replay ended before the topic held enough messages"
        assert time.time() < deadline, f"fewer than {count} messages in {topic} after {timeout}s"
        time.sleep(0.2)


def csv_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()[1:]]


def test_fifty_thousand_events_arrive_once_keyed_by_visitor(broker, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 50_000)
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0")
    assert result.returncode == 0, result.stderr
    assert summary(result.stderr) | {"elapsed": 0} == {
        "read": 50_000, "sent": 50_000, "delivered": 50_000, "rejected": 0, "failed": 0, "elapsed": 0}

    messages = read_messages(broker.bootstrap, topic, 50_000)
    assert len(messages) == 50_000
    assert len({(event["source_id"], event["source_line"]) for _, event in messages}) == 50_000
    # One fingerprint for the whole file; the line leads back to the row.
    assert len({event["source_id"] for _, event in messages}) == 1
    rows = source.read_text().splitlines()
    for _, event in messages[:100]:
        row = rows[event["source_line"] - 1].split(",")
        assert (row[0], row[1], row[3]) == (event["timestamp"], event["visitor_id"], event["item_id"])
    assert all(key == event["visitor_id"] for key, event in messages)
    # Identifiers keep their source text; every row of the file is there.
    expected = sorted((row[1], row[3], row[0]) for row in csv_rows(source))
    assert sorted((e["visitor_id"], e["item_id"], e["timestamp"]) for _, e in messages) == expected
    assert set(messages[0][1]) == {"source_id", "source_line", "timestamp", "visitor_id", "event_type", "item_id",
                                   "transaction_id", "device", "browser", "os"}


def partitions_keys_and_lines(bootstrap: str, topic: str, expected: int) -> list[tuple[int, str, int]]:
    """The whole topic as (partition, key, source_line), each partition in offset order."""
    deadline = time.time() + 30
    while True:
        lines = kcat_consume(bootstrap, topic, fmt="%p\t%k\t%s\n")
        if len(lines) >= expected or time.time() > deadline:
            break
        time.sleep(0.2)
    rows = (line.split("\t", 2) for line in lines)
    return [(int(partition), key, json.loads(value)["source_line"]) for partition, key, value in rows]


def assert_rows_keep_their_order_within_each_partition(messages: list[tuple[int, str, int]]) -> None:
    last_line: dict[int, int] = {}
    for partition, _, line in messages:
        assert line > last_line.get(partition, 0), f"partition {partition}: line {line} after {last_line[partition]}"
        last_line[partition] = line


def test_keys_land_where_librdkafkas_default_partitioner_puts_them_in_row_order(broker, topic, tmp_path):
    # consistent_random: crc32(key) % partitions, so Kafka tools that hash the same way agree with us.
    # A local queue far smaller than a block of rows makes every batch resume after a full queue.
    source = generate(tmp_path / "events.csv", 20_000)
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0", "--partitions", "6",
                     "-X", "queue.buffering.max.messages=500")
    assert result.returncode == 0, result.stderr
    messages = partitions_keys_and_lines(broker.bootstrap, topic, 20_000)
    assert len(messages) == 20_000
    assert sorted(line for _, _, line in messages) == list(range(2, 20_002))  # each row once
    assert len({partition for partition, _, _ in messages}) == 6
    assert all(partition == zlib.crc32(key.encode()) % 6 for partition, key, _ in messages)
    assert_rows_keep_their_order_within_each_partition(messages)


def test_a_partitioner_chosen_with_dash_x_is_honoured(broker, topic, tmp_path):
    from kafka.partitioner.default import murmur2  # the Java client's hash, as murmur2_random uses it

    source = generate(tmp_path / "events.csv", 5_000)
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0", "--partitions", "6",
                     "-X", "partitioner=murmur2_random")
    assert result.returncode == 0, result.stderr
    messages = partitions_keys_and_lines(broker.bootstrap, topic, 5_000)
    assert len(messages) == 5_000
    assert all(partition == (murmur2(key.encode()) & 0x7FFFFFFF) % 6 for partition, key, _ in messages)
    assert_rows_keep_their_order_within_each_partition(messages)


def test_rate_2000_over_20000_events_takes_about_ten_seconds(broker, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 20_000)
    started = time.monotonic()
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "2000")
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    counts = summary(result.stderr)
    assert counts["delivered"] == 20_000
    assert 9.0 <= counts["elapsed"] <= 11.5, counts
    assert 8.0 <= wall <= 13.0


BAD_ROWS = [
    # (line content, expected reason fragment)
    ("2015-05-03 00:00:02,2,view,1,,mobile,Safari", "expected 8 fields, found 7"),
    ("2015-05-03 00:00:03,3,view,1,,mobile,Safari,iOS,extra", "expected 8 fields, found 9"),
    ("2015-02-30 00:00:04,4,view,1,,mobile,Safari,iOS", "unparsable timestamp"),
    ("yesterday,5,view,1,,mobile,Safari,iOS", "unparsable timestamp"),
    ("2015-05-03 00:00:06,6,click,1,,mobile,Safari,iOS", "unknown event_type 'click'"),
    ("2015-05-03 00:00:07,,view,1,,mobile,Safari,iOS", "missing visitor_id"),
    ("2015-05-03 00:00:08,8,view,,,mobile,Safari,iOS", "missing item_id"),
    ("2015-05-03 00:00:09,9,transaction,1,,mobile,Safari,iOS", "missing transaction_id"),
    ("2015-05-03 00:00:10,10,view,1,T1,mobile,Safari,iOS", "only transactions have one"),
    ("2015-05-03 00:00:11,1\xff1,view,1,,mobile,Safari,iOS", "not valid UTF-8"),
    ('2015-05-03 00:00:12,12,view,1,,mobile,"Saf"ari,iOS', "text after a closing quote"),
]


def bad_rows_file(path: Path) -> tuple[Path, list[str], dict[int, str]]:
    """Good rows interleaved with every kind of bad row; returns the good visitor ids and the bad lines."""
    lines = [GENERATOR_HEADER]
    good, bad = [], {}
    for i, (row, reason) in enumerate(BAD_ROWS):
        visitor = f"good{i}"
        lines.append(f"2015-05-03 01:00:{i:02},{visitor},view,{i},,desktop,Firefox,Windows")
        good.append(visitor)
        lines.append(row)
        bad[len(lines)] = reason
    lines.append("2015-05-03 02:00:00,last,transaction,7,T7,mobile,Chrome,Android")
    good.append("last")
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff") + b"\n")
    return path, good, bad


def test_bad_rows_are_reported_once_with_their_line_and_skipped(broker, topic, tmp_path):
    source, good, bad = bad_rows_file(tmp_path / "bad.csv")
    rejects = tmp_path / "rejects.txt"
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0", "--rejects", rejects)
    assert result.returncode == 0, result.stderr
    reported = rejects.read_text().splitlines()
    assert len(reported) == len(bad)
    for report, (line, reason) in zip(reported, sorted(bad.items())):
        assert report.startswith(f"line {line}: "), report
        assert reason in report, report
    counts = summary(result.stderr)
    assert (counts["sent"], counts["delivered"], counts["rejected"]) == (len(good), len(good), len(bad))
    assert sorted(key for key, _ in read_messages(broker.bootstrap, topic, len(good))) == sorted(good)


def test_rejects_default_to_stderr_and_strict_stops_with_exit_3(broker, topic, tmp_path):
    source, _, bad = bad_rows_file(tmp_path / "bad.csv")
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0")
    assert result.returncode == 0
    assert sum(line.startswith("line ") for line in result.stderr.splitlines()) == len(bad)

    strict = produce(broker.bootstrap, f"{topic}-strict", "--input", source, "--rate", "0", "--strict")
    assert strict.returncode == 3, strict.stderr
    first_bad = min(bad)
    assert f"line {first_bad}: " in strict.stderr
    assert sum(line.startswith("line ") for line in strict.stderr.splitlines()) == 1
    assert [key for key, _ in read_messages(broker.bootstrap, f"{topic}-strict", 1)] == ["good0"]


def test_retailrocket_layout(broker, topic, tmp_path):
    source = tmp_path / "events.csv"
    source.write_text("timestamp,visitorid,event,itemid,transactionid\n"
                      "1433221332117,257597,view,355908,\n"
                      "1433224214164,992329,transaction,248676,4000\n"
                      "1433223236124,125,addtocart,17,\n"
                      "1433221332117000,7,view,1,\n"
                      "1433221332,8,view,1,\n")
    rejects = tmp_path / "rejects.txt"
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0", "--rejects", rejects)
    assert result.returncode == 0, result.stderr
    # Microseconds and seconds are rejected by line, never misdated (as the year 7386 or 1970).
    reported = rejects.read_text().splitlines()
    assert [r.split(":")[0] for r in reported] == ["line 5", "line 6"]
    assert "epoch microseconds" in reported[0] and "epoch seconds" in reported[1]
    events = {event["visitor_id"]: event for _, event in read_messages(broker.bootstrap, topic, 3)}
    assert set(events) == {"257597", "992329", "125"}
    assert events["257597"]["timestamp"] == "2015-06-02 05:02:12"
    assert events["257597"]["transaction_id"] is None
    assert events["992329"]["source_line"] == 3
    assert events["992329"] | {"source_id": ""} == {
        "source_id": "", "source_line": 3, "timestamp": "2015-06-02 05:50:14", "visitor_id": "992329", "event_type": "transaction",
        "item_id": "248676", "transaction_id": "4000", "device": None, "browser": None, "os": None}
    assert events["125"]["event_type"] == "addtocart"


def test_crlf_bom_quotes_and_no_final_newline(broker, topic, tmp_path):
    source = tmp_path / "events.csv"
    source.write_bytes(b"\xef\xbb\xbf" + GENERATOR_HEADER.encode() + b"\r\n"
                       b'2015-05-03 00:00:01,"v1",view,"i,1",,mobile,"Samsung ""Internet""",Android\r\n'
                       b"2015-05-03 00:00:02,v2,view,i2,,desktop,Chrome,Windows")
    result = produce(broker.bootstrap, topic, "--input", source, "--rate", "0")
    assert result.returncode == 0, result.stderr
    events = {event["visitor_id"]: event for _, event in read_messages(broker.bootstrap, topic, 2)}
    assert events["v1"]["item_id"] == "i,1"
    assert events["v1"]["browser"] == 'Samsung "Internet"'
    assert events["v2"]["os"] == "Windows"


def test_stdin_limit_and_stable_identities(broker, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 300)
    first = produce(broker.bootstrap, topic, "--input", "-", "--rate", "0", "--limit", "100",
                    input=source.read_text())
    assert first.returncode == 0, first.stderr
    assert summary(first.stderr)["sent"] == 100
    again = produce(broker.bootstrap, f"{topic}-again", "--input", source, "--rate", "0")
    assert again.returncode == 0, again.stderr
    ids_first = [(e["source_id"], e["source_line"]) for _, e in read_messages(broker.bootstrap, topic, 100)]
    ids_again = {(e["source_id"], e["source_line"])
                 for _, e in read_messages(broker.bootstrap, f"{topic}-again", 300)}
    assert len(ids_first) == 100 and set(ids_first) <= ids_again and len(ids_again) == 300


def test_speed_replays_original_gaps_faster(broker, topic, tmp_path):
    source = tmp_path / "events.csv"
    source.write_text(GENERATOR_HEADER + "\n"
                      "2015-05-03 10:00:00,a,view,1,,mobile,Safari,iOS\n"
                      "2015-05-03 10:30:00,b,view,1,,mobile,Safari,iOS\n"
                      "2015-05-03 11:00:00,c,view,1,,mobile,Safari,iOS\n")
    result = produce(broker.bootstrap, topic, "--input", source, "--speed", "3600")
    assert result.returncode == 0, result.stderr
    assert 0.9 <= summary(result.stderr)["elapsed"] <= 3.0  # an hour of traffic in a second


def test_speed_spaces_arrival_times_in_the_topic_like_the_original_gaps(broker, topic, tmp_path):
    """The messages' own timestamps (set when the producer hands them to Kafka), not the binary's
    report: uneven gaps of 30, 15, 60 and 30 minutes at --speed 3600 arrive 0.5, 0.25, 1 and 0.5 s
    apart."""
    from kafka import KafkaConsumer

    minutes = {"a": 0, "b": 30, "c": 45, "d": 105, "e": 135}
    source = tmp_path / "events.csv"
    source.write_text(GENERATOR_HEADER + "\n" + "".join(
        f"2015-05-03 {10 + m // 60:02d}:{m % 60:02d}:00,{visitor},view,1,,mobile,Safari,iOS\n"
        for visitor, m in minutes.items()))
    result = produce(broker.bootstrap, topic, "--input", source, "--speed", "3600")
    assert result.returncode == 0, result.stderr

    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    arrivals = {}
    for message in consumer:
        arrivals[message.key.decode()] = message.timestamp / 1000.0
        if len(arrivals) == len(minutes):
            break
    consumer.close()
    assert set(arrivals) == set(minutes)
    order = sorted(minutes, key=minutes.get)
    first = order[0]
    for event in order[1:]:
        expected = (minutes[event] - minutes[first]) * 60 / 3600
        offset = arrivals[event] - arrivals[first]
        # On the schedule that starts at the first event: never early (timestamps are whole
        # milliseconds), late by at most one slow wake-up. A late event is not carried over to the
        # next, so the gap after a late event may be shorter than the original's.
        assert expected - 0.002 <= offset <= expected + 0.25, (first, event, offset, expected)
    total = arrivals[order[-1]] - arrivals[order[0]]
    assert 2.25 - 0.002 <= total <= 2.25 + 0.25, total


def test_missing_input_exits_3(broker, topic, tmp_path):
    result = produce(broker.bootstrap, topic, "--input", tmp_path / "nope.csv")
    assert result.returncode == 3
    assert "nope.csv" in result.stderr and "No such file" in result.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_flushes_and_prints_summary(broker, topic, tmp_path, signum, code):
    source = generate(tmp_path / "events.csv", 5_000)
    process = subprocess.Popen([str(BINARY), "produce", "-b", broker.bootstrap, "-t", topic, "--no-progress",
                                "--input", source, "--rate", "500"], stderr=subprocess.PIPE, text=True)
    wait_for_messages(broker.bootstrap, topic, 500, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    counts = summary(stderr)
    assert 0 < counts["sent"] < 5_000 and counts["delivered"] == counts["sent"] and counts["failed"] == 0
    assert len(read_messages(broker.bootstrap, topic, counts["sent"])) == counts["sent"]


def test_broker_killed_and_restarted_mid_run_loses_and_duplicates_nothing(tmp_path, topic):
    own = Broker(tmp_path / "kafka", free_port())
    own.start()
    try:
        source = generate(tmp_path / "events.csv", 30_000)
        process = subprocess.Popen([str(BINARY), "produce", "-b", own.bootstrap, "-t", topic, "--no-progress",
                                    "--input", source, "--rate", "3000"], stderr=subprocess.PIPE, text=True)
        wait_for_messages(own.bootstrap, topic, 6_000, process)
        assert process.poll() is None, "the replay should still be running when the broker dies"
        own.kill()
        time.sleep(2)  # not a synchronisation: the length of the outage the replay has to ride out
        own.start()
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        counts = summary(stderr)
        assert counts["delivered"] == 30_000 and counts["failed"] == 0
        ids = [(e["source_id"], e["source_line"]) for _, e in read_messages(own.bootstrap, topic, 30_000)]
        assert len(ids) == 30_000
        assert len(set(ids)) == 30_000
    finally:
        own.stop()


def test_a_broker_outage_is_reported_on_stderr_once_per_error_code(tmp_path, topic):
    """librdkafka tells a client that registered an error callback about a lost broker through that
    callback alone: `produce` must print it, and not once per reconnect attempt."""
    own = Broker(tmp_path / "kafka", free_port())
    own.start()
    try:
        source = generate(tmp_path / "events.csv", 800)
        # 8 s at 100/s; events sent while the broker is down fail after 1 s instead of 5 minutes.
        process = subprocess.Popen([str(BINARY), "produce", "-b", own.bootstrap, "-t", topic, "--no-progress",
                                    "--input", source, "--rate", "100", "-X", "message.timeout.ms=1000"],
                                   stderr=subprocess.PIPE, text=True)
        wait_for_messages(own.bootstrap, topic, 50, process)
        own.stop()
        _, stderr = process.communicate(timeout=120)
    finally:
        own.stop()
    assert process.returncode == 1, stderr  # the events sent into the outage were not delivered
    errors = [line for line in stderr.splitlines() if line.startswith("kafka: ")]
    assert any(re.search(r"^kafka: clickstream-produce\S*: 1/1 brokers are down \(_ALL_BROKERS_DOWN\)$", line)
               for line in errors), stderr
    codes = Counter(re.search(r"\((_[A-Z_]+)[;)]", line).group(1) for line in errors)
    # The outage lasts less than 10 s of the run, so one line per code, two at a boundary.
    assert codes and max(codes.values()) <= 2, errors


def signal_mask(pid: int, field: str) -> int:
    """A signal mask from /proc/PID/status: SigCgt (handled), ShdPnd (pending for the process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1], 16)
    return 0


def test_a_second_signal_exits_at_once(tmp_path):
    """With no broker to answer, the first SIGINT's clean stop would wait for Kafka's timeouts (the
    topic check alone waits 30 s); a second SIGINT ends the process at once with 130."""
    source = generate(tmp_path / "events.csv", 100)
    process = subprocess.Popen([str(BINARY), "produce", "-b", f"127.0.0.1:{free_port()}", "-t", "t", "--no-progress",
                                "--input", source, "-X", "log_level=0"], stderr=subprocess.PIPE, text=True)
    try:
        handled = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        deadline = time.time() + 30
        while signal_mask(process.pid, "SigCgt") & handled != handled:
            assert process.poll() is None and time.time() < deadline, "the stop handlers were never installed"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        # Two SIGINTs pending at once merge into one: the second goes once the first was delivered.
        while signal_mask(process.pid, "ShdPnd") & handled:
            assert time.time() < deadline, "the first signal was never delivered"
            time.sleep(0.01)
        assert process.poll() is None, "the first signal asks for a clean stop, it does not end the process"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 130, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
