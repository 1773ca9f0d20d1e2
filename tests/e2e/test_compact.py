"""`clickstream compact`: the landed small files become few large ones with exactly the same rows,
through SIGKILLs at every step, consumers landing at the same time and readers globbing meanwhile.
Rows are compared on every column (pyarrow and duckdb read them independently)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from helpers import BINARY, create_topic, run_clickstream
from test_consume import ConsumerProcess, consume_args, produce_events, produce_in_background, run_to_idle

EVENTS = 3000  # below 5000, so every event's item_id is unique: it serves as the event's identity here
DAYS = ["event_date=2015-06-01", "event_date=2015-06-02", "event_date=2015-06-03"]


def pyarrow_rows(output: Path) -> Counter:
    """The multiset of rows, every column included, as pyarrow reads the Hive dataset."""
    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table()
    return Counter(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())


def duckdb_rows(output: Path) -> Counter:
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{output}/**/*.parquet', hive_partitioning=true)")
    names = relation.columns
    return Counter(json.dumps(dict(zip(names, row)), sort_keys=True, default=str) for row in relation.fetchall())


def parquet_files(output: Path) -> list[Path]:
    return sorted(p for p in output.rglob("*.parquet"))


def snapshot(output: Path) -> dict[str, tuple[int, float, str]]:
    """Every entry under the directory: size, modification time and content hash."""
    state = {}
    for path in sorted(output.rglob("*")):
        if path.is_file():
            state[str(path.relative_to(output))] = (path.stat().st_size, path.stat().st_mtime,
                                                    hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            state[str(path.relative_to(output))] = (0, path.stat().st_mtime, "dir")
    return state


def item_ids(output: Path) -> list[str]:
    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table(columns=["item_id"])
    return table.column("item_id").to_pylist()


def assert_events_exactly(output: Path, count: int) -> None:
    ids = item_ids(output)
    assert len(ids) == count, f"{len(ids)} rows, expected {count}"
    assert set(ids) == {str(i) for i in range(count)}
    rows, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT item_id) FROM read_parquet('{output}/**/*.parquet')").fetchone()
    assert rows == distinct == count


def resume_points(consumer_log: str) -> dict[int, int]:
    """The offsets a consumer said it resumes from, from its "resuming from DIR: p0@N p1@M" line."""
    line = next(line for line in consumer_log.splitlines() if "resuming from" in line)
    return {int(p[1:].split("@")[0]): int(p.split("@")[1]) for p in line.split() if re.fullmatch(r"p\d+@\d+", p)}


def rows_per_partition(output: Path) -> dict[int, int]:
    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table(columns=["kafka_partition"])
    return dict(Counter(table.column("kafka_partition").to_pylist()))


def staging_of(output: Path) -> Path:
    return output.parent / f".{output.name}.compacting"


def compact(output: Path, *extra: str, env: dict | None = None):
    return run_clickstream("compact", "--output", str(output), *extra, timeout=300, env=env)


@pytest.fixture(scope="module")
def landed_template(broker, tmp_path_factory):
    """3000 events in 3 partitions landed in batches of 50 over three days: ~180 small files, many of
    them parts of batches spread over two or three days. Tests compact copies of it."""
    tmp = tmp_path_factory.mktemp("landed-template")
    topic = f"test-compact-{os.getpid()}-{tmp.name}"
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_events(broker.bootstrap, topic, EVENTS)
    output = tmp / "landed"
    run_to_idle(tmp, "consume", consume_args(broker.bootstrap, topic, output, "g-template", "--batch-size", "50"))
    assert_events_exactly(output, EVENTS)
    return {"output": output, "topic": topic}


@pytest.fixture
def landed(landed_template, tmp_path) -> Path:
    output = tmp_path / "landed"
    shutil.copytree(landed_template["output"], output)
    return output


def test_compaction_keeps_the_exact_rows_and_is_idempotent(landed):
    before_pyarrow, before_duckdb = pyarrow_rows(landed), duckdb_rows(landed)
    files_before = parquet_files(landed)
    multi_part = [p for p in files_before if not p.name.endswith("_1of1.parquet")]
    assert len(files_before) > 100 and multi_part, "the fixture should have many files, some parts of one batch"
    landed_schema = ds.dataset(str(files_before[0])).schema

    result = compact(landed, "--min-age", "0")
    assert result.returncode == 0, result.stderr
    files_after = parquet_files(landed)
    # One file per Kafka partition and day.
    assert sorted(str(p.relative_to(landed).parent) for p in files_after) == sorted(DAYS * 3)
    assert all(p.name.endswith("_compacted.parquet") for p in files_after)
    assert pyarrow_rows(landed) == before_pyarrow
    assert duckdb_rows(landed) == before_duckdb
    assert f"{len(files_before)} files" in result.stdout and f"{len(files_after)} files" in result.stdout
    assert not staging_of(landed).exists()
    # Same schema as the landed files (dictionaries and UTC timestamps kept), zstd, statistics on.
    dictionary_columns = [field.name for field in landed_schema if pa.types.is_dictionary(field.type)]
    assert dictionary_columns
    for path in files_after:
        metadata = pq.ParquetFile(path).metadata
        assert ds.dataset(str(path)).schema.remove_metadata() == landed_schema.remove_metadata()
        column = metadata.row_group(0).column(0)
        assert column.compression == "ZSTD" and column.statistics is not None
        # Dictionary columns hold one small index per row, not the strings themselves: each input
        # file brought its own dictionary, and a writer handed another one falls back to plain values
        # (at least 4 bytes a row: a length and the text).
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                if chunk.path_in_schema in dictionary_columns:
                    assert chunk.total_uncompressed_size < row_group.num_rows + 1024, (path, chunk.path_in_schema)
        # What the file holds is in its key-value metadata (the recovery scan needs only its name).
        facts = metadata.metadata
        name = re.search(r"_p(\d+)_o(\d+)-(\d+)_compacted", path.name)
        assert facts[b"clickstream.kafka.partition"].decode() == name.group(1)
        assert facts[b"clickstream.kafka.first_offset"].decode() == name.group(2)
        assert facts[b"clickstream.kafka.last_offset"].decode() == name.group(3)
        assert facts[b"clickstream.compacted.batches"]

    state = snapshot(landed)
    again = compact(landed, "--min-age", "0")
    assert again.returncode == 0, again.stderr
    assert "compacted 0 days" in again.stdout
    assert snapshot(landed) == state


def test_recent_days_are_left_alone_by_default(landed):
    state = snapshot(landed)
    result = compact(landed)  # --min-age 1h: every file was just landed
    assert result.returncode == 0, result.stderr
    assert "compacted 0 days" in result.stdout
    assert snapshot(landed) == state


def test_small_target_cuts_several_files_at_batch_boundaries(landed):
    before = pyarrow_rows(landed)
    result = compact(landed, "--min-age", "0", "--target-file-mb", "1")
    assert result.returncode == 0, result.stderr
    assert pyarrow_rows(landed) == before


@pytest.mark.parametrize("crash_at", ["compact-after-write:4", "compact-before-swap:2", "compact-after-swap:2",
                                      "compact-after-cleanup:1"])
def test_sigkill_at_each_step_then_a_rerun_leaves_exactly_the_rows(landed, crash_at):
    before = pyarrow_rows(landed)
    killed = compact(landed, "--min-age", "0", env={"CLICKSTREAM_CRASH_AT": crash_at})
    assert killed.returncode == -9, killed.stderr
    # Whatever step it died at, readers see every row exactly once (old or new directory per day).
    assert pyarrow_rows(landed) == before
    assert duckdb_rows(landed) == before
    rerun = compact(landed, "--min-age", "0")
    assert rerun.returncode == 0, rerun.stderr
    assert pyarrow_rows(landed) == before
    assert duckdb_rows(landed) == before
    assert len(parquet_files(landed)) == 9
    assert not staging_of(landed).exists()


def test_a_consumer_restarted_after_compaction_lands_nothing_twice(broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_events(broker.bootstrap, topic, 2000)
    output = tmp_path / "landed"
    args = consume_args(broker.bootstrap, topic, output, "g-restart", "--batch-size", "50")
    run_to_idle(tmp_path, "first", args)
    killed = compact(output, "--min-age", "0", env={"CLICKSTREAM_CRASH_AT": "compact-after-swap:2"})
    assert killed.returncode == -9
    # A consumer restarted before any rerun of compact resumes right after what landed.
    produce_events(broker.bootstrap, topic, 1000, start=2000)
    second = run_to_idle(tmp_path, "second", args)
    assert "assigned" in second.stderr()
    assert_events_exactly(output, 3000)
    result = compact(output, "--min-age", "0")
    assert result.returncode == 0, result.stderr
    assert all("_compacted" in p.name for p in parquet_files(output))
    third = run_to_idle(tmp_path, "third", args)
    assert_events_exactly(output, 3000)
    assert "left by an interrupted run" not in third.stderr()
    # Every offset of the topic landed (no dead letters): each partition resumes at its row count.
    assert resume_points(third.stderr()) == rows_per_partition(output), third.stderr()


@pytest.mark.parametrize("layout", ["event_date", "none"])
def test_consumers_landing_while_compact_runs_land_exactly_once(broker, topic, tmp_path, layout):
    total = 4800
    create_topic(broker.bootstrap, topic, partitions=4)
    output = tmp_path / "landed"
    base = consume_args(broker.bootstrap, topic, output, "g-concurrent", "--batch-size", "20",
                        "--flush-interval-ms", "200", "--partition-by", layout)
    args = [*base, "--exit-when-idle-ms", "5000"]
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=200, pause=0.4)
    members = [ConsumerProcess(tmp_path, f"member-{i}", args) for i in range(2)]
    deadline = time.time() + 60
    while not parquet_files(output):
        assert time.time() < deadline, "nothing landed"
        time.sleep(0.1)
    compacted_runs = 0
    # Bounded: once the stream has ended and the members have landed it, no run finds anything more
    # to compact, and a slow machine could leave fewer than three runs that did.
    deadline = time.time() + 180
    while producer.is_alive() or compacted_runs < 3:
        assert time.time() < deadline, f"{compacted_runs} runs compacted something within 180 s"
        result = compact(output, "--min-age", "0")
        assert result.returncode == 0, result.stderr
        compacted_runs += "compacted 0 days" not in result.stdout
    assert producer.is_alive() is False and compacted_runs >= 3
    producer.join()
    for member in members:
        assert member.wait() == 0, member.stderr()
    assert_events_exactly(output, total)
    # A member restarted afterwards finds every resume point right: nothing more lands.
    after = run_to_idle(tmp_path, "after", base, idle_ms=3000)
    assert resume_points(after.stderr()) == rows_per_partition(output), after.stderr()
    assert_events_exactly(output, total)


def test_a_reader_globbing_during_compaction_never_counts_a_row_twice(landed):
    expected = len(item_ids(landed))
    counts: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def read_in_a_loop():
        deadline = time.time() + 60
        while not done.is_set() and time.time() < deadline:
            try:
                counts.append(duckdb.sql(
                    f"SELECT count(*) FROM read_parquet('{landed}/**/*.parquet')").fetchone()[0])
            except duckdb.Error as error:  # a file listed before a swap and gone after it
                errors.append(str(error))

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    # On a loaded machine DuckDB's first query can take longer than the whole compaction: start
    # compacting once the reader is warm, so its queries really overlap the swaps.
    deadline = time.time() + 60
    while not counts and not errors and reader.is_alive():
        assert time.time() < deadline, "the reader never finished a first query"
        time.sleep(0.01)
    result = compact(landed, "--min-age", "0", "--target-file-mb", "1")
    done.set()
    reader.join()
    assert result.returncode == 0, result.stderr
    assert counts, "the reader never finished a query"
    # Every query that completed saw each row exactly once; one that listed a day before its swap
    # and opened a file after it fails instead (README "Compaction").
    assert all(count == expected for count in counts), (Counter(counts), errors[:3])
    assert all("No files found" in e or "No such file" in e or "not found" in e.lower() for e in errors), errors[:3]


def test_bad_inputs_exit_2_and_change_nothing(landed, tmp_path):
    assert compact(tmp_path / "absent", "--min-age", "0").returncode == 2
    assert compact("s3://bucket/prefix").returncode == 2
    assert compact(landed, "--min-age", "soon").returncode == 2

    not_landed = tmp_path / "not-landed"
    not_landed.mkdir()
    (not_landed / "clickstream.csv").write_text("timestamp,visitor_id\n")
    result = compact(not_landed, "--min-age", "0")
    assert result.returncode == 2 and "not a landed dataset" in result.stderr
    assert [p.name for p in not_landed.iterdir()] == ["clickstream.csv"]

    foreign = tmp_path / "foreign"
    shutil.copytree(landed, foreign)
    shutil.copy(parquet_files(landed)[0], foreign / DAYS[0] / "part-00000.parquet")
    state = snapshot(foreign)
    result = compact(foreign, "--min-age", "0")
    assert result.returncode == 2 and "part-00000.parquet" in result.stderr, result.stderr
    assert snapshot(foreign) == state

    corrupt = tmp_path / "corrupt"
    shutil.copytree(landed, corrupt)
    victim = sorted((corrupt / DAYS[1]).iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:100])
    state = snapshot(corrupt)
    result = compact(corrupt, "--min-age", "0")
    assert result.returncode == 2 and victim.name in result.stderr, result.stderr
    assert snapshot(corrupt) == state
    assert len(result.stderr.strip().splitlines()) == 1


# Root writes anywhere because of CAP_DAC_OVERRIDE (and CAP_FOWNER): as root, compact runs still as
# root but without them, so the directories' mode bits bind it as they bind their non-root owner. Not
# as another user: one who cannot enter the checkout's directories (a clone under `mktemp -d`) could
# not even start the binary, and the test would fail with 127 for a reason unrelated to compact.
WITHOUT_WRITE_OVERRIDES = ["setpriv", "--inh-caps=-dac_override,-fowner",
                           "--bounding-set=-dac_override,-fowner"]


def test_a_read_only_dataset_exits_2_unchanged(landed_template, tmp_path):
    landed = tmp_path / "landed"
    shutil.copytree(landed_template["output"], landed)
    state = snapshot(landed)
    args = WITHOUT_WRITE_OVERRIDES if os.geteuid() == 0 else []
    read_only = [landed, *landed.iterdir()]
    for path in read_only:
        path.chmod(0o555)
    try:
        probe = subprocess.run([*args, "touch", str(landed / "probe")], capture_output=True, text=True)
        assert probe.returncode != 0, "the dataset is writable: the test would prove nothing"
        result = subprocess.run([*args, str(BINARY), "compact", "--output", str(landed), "--min-age", "0"],
                                capture_output=True, text=True, timeout=120)
    finally:
        for path in read_only:
            path.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "cannot" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(landed) == state


@pytest.mark.parametrize("crash_at", ["compact-before-swap:1", "compact-after-swap:1"])
def test_the_flat_layout_is_compacted_per_partition_in_its_root(broker, topic, tmp_path, crash_at):
    create_topic(broker.bootstrap, topic, partitions=2)
    produce_events(broker.bootstrap, topic, 600)
    output = tmp_path / "flat"
    args = consume_args(broker.bootstrap, topic, output, "g-flat", "--batch-size", "50", "--partition-by", "none")
    run_to_idle(tmp_path, "flat", args)
    before = pyarrow_rows(output)
    killed = compact(output, "--min-age", "0", env={"CLICKSTREAM_CRASH_AT": crash_at})
    assert killed.returncode == -9, killed.stderr
    assert pyarrow_rows(output) == before and duckdb_rows(output) == before
    # A consumer restarted before the rerun resumes right and lands nothing twice.
    produce_events(broker.bootstrap, topic, 300, start=600)
    second = run_to_idle(tmp_path, "second", args)
    assert_events_exactly(output, 900)
    assert resume_points(second.stderr()) == {0: before_count(before, 0), 1: before_count(before, 1)}
    after_consumer = pyarrow_rows(output)
    result = compact(output, "--min-age", "0")
    assert result.returncode == 0, result.stderr
    assert pyarrow_rows(output) == after_consumer and duckdb_rows(output) == after_consumer
    files = parquet_files(output)
    assert len(files) == 2 and all(p.parent == output and p.name.endswith("_compacted.parquet") for p in files)
    assert not staging_of(output).exists()
    third = run_to_idle(tmp_path, "third", args)
    assert resume_points(third.stderr()) == rows_per_partition(output)
    assert_events_exactly(output, 900)


def before_count(rows: Counter, partition: int) -> int:
    return sum(count for row, count in rows.items() if json.loads(row)["kafka_partition"] == partition)


def test_a_second_compact_at_the_same_time_exits_2_unchanged(landed):
    import fcntl

    locks = landed / ".clickstream-locks"
    locks.mkdir(exist_ok=True)
    with open(locks / "compact.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running compact holds it
        state = snapshot(landed)
        result = compact(landed, "--min-age", "0")
        assert result.returncode == 2 and "another clickstream compact is running" in result.stderr, result.stderr
        assert snapshot(landed) == state
    assert compact(landed, "--min-age", "0").returncode == 0


def test_compacting_one_day_of_batches_spread_over_days_keeps_them_complete(broker, landed_template, landed,
                                                                            tmp_path):
    # Only the first day is old enough: the parts of its batches in the other days stay small files.
    two_hours_ago = time.time() - 7200
    for path in (landed / DAYS[0]).iterdir():
        os.utime(path, (two_hours_ago, two_hours_ago))
    before = pyarrow_rows(landed)
    result = compact(landed)
    assert result.returncode == 0, result.stderr
    assert "compacted 1 days" in result.stdout
    assert all(p.name.endswith("_compacted.parquet") for p in (landed / DAYS[0]).iterdir())
    assert not any(p.name.endswith("_compacted.parquet") for day in DAYS[1:] for p in (landed / day).iterdir())
    assert any(not p.name.endswith("_1of1.parquet") for p in (landed / DAYS[1]).iterdir())
    # A consumer resuming from these files finds every batch complete: it removes nothing and
    # lands nothing again.
    args = consume_args(broker.bootstrap, landed_template["topic"], landed, "g-one-day", "--batch-size", "50")
    consumer = run_to_idle(tmp_path, "resumed", args, idle_ms=3000)
    assert "left by an interrupted run" not in consumer.stderr(), consumer.stderr()
    assert resume_points(consumer.stderr()) == rows_per_partition(landed)
    assert pyarrow_rows(landed) == before
