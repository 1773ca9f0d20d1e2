"""`consume --output s3://bucket/prefix` and `report --input s3://…` against a real S3 API server on
loopback: exactly once through SIGKILLs, two members and a store refusing writes for a while, read
back with pyarrow's own S3 client and duckdb; bad destinations fail at start-up with exit 2."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
from pyarrow import fs as pafs

from helpers import BINARY, create_topic, free_port, run_clickstream
from landed_data import write_landed
from test_consume import (ConsumerProcess, all_ids, committed_offsets, consume_args, identities, produce_events,
                          produce_in_background, run_to_idle)

PREFIX = "clickstream"
LANDED_NAME = re.compile(r"^_?clickstream_\d{8}_\d{6}_\d{3}_p(\d+)_o(\d+)-(\d+)_\d+of\d+\.(parquet|skipped)$")


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Credentials and endpoint the standard AWS ways, inherited by every process the test starts."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


def object_keys(server, bucket: str) -> list[str]:
    pages = server.boto3().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def landed_dataset(server, bucket: str) -> ds.Dataset:
    return ds.dataset(f"{bucket}/{PREFIX}", filesystem=server.filesystem(), format="parquet", partitioning="hive")


def assert_exactly_in_s3(server, bucket: str, expected_ids: set[str]) -> None:
    dataset = landed_dataset(server, bucket)
    ids = identities(dataset.to_table(columns=["source_id", "source_line"]))
    assert len(ids) == len(expected_ids), f"{len(ids)} rows, expected {len(expected_ids)}"
    assert set(ids) == expected_ids
    rows, distinct = duckdb.sql("SELECT count(*), count(DISTINCT (source_id, source_line)) FROM dataset").fetchone()
    assert rows == distinct == len(expected_ids)
    # Nothing but landed files (and the empty "directory" markers Arrow keeps): no half uploads.
    for key in object_keys(server, bucket):
        if key.endswith("/"):
            continue
        assert LANDED_NAME.match(key.rsplit("/", 1)[-1]), f"unexpected object {key}"
    assert not server.boto3().list_multipart_uploads(Bucket=bucket).get("Uploads"), "multipart upload left open"


def landed_next_offsets(server, bucket: str) -> dict[int, int]:
    result: dict[int, int] = {}
    for key in object_keys(server, bucket):
        match = LANDED_NAME.match(key.rsplit("/", 1)[-1])
        if match:
            partition, last = int(match.group(1)), int(match.group(3))
            result[partition] = max(result.get(partition, 0), last + 1)
    return result


def s3_output(bucket: str) -> str:
    return f"s3://{bucket}/{PREFIX}"


def test_lands_100k_events_exactly_in_s3(broker, topic, s3_env, bucket, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=6)
    produce_events(broker.bootstrap, topic, 100_000)
    consumer = run_to_idle(tmp_path, "consume", consume_args(broker.bootstrap, topic, s3_output(bucket), "g-s3-100k"))

    assert_exactly_in_s3(s3_env, bucket, all_ids(100_000))
    directories = {key.split("/")[1] for key in object_keys(s3_env, bucket)}
    assert directories == {"event_date=2015-06-01", "event_date=2015-06-02", "event_date=2015-06-03"}
    stderr = consumer.stderr()
    assert "finished" in stderr and "100000 events" in stderr
    assert "FinalizeS3" not in stderr and "AWS" not in stderr, stderr
    assert committed_offsets(broker.bootstrap, "g-s3-100k") == landed_next_offsets(s3_env, bucket)


def test_sigkill_during_a_stream_lands_exactly_once_in_s3(broker, topic, s3_env, bucket, tmp_path):
    total = 120_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    args = consume_args(broker.bootstrap, topic, s3_output(bucket), "g-s3-kill", "--flush-interval-ms", "500")
    for attempt in range(6):
        consumer = ConsumerProcess(tmp_path, f"killed-{attempt}", args)
        consumer.wait_for("assigned")
        # Kill once the consumer has landed something since the previous kill, mid-stream.
        landed_before = len(object_keys(s3_env, bucket))
        deadline = time.time() + 30
        while len(object_keys(s3_env, bucket)) <= landed_before and time.time() < deadline:
            time.sleep(0.05)
        consumer.kill()
    producer.join()
    run_to_idle(tmp_path, "final", args, idle_ms=5000)
    assert_exactly_in_s3(s3_env, bucket, all_ids(total))


@pytest.mark.parametrize("crash_at,objects_left", [("before-upload-complete", 0), ("after-generation-upload", 1)])
def test_a_crash_inside_an_upload_round_is_recovered(broker, topic, s3_env, bucket, tmp_path, crash_at, objects_left):
    """One partition, one file per batch, so uploads go one after the other. before-upload-complete:
    killed with the bytes handed over but the upload not completed: no object may appear.
    after-generation-upload: killed once the first batch exists, before the next one starts."""
    create_topic(broker.bootstrap, topic, partitions=1)
    produce_events(broker.bootstrap, topic, 3_000)
    args = consume_args(broker.bootstrap, topic, s3_output(bucket), "g-s3-crash", "--batch-size", "1000",
                        "--partition-by", "none")
    crashed = subprocess.run([str(BINARY), "consume", *args, "--exit-when-idle-ms", "3000"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CLICKSTREAM_CRASH_AT": crash_at})
    assert crashed.returncode == -9, crashed.stderr
    left = object_keys(s3_env, bucket)
    assert len(left) == objects_left, left
    assert all("_o0-999_" in key for key in left), left
    run_to_idle(tmp_path, "restarted", args, idle_ms=3000)
    assert_exactly_in_s3(s3_env, bucket, all_ids(3_000))


def test_two_members_on_one_prefix_land_exactly_once(broker, topic, s3_env, bucket, tmp_path):
    total = 60_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    args = consume_args(broker.bootstrap, topic, s3_output(bucket), "g-s3-two", "--flush-interval-ms", "500",
                        "--exit-when-idle-ms", "6000")
    first = ConsumerProcess(tmp_path, "first", args)
    first.wait_for("assigned")
    second = ConsumerProcess(tmp_path, "second", args)
    second.wait_for("assigned")
    producer.join()
    assert first.wait() == 0, first.stderr()
    assert second.wait() == 0, second.stderr()
    assert "revoked" in first.stderr()  # the second member's arrival split the partitions
    assert_exactly_in_s3(s3_env, bucket, all_ids(total))


def set_write_permission(server, allowed: bool) -> None:
    """Denies (or allows again) PutObject for the consumer's user: the store answers 403s for a while."""
    import boto3

    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
    statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    if not allowed:
        statements.append({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"})
    iam.put_user_policy(UserName="lander", PolicyName="everything",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def test_refused_writes_are_retried_then_exit_1_without_committing(broker, topic, s3_env, bucket, tmp_path):
    total = 30_000
    create_topic(broker.bootstrap, topic, partitions=3)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=5_000, pause=0.5)
    args = consume_args(broker.bootstrap, topic, s3_output(bucket), "g-s3-refused", "--batch-size", "500",
                        "--flush-interval-ms", "300", "--write-retry-ms", "3000")
    consumer = ConsumerProcess(tmp_path, "refused", args)
    deadline = time.time() + 60
    while not object_keys(s3_env, bucket):
        assert time.time() < deadline and consumer.process.poll() is None, consumer.stderr()
        time.sleep(0.05)
    set_write_permission(s3_env, allowed=False)
    try:
        assert consumer.wait(timeout=120) == 1, consumer.stderr()
        assert "giving up" in consumer.stderr()
        landed = landed_next_offsets(s3_env, bucket)
        for partition, offset in committed_offsets(broker.bootstrap, "g-s3-refused").items():
            assert offset <= landed.get(partition, 0), (partition, offset, landed)
    finally:
        set_write_permission(s3_env, allowed=True)
    producer.join()
    run_to_idle(tmp_path, "restarted", args)
    assert_exactly_in_s3(s3_env, bucket, all_ids(total))


def report_body(stdout: str) -> str:
    """The report without its first line (which names the input and the time taken)."""
    return stdout.split("\n", 1)[1]


def test_report_on_s3_finds_the_same_drop_as_on_a_local_copy(s3_env, bucket, tmp_path):
    csv = tmp_path / "events.csv"
    generated = run_clickstream("generate", "--events", 500_000, "--seed", 11, "--bug", "safari-ios",
                                "--bug-start", "2015-07-20", "--output", csv, timeout=120)
    assert generated.returncode == 0, generated.stderr
    local = write_landed(csv, tmp_path / "landed")
    pafs.copy_files(str(local), f"{bucket}/{PREFIX}", destination_filesystem=s3_env.filesystem())

    on_s3 = run_clickstream("report", "--input", s3_output(bucket), timeout=120)
    on_disk = run_clickstream("report", "--input", local, timeout=120)
    assert on_s3.returncode == 0, on_s3.stderr
    assert on_disk.returncode == 0, on_disk.stderr
    assert "mobile / Safari / iOS" in on_s3.stdout.split("Cart->purchase drops")[1]
    assert "2015-07-20" in on_s3.stdout
    assert report_body(on_s3.stdout) == report_body(on_disk.stdout)


def free_port_containing_403() -> int:
    """A closed port whose number holds "403", as an HTTP status in an error message would."""
    for port in range(40300, 40400):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 40300-40399")


def bad_destinations(server, bucket: str, silent_port: int) -> list[tuple[str, dict, str]]:
    """(output, environment overrides, words the one-line message must contain)."""
    dead_port = free_port()
    return [
        # A refused connection, not the credentials, even though the message then contains "403".
        (s3_output(bucket), {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_containing_403()}"}, "cannot reach"),
        # Accepts connections and never answers: the SDK's timeouts, not a hang.
        (s3_output(bucket), {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent_port}"}, "cannot reach"),
        (f"s3://no-such-bucket/{PREFIX}", {}, "does not exist"),
        (s3_output(bucket), {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, "access denied"),
        (s3_output(bucket), {"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "access denied"),
        (s3_output(bucket), {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead_port}"}, "cannot reach"),
        (f"gs://{bucket}/{PREFIX}", {}, "unsupported scheme"),
        (f"s3:{bucket}/{PREFIX}", {}, "s3://"),
    ]


def test_bad_destinations_exit_2_at_start_up_with_one_line(s3_env, bucket, tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    with silent:
        check_bad_destinations(bad_destinations(s3_env, bucket, silent.getsockname()[1]), tmp_path)
    # Nothing landed locally under a directory named after the scheme.
    assert list(Path(tmp_path).iterdir()) == []


def check_bad_destinations(cases: list[tuple[str, dict, str]], tmp_path: Path) -> None:
    for output, env, words in cases:
        for command in (["consume", "-b", "127.0.0.1:1", "-t", "t", "-o", output], ["report", "--input", output]):
            started = time.monotonic()
            result = run_clickstream(*command, env=env, timeout=60, cwd=tmp_path)
            elapsed = time.monotonic() - started
            assert result.returncode == 2, (command, result.stderr)
            assert elapsed < 30, (command, elapsed)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, (command, result.stderr)
            assert output.split("?")[0].rstrip("/") in lines[0] or output in lines[0], lines[0]
            assert words in lines[0], lines[0]
