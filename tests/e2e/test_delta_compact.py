"""`compact` and `vacuum` on a Delta table landed by `consume --format delta`: one commit of removes
and adds that three readers and the log validator agree on, the consumers' txns kept, crash points
before and after the commit, a consumer landing meanwhile, and vacuum at zero retention."""
from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from deltalake import DeltaTable, write_deltalake

from delta_readers import (assert_compactions_keep_the_rows, assert_log_is_valid, assert_readers_see_exactly,
                           commits, compaction_commits, identities_by_reader, replay)
from helpers import create_topic, run_clickstream
from test_consume import ConsumerProcess, all_ids, produce_events, produce_in_background
from test_delta import delta_args, end_offsets, run_to_idle


def compact(table: Path, *extra: str, env: dict | None = None):
    return run_clickstream("compact", "--output", str(table), "--min-age", "0", *extra, env=env)


def vacuum(table: Path, *extra: str):
    return run_clickstream("vacuum", "--output", str(table), *extra)


def data_files(table: Path) -> set[str]:
    """Every Parquet file under the table, outside the log, relative to it."""
    return {str(p.relative_to(table)) for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}


def land(broker, topic: str, tmp_path: Path, table: Path, group: str, events: int, partitions: int = 4) -> None:
    create_topic(broker.bootstrap, topic, partitions=partitions)
    produce_events(broker.bootstrap, topic, events)
    args = delta_args(broker.bootstrap, topic, table, group, "--batch-size", "200")
    assert run_to_idle(tmp_path, "consume", args) == 0, (tmp_path / "consume.log").read_text()


def test_compaction_replaces_the_small_files_in_one_commit_that_every_reader_agrees_on(broker, topic, tmp_path):
    table = tmp_path / "table"
    land(broker, topic, tmp_path, table, "g-compact", 12_000)
    files_before, txns_before = replay(table)
    version_before = DeltaTable(str(table)).version()

    result = compact(table)
    assert result.returncode == 0, result.stderr
    assert f"at version {version_before + 1}" in result.stdout, result.stdout
    files_after, txns_after = replay(table)
    days = {add["partitionValues"]["event_date"] for add in files_before.values()}
    assert len(files_after) == len(days) < len(files_before), (len(files_before), len(files_after))  # one a day
    assert txns_after == txns_before  # the consumers' exactly-once record is untouched
    assert_readers_see_exactly(table, all_ids(12_000))
    assert_log_is_valid(table, "g-compact", topic, end_offsets(broker.bootstrap, topic))
    [(version, actions)] = compaction_commits(table)
    assert version == version_before + 1
    commit_info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    assert commit_info["operation"] == "OPTIMIZE"
    assert DeltaTable(str(table)).history(1)[0]["operation"] == "OPTIMIZE"  # delta-rs reads it as its own
    # Every add keeps its partition value, matching its directory.
    for path, add in files_after.items():
        assert path.startswith(f"event_date={add['partitionValues']['event_date']}/"), path
    # Time travel: the version before still reads every row from the small files, which stay.
    old = DeltaTable(str(table), version=version_before).to_pyarrow_table(columns=["source_id"])
    assert old.num_rows == 12_000

    again = compact(table)
    assert again.returncode == 0 and "compacted nothing" in again.stdout, again.stdout
    assert len(commits(table)) == version_before + 2

    # Consumers land after it as before: resumed from the txns, nothing twice.
    produce_events(broker.bootstrap, topic, 1_000, start=12_000)
    args = delta_args(broker.bootstrap, topic, table, "g-compact", "--batch-size", "200")
    assert run_to_idle(tmp_path, "again", args) == 0, (tmp_path / "again.log").read_text()
    assert_readers_see_exactly(table, all_ids(13_000))
    assert_log_is_valid(table, "g-compact", topic, end_offsets(broker.bootstrap, topic))

    # Vacuum: a short retention must be asked for; then exactly the snapshot's files remain.
    refused = vacuum(table, "--retention", "0")
    assert refused.returncode == 2 and "--allow-short-retention" in refused.stderr, refused.stderr
    assert len(data_files(table)) > len(replay(table)[0])
    kept = vacuum(table)  # the default 7 days: everything here is younger
    assert kept.returncode == 0 and "deleted 0 files removed from the table and 0 orphans" in kept.stdout, kept.stdout
    dry = vacuum(table, "--retention", "0", "--allow-short-retention", "--dry-run")
    assert dry.returncode == 0 and "would delete" in dry.stdout, dry.stdout
    assert len(data_files(table)) > len(replay(table)[0])
    done = vacuum(table, "--retention", "0", "--allow-short-retention")
    assert done.returncode == 0, done.stderr
    assert data_files(table) == set(replay(table)[0]), done.stdout
    assert_readers_see_exactly(table, all_ids(13_000))
    assert_log_is_valid(table, "g-compact", topic, end_offsets(broker.bootstrap, topic), vacuumed=True)


def test_a_small_target_cuts_several_files_per_day(broker, topic, tmp_path):
    table = tmp_path / "table"
    land(broker, topic, tmp_path, table, "g-target", 12_000)
    files_before, _ = replay(table)
    result = compact(table, "--target-file-mb", "1")
    assert result.returncode == 0, result.stderr
    files_after, _ = replay(table)
    assert len(files_after) < len(files_before)
    assert all(add["size"] < 2 << 20 for add in files_after.values())
    assert_readers_see_exactly(table, all_ids(12_000))
    assert_compactions_keep_the_rows(table)


