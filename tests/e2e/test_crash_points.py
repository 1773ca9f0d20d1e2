"""`consume` killed at each step of a landing (deterministic crash points, not timing luck), then
restarted: every offset lands exactly once, and recovery visibly did its work.

CLICKSTREAM_CRASH_AT=<step>[:<n>] makes the binary SIGKILL itself the n-th time it reaches that
step (src/common/crash_point.h). Exactly-once is checked on the Kafka coordinates of the landed
rows, which identify a message whatever the event's own identity columns are."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from helpers import BINARY, create_topic, kcat_consume, kcat_produce

EVENTS = 1500
BATCH = 500
# Low enough to make the restart after a kill quick; the broker's minimum is 6 s.
FAST_SESSION = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=2000"]


def event_json(i: int) -> str:
    """A valid event; consecutive events fall on three different days, so each batch has three parts."""
    kind = ("view", "addtocart", "transaction")[i % 3]
    return json.dumps({"timestamp": f"2015-06-{1 + i % 3:02d} 08:{i % 60:02d}:{i % 59:02d}",
                       "visitor_id": str(i % 101), "event_type": kind, "item_id": str(i % 700),
                       "transaction_id": f"tx_{i}" if kind == "transaction" else None})


def consume(bootstrap: str, topic: str, output: Path, crash_at: str | None, log: Path) -> int:
    env = dict(os.environ)
    env.pop("CLICKSTREAM_CRASH_AT", None)
    if crash_at:
        env["CLICKSTREAM_CRASH_AT"] = crash_at
    args = [str(BINARY), "consume", "-b", bootstrap, "-t", topic, "-o", str(output), "-g", f"{topic}-g",
            "--batch-size", str(BATCH), "--flush-interval-ms", "60000", "--exit-when-idle-ms", "3000",
            *FAST_SESSION]
    with open(log, "w") as stderr:
        return subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr, timeout=180).returncode


def landed_offsets(output: Path) -> list[int]:
    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table(columns=["kafka_offset"])
    return sorted(table.column("kafka_offset").to_pylist())


def hidden_files(output: Path) -> list[Path]:
    return [p for p in output.rglob(".*") if p.is_file()]


def data_files(output: Path) -> list[Path]:
    return sorted(output.rglob("*.parquet"))


def assert_every_offset_once(output: Path, offsets: list[int]) -> None:
    assert landed_offsets(output) == offsets
    rows, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT kafka_offset) FROM read_parquet('{output}/**/*.parquet')").fetchone()
    assert rows == distinct == len(offsets)
    assert hidden_files(output) == []


@pytest.fixture
def one_partition(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=1)
    kcat_produce(broker.bootstrap, topic, [event_json(i) for i in range(EVENTS)])
    return topic


def crash_then_restart(broker, topic: str, tmp_path: Path, crash_at: str) -> tuple[Path, str]:
    output = tmp_path / "landed"
    crashed_log = tmp_path / "crashed.log"
    code = consume(broker.bootstrap, topic, output, crash_at, crashed_log)
    assert code == -9, f"expected a SIGKILL at {crash_at}, got exit {code}:\n{crashed_log.read_text()}"
    assert f"crash point {crash_at.split(':')[0]} reached" in crashed_log.read_text()
    return output, crashed_log.read_text()


def restart(broker, topic: str, output: Path, tmp_path: Path) -> str:
    log = tmp_path / "restarted.log"
    assert consume(broker.bootstrap, topic, output, None, log) == 0, log.read_text()
    return log.read_text()


@pytest.mark.parametrize("step", ["after-temp-write", "after-fsync"])
def test_killed_before_any_rename_leaves_only_temp_files_that_recovery_removes(broker, one_partition, tmp_path,
                                                                               step):
    output, _ = crash_then_restart(broker, one_partition, tmp_path, step)
    assert data_files(output) == []
    temps = hidden_files(output)
    assert len(temps) == 3 and all(p.name.endswith(".tmp") for p in temps), temps  # one batch, three days

    log = restart(broker, one_partition, output, tmp_path)
    assert "removed 3 file(s) left by an interrupted run" in log, log
    assert_every_offset_once(output, list(range(EVENTS)))


@pytest.mark.parametrize("renames", [1, 2])
def test_killed_between_the_renames_of_a_batch_redoes_the_whole_batch(broker, one_partition, tmp_path, renames):
    output, _ = crash_then_restart(broker, one_partition, tmp_path, f"after-rename:{renames}")
    parts = data_files(output)
    assert len(parts) == renames and all("_o0-499_" in p.name for p in parts), parts
    assert len(hidden_files(output)) == 3 - renames

    log = restart(broker, one_partition, output, tmp_path)
    assert "removed 3 file(s) left by an interrupted run" in log, log  # the partial batch and its temp files
    assert "p0@0" in log, log  # resumed at the first offset of the partial batch
    assert_every_offset_once(output, list(range(EVENTS)))


def test_killed_after_the_directory_sync_resumes_after_the_durable_batch(broker, one_partition, tmp_path):
    output, _ = crash_then_restart(broker, one_partition, tmp_path, "after-directory-sync")
    assert len(data_files(output)) == 3 and hidden_files(output) == []
    assert landed_offsets(output) == list(range(BATCH))

    log = restart(broker, one_partition, output, tmp_path)
    assert f"p0@{BATCH}" in log and "left by an interrupted run" not in log, log
    assert_every_offset_once(output, list(range(EVENTS)))


def test_killed_after_the_commit_resumes_from_the_files(broker, one_partition, tmp_path):
    output, _ = crash_then_restart(broker, one_partition, tmp_path, "after-commit")
    assert landed_offsets(output) == list(range(BATCH))

    log = restart(broker, one_partition, output, tmp_path)
    assert f"p0@{BATCH}" in log, log
    assert_every_offset_once(output, list(range(EVENTS)))


def test_killed_after_the_dead_letters_are_flushed_lands_rows_once_and_keeps_the_dead_letter(
        broker, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=1)
    kcat_produce(broker.bootstrap, topic, ["this is not json"] + [event_json(i) for i in range(EVENTS - 1)])
    output, _ = crash_then_restart(broker, topic, tmp_path, "after-dead-letter-flush")
    assert data_files(output) == []
    assert kcat_consume(broker.bootstrap, f"{topic}.dlq", fmt="%s\n") == ["this is not json"]

    restart(broker, topic, output, tmp_path)
    assert_every_offset_once(output, list(range(1, EVENTS)))
    # The dead letter was sent again by the restarted run: at least once, never lost.
    dead = kcat_consume(broker.bootstrap, f"{topic}.dlq", fmt="%s\n")
    assert dead and set(dead) == {"this is not json"}


def wait_for_text(log: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
    import time
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None, f"consumer exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no '{text}' within {timeout}s:\n{log.read_text()}"
        time.sleep(0.1)


def test_a_member_stalled_past_its_session_lands_nothing_of_the_partitions_it_lost(broker, topic, tmp_path):
    """The group gives a stalled member's partitions to another member, which lands them; when the
    stalled member wakes up its buffered batch belongs to nobody and must not land."""
    import signal
    create_topic(broker.bootstrap, topic, partitions=1)
    kcat_produce(broker.bootstrap, topic, [event_json(i) for i in range(300)])
    output = tmp_path / "landed"
    common = ["-b", broker.bootstrap, "-t", topic, "-o", str(output), "-g", f"{topic}-g", *FAST_SESSION]
    stalled_log = tmp_path / "stalled.log"
    with open(stalled_log, "w") as stderr:
        stalled = subprocess.Popen([str(BINARY), "consume", *common, "--batch-size", "100000",
                                    "--flush-interval-ms", "600000", "--stats-interval-ms", "100"],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_text(stalled_log, "300 read, 0 events, 0 batches", stalled)  # everything read and buffered, nothing landed
        os.kill(stalled.pid, signal.SIGSTOP)
        survivor_log = tmp_path / "survivor.log"
        with open(survivor_log, "w") as stderr:
            survivor = subprocess.run([str(BINARY), "consume", *common, "--flush-interval-ms", "200",
                                       "--exit-when-idle-ms", "3000"],
                                      stdout=subprocess.DEVNULL, stderr=stderr, timeout=120)
        assert survivor.returncode == 0, survivor_log.read_text()
        assert landed_offsets(output) == list(range(300))

        os.kill(stalled.pid, signal.SIGCONT)
        wait_for_text(stalled_log, "revoked 1 partition(s)", stalled)
        stalled.send_signal(signal.SIGTERM)
        assert stalled.wait(timeout=60) == 0, stalled_log.read_text()
    finally:
        if stalled.poll() is None:
            os.kill(stalled.pid, signal.SIGCONT)
            stalled.kill()
            stalled.wait()
    assert_every_offset_once(output, list(range(300)))
