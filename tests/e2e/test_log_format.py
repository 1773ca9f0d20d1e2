"""--log-format: the human lines stay as they were, and with json every line on stderr, librdkafka's
own included, is one JSON object a log shipper can parse: time, level, component, message and the
line's fields."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import BINARY, create_topic, kcat_produce, run_clickstream
from test_consume import KEY_DELIMITER, event_lines
from test_produce import generate

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"info", "warning", "error"}


def json_lines(stderr: str) -> list[dict]:
    """Every stderr line as a JSON object, checked for the four keys each one carries."""
    assert "\r" not in stderr, "a live line in the JSON format"
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    parsed = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert TIME.match(record["time"]), line
        assert record["level"] in LEVELS, line
        assert isinstance(record["component"], str) and record["component"], line
        assert isinstance(record["message"], str), line
        parsed.append(record)
    return parsed


def with_message(records: list[dict], pattern: str) -> list[dict]:
    return [record for record in records if re.search(pattern, record["message"])]


def test_produce_in_json_writes_only_json_lines_with_fields(broker, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 3000)
    with source.open("a") as csv:
        csv.write("not-a-time,1,view,2,,mobile,Safari,iOS\n")
    # --progress asks for a live line; in the JSON format the periodic lines come instead.
    result = run_clickstream("produce", "-b", broker.bootstrap, "-t", topic, "--input", source, "--rate", "500",
                             "--progress", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stderr)
    assert {record["component"] for record in records} <= {"produce", "kafka"}, result.stderr

    [created] = with_message(records, r"^created topic ")
    assert created["partitions"] == 6 and created["topic"] == topic

    [reject] = with_message(records, r"^line 3002: ")
    assert reject["level"] == "warning" and reject["line"] == 3002 and reject["reason"]

    progress = with_message(records, r"^sent \d+ \(\d+/s\), delivered")
    assert progress, result.stderr
    assert {"sent", "delivered", "in_flight", "rejected", "rate"} <= progress[0].keys()

    [summary] = with_message(records, r"^read \d+ rows: sent")
    assert (summary["read"], summary["sent"], summary["delivered"], summary["rejected"], summary["failed"]) == (
        3001, 3000, 3000, 1, 0)
    assert summary["level"] == "info" and summary["seconds"] > 0


def consume(broker, topic: str, output: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), "consume", "-b", broker.bootstrap, "-t", topic, "-o", str(output),
                           "-g", f"{topic}-group", "--exit-when-idle-ms", "3000", "--stats-interval-ms", "500",
                           *extra], capture_output=True, text=True, timeout=180)


def test_consume_in_json_routes_librdkafkas_lines_too(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=3)
    kcat_produce(broker.bootstrap, topic, event_lines(300), key_delimiter=KEY_DELIMITER)
    # debug=cgrp makes librdkafka log plenty of its own lines, each of which must come out as JSON.
    result = consume(broker, topic, tmp_path / "landed", "--log-format", "json", "-X", "debug=cgrp",
                     "--metrics-listen", "127.0.0.1:0")
    assert result.returncode == 0, result.stderr[-3000:]
    records = json_lines(result.stderr)

    [metrics] = with_message(records, r"^metrics on http://127\.0\.0\.1:\d+/metrics$")
    assert metrics["component"] == "consume" and metrics["address"].startswith("127.0.0.1:")

    [assigned] = with_message(records, r"^assigned \d+ partition\(s\); resuming from ")
    assert assigned["component"] == "consume" and assigned["partitions"] == 3
    assert assigned["level"] == "info" and assigned["destination"]

    [finished] = with_message(records, r"^finished in [\d.]+ s: ")
    assert finished["events"] == 300 and finished["partitions"] >= 0 and "rate" in finished

    librdkafka = [record for record in records if "facility" in record]
    assert librdkafka, "no librdkafka line: debug=cgrp should have made some"
    assert all(record["component"] == "kafka" and record["client"] for record in librdkafka)
    assert {record["facility"] for record in librdkafka} & {"CGRPSTATE", "CGRPOP", "JOIN", "ASSIGN", "HEARTBEAT"}


def test_compact_in_json_writes_a_line_per_day_and_keeps_its_summary_on_stdout(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=1)
    kcat_produce(broker.bootstrap, topic, event_lines(60), key_delimiter=KEY_DELIMITER)
    landed = tmp_path / "landed"
    assert consume(broker, topic, landed, "--batch-size", "10").returncode == 0  # several files per day
    result = run_clickstream("compact", "-o", landed, "--min-age", "0", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    days = json_lines(result.stderr)
    assert [(day["days_done"], day["days_total"]) for day in days] == [(1, 3), (2, 3), (3, 3)], result.stderr
    assert all(day["component"] == "compact" and day["path"].startswith("event_date=") for day in days)
    assert result.stdout.startswith("compacted 3 days in ")


def test_human_is_the_default_and_unchanged(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=2)
    kcat_produce(broker.bootstrap, topic, event_lines(50), key_delimiter=KEY_DELIMITER)
    result = consume(broker, topic, tmp_path / "landed")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("consume: ") for line in lines), result.stderr
    assert any(re.match(r"^consume: assigned 2 partition\(s\); resuming from .+: none; from the group's offset",
                        line) for line in lines), result.stderr
    assert any(re.match(r"^consume: finished in [\d.]+ s: \d+ events/s, 50 read, 50 events, ", line)
               for line in lines), result.stderr
    explicit = consume(broker, topic, tmp_path / "landed", "--log-format", "human")
    assert explicit.returncode == 0, explicit.stderr
    assert all(line.startswith("consume: ") for line in explicit.stderr.splitlines()), explicit.stderr


@pytest.mark.parametrize("command", [
    ["generate", "--events", "1", "-o", "-"],
    ["produce", "-i", "-"],
    ["consume", "-o", "/tmp/unused"],
    ["compact", "-o", "/tmp/unused"],
    ["report", "-i", "/tmp/unused"],
    ["schema"],
])
def test_an_unknown_log_format_is_a_usage_error_of_one_line(command):
    result = run_clickstream(*command, "--log-format", "xml")
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"clickstream {command[0]}: --log-format xml: expected human or json\n"
    assert result.stdout == ""


def test_usage_errors_and_command_errors_are_json_lines_too(tmp_path):
    usage = run_clickstream("produce", "--log-format", "json", "-i", "x.csv", "--rate", "-5")
    assert usage.returncode == 2, usage.stderr
    [record] = json_lines(usage.stderr)
    assert record["level"] == "error" and "--rate" in record["message"]

    missing = run_clickstream("produce", "--log-format=json", "-i", str(tmp_path / "missing.csv"))
    assert missing.returncode == 3, missing.stderr
    [record] = json_lines(missing.stderr)
    assert (record["level"], record["component"]) == ("error", "produce")
    assert "missing.csv" in record["message"] and not record["message"].startswith("clickstream")

    compact = run_clickstream("compact", "--log-format", "json", "-o", str(tmp_path / "none"), "--min-age", "5x")
    assert compact.returncode == 2, compact.stderr
    [record] = json_lines(compact.stderr)
    assert record["component"] == "compact" and record["message"].startswith("--min-age 5x: ")