@pytest.mark.parametrize("step", ["delta-compact-after-write", "delta-compact-before-commit",
                                  "delta-compact-after-commit"])
def test_a_crash_at_each_compaction_step_then_a_rerun_leaves_every_row_once(broker, topic, tmp_path, step):
    table = tmp_path / "table"
    land(broker, topic, tmp_path, table, "g-crash", 6_000, partitions=2)
    version_before = DeltaTable(str(table)).version()
    crashed = compact(table, env={"CLICKSTREAM_CRASH_AT": step})
    assert crashed.returncode == -9 and f"crash point {step} reached" in crashed.stderr, crashed.stderr
    committed = step == "delta-compact-after-commit"
    assert DeltaTable(str(table)).version() == version_before + (1 if committed else 0)
    assert_readers_see_exactly(table, all_ids(6_000))
    orphans = data_files(table) - set(replay(table)[0])
    assert orphans, "the crashed run's files (or the replaced ones) are left unreferenced"

    rerun = compact(table)
    assert rerun.returncode == 0, rerun.stderr
    assert ("compacted nothing" in rerun.stdout) == committed, rerun.stdout
    assert len(compaction_commits(table)) == 1
    assert_readers_see_exactly(table, all_ids(6_000))
    assert_log_is_valid(table, "g-crash", topic, end_offsets(broker.bootstrap, topic))
    report = run_clickstream("report", "--input", str(table))
    assert report.returncode == 0 and "Read 6,000 events" in report.stdout, report.stdout + report.stderr

    # Vacuum deletes the crashed run's orphans along with the replaced files.
    done = vacuum(table, "--retention", "0", "--allow-short-retention")
    assert done.returncode == 0, done.stderr
    assert data_files(table) == set(replay(table)[0])
    assert_readers_see_exactly(table, all_ids(6_000))


def test_compaction_while_a_consumer_keeps_landing_ends_with_every_row_once(broker, topic, tmp_path):
    total = 24_000
    create_topic(broker.bootstrap, topic, partitions=4)
    table = tmp_path / "table"
    args = delta_args(broker.bootstrap, topic, table, "g-live", "--batch-size", "100", "--flush-interval-ms", "100",
                      "--exit-when-idle-ms", "6000")
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=1_000, pause=0.3)
    consumer = ConsumerProcess(tmp_path, "live", args)
    deadline = time.time() + 60
    while not (table / "_delta_log" / f"{2:020d}.json").exists():
        assert time.time() < deadline and consumer.process.poll() is None, consumer.stderr()
        time.sleep(0.1)
    runs = 0
    compacted = 0
    deadline = time.time() + 180
    while producer.is_alive() or compacted < 3:
        assert time.time() < deadline, f"{compacted} of {runs} runs committed within 180 s"
        result = compact(table)
        assert result.returncode == 0, result.stderr
        runs += 1
        compacted += "compacted nothing" not in result.stdout
        # Readers mid-stream see each landed row once: a prefix of the stream, never a duplicate.
        if runs % 3 == 0:
            for reader, ids in identities_by_reader(table).items():
                assert len(ids) == len(set(ids)), f"{reader} read a row twice"
    producer.join()
    assert consumer.wait() == 0, consumer.stderr()
    assert compacted >= 3
    assert_readers_see_exactly(table, all_ids(total))
    assert_log_is_valid(table, "g-live", topic, end_offsets(broker.bootstrap, topic))
    # The consumer was never fenced by a compaction: its txns moved only by its own commits.
    assert "fenced" not in consumer.stderr(), consumer.stderr()
    # And compactions did lose versions to it, then committed at a later one.
    read_versions = {version: next(a["commitInfo"]["readVersion"] for a in actions if "commitInfo" in a)
                     for version, actions in compaction_commits(table)}
    assert any(version > read + 1 for version, read in read_versions.items()), read_versions

    final = compact(table)
    assert final.returncode == 0, final.stderr
    done = vacuum(table, "--retention", "0", "--allow-short-retention")
    assert done.returncode == 0, done.stderr
    assert data_files(table) == set(replay(table)[0])
    assert_readers_see_exactly(table, all_ids(total))


def test_files_another_writer_added_are_compacted_only_if_they_hold_the_events_columns(broker, topic, tmp_path):
    """delta-rs appends two files of its own; compact leaves what it cannot rewrite as it is, and
    every reader still reads every row once."""
    table = tmp_path / "table"
    land(broker, topic, tmp_path, table, "g-foreign", 4_000, partitions=2)
    theirs = DeltaTable(str(table)).to_pyarrow_table().slice(0, 2)
    for _ in range(2):
        write_deltalake(str(table), theirs, mode="append")
    expected = sorted(identities_by_reader(table)["delta-rs"])
    assert len(expected) == 4_004
    result = compact(table)
    assert result.returncode == 0, result.stderr
    for reader, ids in identities_by_reader(table).items():
        assert sorted(ids) == expected, reader
    assert_compactions_keep_the_rows(table)


def test_vacuum_refuses_what_is_not_a_table(tmp_path):
    (tmp_path / "plain").mkdir()
    result = vacuum(tmp_path / "plain")
    assert result.returncode == 2 and "not a Delta table" in result.stderr, result.stderr
    bad = vacuum(tmp_path / "plain", "--retention", "soon")
    assert bad.returncode == 2 and "--retention" in bad.stderr, bad.stderr
