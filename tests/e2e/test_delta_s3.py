"""`consume --format delta --output s3://bucket/prefix` against the tests' S3 API server (moto, which
honours `If-None-Match: *`): the table read back by delta-rs, DuckDB's delta_scan and Polars and
checked by the log validator; SIGKILLs and two members; a commit version taken by another writer
between recovery and commit (the 412 path: committed at the next version, or fenced when that
version moved the member's partition); and destinations that cannot take a table."""
from __future__ import annotations

import json
import re
import time

import pytest

from delta_readers import S3Table, assert_log_is_valid, assert_readers_see_exactly, commits, log_names, open_delta_table
from helpers import create_topic, run_clickstream
from test_consume import (ConsumerProcess, all_ids, kill_consumers_at_random_moments, produce_events,
                          produce_in_background)
from test_delta import delta_args, end_offsets, run_to_idle
from test_s3 import set_write_permission


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Credentials and endpoint the standard AWS ways, inherited by every process the test starts."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture
def table(s3_env, bucket) -> S3Table:
    return S3Table(s3_env, bucket, "events")


def conditional_put_refusals(server) -> int:
    """How many PUTs the server has answered 412 Precondition Failed so far (its request log, whose
    lines werkzeug colours by status)."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", server.log_path.read_text())
    return len(re.findall(r'"PUT [^"]+" 412 ', log))


def test_lands_100k_events_into_an_s3_table_that_three_readers_and_the_validator_agree_on(
        broker, topic, table, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=6)
    produce_events(broker.bootstrap, topic, 100_000)
    # A checkpoint every 3 versions, so the restart below recovers from one read back from S3.
    args = delta_args(broker.bootstrap, topic, table.uri, "g-s3-delta", "--delta-checkpoint-interval", "3")
    started = time.monotonic()
    assert run_to_idle(tmp_path, "consume", args) == 0, (tmp_path / "consume.log").read_text()
    print(f"landed 100k events into {table} in {time.monotonic() - started:.1f}s (4s of it idle)")

    assert_readers_see_exactly(table, all_ids(100_000))
    assert_log_is_valid(table, "g-s3-delta", topic, end_offsets(broker.bootstrap, topic))
    delta_table = open_delta_table(table)
    assert {p: delta_table.transaction_version(f"clickstream-g-s3-delta-{topic}-{p}") + 1 for p in range(6)} == \
        end_offsets(broker.bootstrap, topic)
    names = log_names(table)
    checkpoints = sorted(int(name[:20]) for name in names if name.endswith(".checkpoint.parquet"))
    assert checkpoints and all(version % 3 == 0 for version in checkpoints), names
    pointer = json.loads(table.server.boto3().get_object(Bucket=table.bucket,
                                                         Key=f"{table.prefix}/_delta_log/_last_checkpoint")["Body"].read())
    assert pointer["version"] == checkpoints[-1]
    # Data files only under event_date=*/, and every one of them referenced (nothing failed).
    pages = table.server.boto3().get_paginator("list_objects_v2").paginate(Bucket=table.bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    data = {key for key in keys if key.endswith(".parquet") and "/_delta_log/" not in key}
    assert data == {uri.removeprefix(f"s3://{table.bucket}/") for uri in delta_table.file_uris()}

    # A restart recovers from the checkpoint and lands only the new events.
    produce_events(broker.bootstrap, topic, 1_000, start=100_000)
    assert run_to_idle(tmp_path, "again", args) == 0, (tmp_path / "again.log").read_text()
    assert_readers_see_exactly(table, all_ids(101_000))
    assert_log_is_valid(table, "g-s3-delta", topic, end_offsets(broker.bootstrap, topic))
    # `report` reads the table's snapshot from S3.
    report = run_clickstream("report", "--input", table.uri, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "Read 101,000 events" in report.stdout, report.stdout


def test_sigkills_and_two_members_on_one_s3_table_land_every_event_once(broker, topic, table, tmp_path):
    """A stream landed by consumers SIGKILLed at random moments, then the rest of it by two members
    at once, both assigned before it starts, so their commits interleave on one log."""
    half = 40_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, half, chunk=4_000, pause=1.0)
    args = delta_args(broker.bootstrap, topic, table.uri, "g-s3-kills", "--flush-interval-ms", "500",
                      "--delta-checkpoint-interval", "5")
    kill_consumers_at_random_moments(tmp_path, args, seed=21, kills=4)
    producer.join()
    members = [ConsumerProcess(tmp_path, name, [*args, "--exit-when-idle-ms", "6000"]) for name in ("a", "b")]
    for member in members:
        member.wait_for("assigned 3 partition")
    refused_before = conditional_put_refusals(table.server)
    for start in range(half, 2 * half, 4_000):
        produce_events(broker.bootstrap, topic, 4_000, start)
        time.sleep(0.5)
    for member in members:
        assert member.wait() == 0, member.stderr()
        landed = re.search(r"finished in [^:]+: [^,]+, \d+ read, (\d+) events", member.stderr())
        assert landed and int(landed.group(1)) > 0, member.stderr()
    # Two members committing every half second meet on a version again and again (36 of 101 commit
    # PUTs were refused in one run): each loser re-read the log and committed at the next version.
    assert conditional_put_refusals(table.server) > refused_before
    assert_readers_see_exactly(table, all_ids(2 * half))
    assert_log_is_valid(table, "g-s3-kills", topic, end_offsets(broker.bootstrap, topic))


def test_a_version_taken_after_recovery_is_refused_by_s3_and_the_round_commits_at_the_next(
        broker, topic, table, tmp_path):
    """Another writer creates version N+1 after this member read the table at N: the member's
    conditional PUT of N+1 gets 412, it reads N+1 (no txn of its partitions) and commits at N+2."""
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_events(broker.bootstrap, topic, 2_000)
    args = delta_args(broker.bootstrap, topic, table.uri, "g-s3-race")
    assert run_to_idle(tmp_path, "first", args) == 0, (tmp_path / "first.log").read_text()
    before = len(commits(table))

    member = ConsumerProcess(tmp_path, "member", [*args, "--exit-when-idle-ms", "6000"])
    member.wait_for("assigned")  # logged once the member has read the table at version before - 1
    foreign = {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "WRITE",
                              "clientVersion": "another-writer"}}
    table.server.boto3().put_object(Bucket=table.bucket, Key=f"{table.prefix}/_delta_log/{before:020d}.json",
                                    Body=(json.dumps(foreign) + "\n").encode(), IfNoneMatch="*")
    refused_before = conditional_put_refusals(table.server)
    produce_events(broker.bootstrap, topic, 1_000, start=2_000)
    assert member.wait() == 0, member.stderr()

    assert conditional_put_refusals(table.server) > refused_before, "the member's PUT of the taken version"
    log = commits(table)
    assert log[before][1] == [foreign]
    assert any("txn" in action for action in log[before + 1][1]), "the round committed at the next version"
    assert_readers_see_exactly(table, all_ids(3_000))
    assert_log_is_valid(table, "g-s3-race", topic, end_offsets(broker.bootstrap, topic))


def test_a_version_taken_with_the_members_partition_fences_the_round(broker, topic, table, tmp_path):
    """The other writer's version N+1 moves one of the member's partitions (a txn of its appId):
    the member's round is fenced, it rewinds to what the log says, and lands the rest once."""
    create_topic(broker.bootstrap, topic, partitions=1)
    produce_events(broker.bootstrap, topic, 1_000)
    args = delta_args(broker.bootstrap, topic, table.uri, "g-s3-fence")
    assert run_to_idle(tmp_path, "first", args) == 0, (tmp_path / "first.log").read_text()
    before = len(commits(table))
    member = ConsumerProcess(tmp_path, "member", [*args, "--exit-when-idle-ms", "6000"])
    member.wait_for("assigned")
    # Claims offsets 1000..1499 landed (with no data: those events are then skipped, by design of
    # the txn record), so the member must resume at 1500.
    app_id = f"clickstream-g-s3-fence-{topic}-0"
    claim = [{"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "STREAMING UPDATE"}},
             {"txn": {"appId": app_id, "version": 1_499, "lastUpdated": int(time.time() * 1000)}}]
    table.server.boto3().put_object(Bucket=table.bucket, Key=f"{table.prefix}/_delta_log/{before:020d}.json",
                                    Body="".join(json.dumps(a) + "\n" for a in claim).encode(), IfNoneMatch="*")
    produce_events(broker.bootstrap, topic, 1_000, start=1_000)
    assert member.wait() == 0, member.stderr()
    assert "another member landed for one of these partitions" in member.stderr(), member.stderr()
    delta_table = open_delta_table(table)
    assert delta_table.transaction_version(app_id) == 1_999
    offsets = delta_table.to_pyarrow_table(columns=["kafka_offset"]).column("kafka_offset").to_pylist()
    assert sorted(offsets) == list(range(1_000)) + list(range(1_500, 2_000))


def one_line_exit_2(args: list[str], env: dict | None = None) -> str:
    started = time.monotonic()
    result = run_clickstream("consume", *args, "--exit-when-idle-ms", "1000", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert elapsed < 15, elapsed
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_missing_bucket_or_refused_commits_exit_2_with_one_line(broker, topic, s3_env, bucket):
    create_topic(broker.bootstrap, topic, partitions=1)
    line = one_line_exit_2(delta_args(broker.bootstrap, topic, "s3://no-such-bucket/events", "g-s3-bad"))
    assert "bucket 'no-such-bucket' does not exist" in line, line
    line = one_line_exit_2(delta_args(broker.bootstrap, topic, f"s3://{bucket}/events", "g-s3-bad"),
                           env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert "access denied" in line, line
    # Listing and reading allowed, writing denied: the first commit (version 0) is the conditional
    # PUT's own request, and its 403 is named as such.
    set_write_permission(s3_env, allowed=False)
    try:
        line = one_line_exit_2(delta_args(broker.bootstrap, topic, f"s3://{bucket}/events", "g-s3-bad"))
    finally:
        set_write_permission(s3_env, allowed=True)
    assert "access denied writing s3://" in line and "HTTP 403" in line and "_delta_log/" in line, line
    assert not s3_env.boto3().list_objects_v2(Bucket=bucket).get("Contents"), "nothing may be written"


def test_compact_and_vacuum_an_s3_table_in_one_conditional_commit(broker, topic, table, tmp_path):
    from pyarrow import fs as pafs

    from delta_readers import _filesystem, compaction_commits, replay

    create_topic(broker.bootstrap, topic, partitions=2)
    produce_events(broker.bootstrap, topic, 6_000)
    args = delta_args(broker.bootstrap, topic, table.uri, "g-s3-compact", "--batch-size", "200")
    assert run_to_idle(tmp_path, "consume", args) == 0, (tmp_path / "consume.log").read_text()
    files_before, txns_before = replay(table)

    compacted = run_clickstream("compact", "--output", table.uri, "--min-age", "0")
    assert compacted.returncode == 0, compacted.stderr
    files_after, txns_after = replay(table)
    assert len(files_after) < len(files_before) and txns_after == txns_before
    assert len(compaction_commits(table)) == 1
    assert_readers_see_exactly(table, all_ids(6_000))
    assert_log_is_valid(table, "g-s3-compact", topic, end_offsets(broker.bootstrap, topic))

    vacuumed = run_clickstream("vacuum", "--output", table.uri, "--retention", "0", "--allow-short-retention")
    assert vacuumed.returncode == 0, vacuumed.stderr
    filesystem, root = _filesystem(table)
    stored = {info.path[len(root) + 1:] for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
              if info.path.endswith(".parquet") and "/_delta_log/" not in info.path}
    assert stored == set(replay(table)[0])
    assert_readers_see_exactly(table, all_ids(6_000))
