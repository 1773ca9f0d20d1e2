"""Landing in PostgreSQL: a real PostgreSQL 15 started by scripts/local-postgres, read back with
psycopg, independently of the sink's own code."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from helpers import ROOT, LocalServer, create_topic, free_port, run_clickstream
from test_consume import (FAST_SESSION, POISON, ConsumerProcess, all_ids, committed_offsets, dead_letter_values,
                          kill_consumers_at_random_moments, produce_events, produce_in_background,
                          send_events_then_only_dead_letters, stall_a_member_past_its_session)

LOCAL_POSTGRES = ROOT / "scripts" / "local-postgres"
UNIT_TESTS = Path(os.environ.get("CLICKSTREAM_UNIT_TESTS", ROOT / "build" / "unit_tests"))
PASSWORD = "throw-away-password"


class PostgresServer(LocalServer):
    """A server started by scripts/local-postgres in a temporary directory, stopped by its PID."""

    def __init__(self, data_dir: Path, port: int):
        super().__init__("local-postgres", data_dir, port)

    @property
    def uri(self) -> str:
        return self.address

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.uri, autocommit=True)


@contextlib.contextmanager
def started_postgres():
    """A PostgreSQL server started by scripts/local-postgres, stopped and deleted on the way out.
    Not under pytest's base directory: any pytest run on the machine chmods /tmp/pytest-of-<user>
    back to 0700, which would lock the server's account out of its data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="clickstream-pg-"))
    instance = PostgresServer(data_dir, free_port())
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    with started_postgres() as instance:
        yield instance


def test_local_postgres_starts_idempotently_on_loopback_with_passwords(postgres):
    assert postgres.uri == f"postgresql://clickstream:{PASSWORD}@127.0.0.1:{postgres.port}/clickstream"
    again = subprocess.run([str(LOCAL_POSTGRES), "start", "--port", str(postgres.port), "--data-dir",
                            str(postgres.data_dir)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == postgres.uri
    status = subprocess.run([str(LOCAL_POSTGRES), "status", "--data-dir", str(postgres.data_dir)],
                            capture_output=True, text=True, timeout=60)
    pid = int((postgres.data_dir / "server.pid").read_text())
    assert status.returncode == 0 and f"pid {pid}" in status.stdout
    with postgres.connect() as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('listen_addresses', 'password_encryption', 'server_encoding')").fetchall())
        assert settings == {"listen_addresses": "127.0.0.1", "password_encryption": "scram-sha-256",
                            "server_encoding": "UTF8"}
    hba = (postgres.data_dir / "cluster" / "pg_hba.conf").read_text()
    assert "host all all 127.0.0.1/32 scram-sha-256" in hba and "0.0.0.0" not in hba
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.uri.replace(PASSWORD, "wrong"))
    # PostgreSQL refuses root: as root the script runs it as the unprivileged postgres account.
    assert Path(f"/proc/{pid}").stat().st_uid != 0


def test_the_sink_against_the_server(postgres, tmp_path):
    """The sink's own integration tests (tests/unit/postgres_sink_test.cpp): rounds, resume, fencing,
    a round landed twice, a dropped connection, start-up failures. Every one of them must have run
    against the server and passed: one skipped (it skips without a server) counts as a failure, and
    so does a filter that matches none."""
    report = tmp_path / "gtest.json"
    result = subprocess.run([str(UNIT_TESTS), "--gtest_filter=PostgresSinkAgainstServer.*", "--gtest_brief=1",
                             f"--gtest_output=json:{report}"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CLICKSTREAM_TEST_POSTGRES_URI": postgres.uri})
    assert result.returncode == 0, result.stdout + result.stderr
    cases = [case for suite in json.loads(report.read_text())["testsuites"] for case in suite["testsuite"]]
    assert cases, f"no test matched the filter:\n{result.stdout}"
    not_passed = [f"{case['classname']}.{case['name']}: {case['status']} {case.get('result')}" for case in cases
                  if case["status"] != "RUN" or case.get("result") != "COMPLETED" or case.get("failures")]
    assert not not_passed, f"{not_passed}\n{result.stdout}"


# --- consume --output postgresql://… against a real broker and server ---

def table_for(topic: str) -> str:
    return "events_" + topic.replace("-", "_")


def pg_args(bootstrap: str, topic: str, uri: str, group: str, *extra: str) -> list[str]:
    return ["-b", bootstrap, "-t", topic, "-o", uri, "--table", table_for(topic), "-g", group, *FAST_SESSION,
            *extra]


def run_to_idle(tmp_path: Path, name: str, args: list[str], idle_ms: int = 4000) -> ConsumerProcess:
    consumer = ConsumerProcess(tmp_path, name, [*args, "--exit-when-idle-ms", str(idle_ms)])
    assert consumer.wait() == 0, consumer.stderr()
    return consumer


def identity_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The table's key without the event time: the event identity, whatever its columns are."""
    key = conn.execute("SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                       "AND a.attnum = ANY(c.conkey) WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
                       (table,)).fetchall()
    return [name for (name,) in key if name != "timestamp"]


def assert_exactly_in_table(postgres: PostgresServer, table: str, expected_ids: set[str]) -> None:
    """Every message once: by its Kafka coordinates, by the event identity, and by the test's ids."""
    with postgres.connect() as conn:
        identity = ", ".join(f'"{name}"' for name in identity_columns(conn, table))
        rows, messages, events = conn.execute(
            f"SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)), count(DISTINCT ({identity}, 0)) "
            f"FROM {table}").fetchone()
        assert rows == messages == events == len(expected_ids), \
            f"{rows} rows, {messages} distinct messages, {events} distinct identities, expected {len(expected_ids)}"
        ids = {row[0] for row in conn.execute(f"SELECT source_id || ':' || source_line FROM {table}")}
    assert ids == expected_ids


def progress_of(postgres: PostgresServer, group: str, topic: str) -> dict[int, int]:
    with postgres.connect() as conn:
        return dict(conn.execute("SELECT partition, next_offset FROM clickstream_offsets "
                                 "WHERE consumer_group = %s AND topic = %s", (group, topic)).fetchall())


def highest_offsets(postgres: PostgresServer, table: str) -> dict[int, int]:
    """Per partition, one past the highest Kafka offset among the landed rows."""
    with postgres.connect() as conn:
        return dict(conn.execute(f"SELECT kafka_partition, max(kafka_offset) + 1 FROM {table} "
                                 "GROUP BY kafka_partition").fetchall())


def readme_funnel_sql() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**The funnel in SQL**"):]
    return section[section.index("```sql") + len("```sql"):section.index("```", section.index("```sql") + 6)]


def test_lands_100k_events_exactly_with_types_and_day_partitions(broker, postgres, topic, tmp_path):
    create_topic(broker.bootstrap, topic, partitions=6)
    produce_events(broker.bootstrap, topic, 100_000)
    table = table_for(topic)
    consumer = run_to_idle(tmp_path, "consume", pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-100k"))

    assert_exactly_in_table(postgres, table, all_ids(100_000))
    assert "throw-away-password" not in consumer.stderr()
    assert "100000 events" in consumer.stderr(), consumer.stderr()
    with postgres.connect() as conn:
        types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = %s", (table,)).fetchall())
        assert types == {"source_id": "text", "source_line": "bigint", "timestamp": "timestamp with time zone", "visitor_id": "text",
                         "event_type": "text", "item_id": "text", "transaction_id": "text", "device": "text",
                         "browser": "text", "os": "text", "kafka_partition": "integer", "kafka_offset": "bigint",
                         "ingested_at": "timestamp with time zone"}
        days = sorted(row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass", (table,)))
        assert days == [f"{table}_p2015060{d}" for d in (1, 2, 3)]
        key = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                           "AND contype = 'p'", (table,)).fetchone()[0]
        assert key == 'PRIMARY KEY (source_id, source_line, "timestamp")'
        sample = conn.execute(f"SELECT transaction_id, event_type, \"timestamp\" AT TIME ZONE 'UTC', browser "
                              f"FROM {table} WHERE source_line = 4").fetchone()
        assert sample[:2] == ("tx_002", "transaction") and str(sample[2]) == "2015-06-03 12:02:02"
        assert sample[3] == "Safari"
    # The README's funnel SQL runs on the landed table and counts every event once.
    with postgres.connect() as conn:
        funnel = conn.execute(readme_funnel_sql().replace("clickstream_events", table)).fetchall()
    assert sum(row[5] + row[6] + row[7] for row in funnel) == 100_000
    assert {row[0].isoformat() for row in funnel} == {"2015-06-01", "2015-06-02", "2015-06-03"}
    # The table records progress; Kafka's committed offsets follow it for lag tools.
    progress = progress_of(postgres, "g-pg-100k", topic)
    assert progress == highest_offsets(postgres, table)
    assert committed_offsets(broker.bootstrap, "g-pg-100k") == progress


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(broker, postgres, topic, tmp_path):
    total = 200_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-kill", "--flush-interval-ms", "1000")
    kill_consumers_at_random_moments(tmp_path, args, seed=13)
    producer.join()
    run_to_idle(tmp_path, "final", args, idle_ms=5000)
    assert_exactly_in_table(postgres, table_for(topic), all_ids(total))
    assert progress_of(postgres, "g-pg-kill", topic) == highest_offsets(postgres, table_for(topic))


def test_two_members_one_killed_land_exactly(broker, postgres, topic, tmp_path):
    total = 100_000
    create_topic(broker.bootstrap, topic, partitions=6)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=10_000, pause=1.0)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-two", "--flush-interval-ms", "1000",
                   "--exit-when-idle-ms", "8000")
    survivor = ConsumerProcess(tmp_path, "survivor", args)
    victim = ConsumerProcess(tmp_path, "victim", args)
    victim.wait_for("assigned")
    survivor.wait_for("assigned")
    deadline = time.time() + 60
    while "events" not in victim.stderr() or not progress_of(postgres, "g-pg-two", topic):
        assert time.time() < deadline, victim.stderr()
        time.sleep(0.2)
    victim.kill()
    producer.join()
    assert survivor.wait() == 0, survivor.stderr()
    assert_exactly_in_table(postgres, table_for(topic), all_ids(total))


def test_a_stalled_member_whose_partitions_moved_commits_nothing_stale(broker, postgres, topic, tmp_path):
    """SIGSTOP past the session timeout: the group gives its partitions to the other member. On
    SIGCONT its buffered or in-flight round must not land over the new owner's progress."""
    total = 80_000
    create_topic(broker.bootstrap, topic, partitions=4)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=5_000, pause=0.5)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-stall", "--flush-interval-ms", "300",
                   "--exit-when-idle-ms", "8000")
    stalled, other = stall_a_member_past_its_session(
        tmp_path, args, lambda: progress_of(postgres, "g-pg-stall", topic))
    producer.join()
    assert other.wait() == 0, other.stderr()
    stalled.wait()
    assert_exactly_in_table(postgres, table_for(topic), all_ids(total))
    assert progress_of(postgres, "g-pg-stall", topic) == highest_offsets(postgres, table_for(topic))


def one_line_failure(broker, topic: str, uri: str, table: str | None) -> str:
    result = run_clickstream("consume", "-b", broker.bootstrap, "-t", topic, "-o", uri,
                             *(["--table", table] if table else []), "--exit-when-idle-ms", "1000", timeout=60)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "throw-away-password" not in result.stderr and "not-the-password" not in result.stderr
    return lines[0]


def test_start_up_failures_are_one_line_and_exit_2(broker, postgres, topic):
    port = postgres.port
    base = postgres.uri
    target = "as user clickstream, database clickstream"

    line = one_line_failure(broker, topic, base.replace(PASSWORD, "not-the-password"), "t1")
    assert f"127.0.0.1:{port} {target}" in line and "wrong password" in line

    closed = free_port()
    line = one_line_failure(broker, topic, base.replace(f":{port}/", f":{closed}/"), "t1")
    assert f"127.0.0.1:{closed} {target}" in line and "unreachable" in line

    line = one_line_failure(broker, topic, base.rsplit("/", 1)[0] + "/no_such_db", "t1")
    assert "database no_such_db" in line and "no such database" in line

    unfit = table_for(topic) + "_unfit"
    with postgres.connect() as conn:
        conn.execute(f"CREATE TABLE {unfit} (source_id text, source_line bigint, \"timestamp\" timestamptz, "
                     "visitor_id text, "
                     "event_type text, item_id bigint)")
    line = one_line_failure(broker, topic, base, unfit)
    assert f"table public.{unfit} does not fit" in line and 'column "item_id" is bigint, the events need text' in line

    # A user who may connect but not create tables (PostgreSQL 15: nobody may create in public but
    # the database owner), and a database that is not UTF-8.
    with postgres.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-password'")
        conn.execute("DROP DATABASE IF EXISTS latin1")
        conn.execute("CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    line = one_line_failure(broker, topic, f"postgresql://reader:reader-password@127.0.0.1:{port}/clickstream",
                            "t1")
    assert "as user reader" in line and "no permission to create table public.t1" in line
    assert "reader-password" not in line
    line = one_line_failure(broker, topic, base.rsplit("/", 1)[0] + "/latin1", "t1")
    assert "encoded LATIN1" in line and "UTF8" in line
    line = one_line_failure(broker, topic, base + "?client_encoding=LATIN1", "t1")
    assert "client encoding is LATIN1" in line and "drop client_encoding" in line
    # A mistyped scheme is not taken for a database, and its password is not repeated either.
    line = one_line_failure(broker, topic, base.replace("postgresql://", "postgresq://"), None)
    assert "postgresq://clickstream@127.0.0.1" in line


def test_a_server_gone_mid_run_exits_1_and_a_restart_completes(broker, postgres, topic, tmp_path):
    total = 40_000
    create_topic(broker.bootstrap, topic, partitions=3)
    producer = produce_in_background(broker.bootstrap, topic, total, chunk=5_000, pause=0.5)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-gone", "--flush-interval-ms", "300",
                   "--write-retry-ms", "3000")
    consumer = ConsumerProcess(tmp_path, "failing", args)
    try:
        deadline = time.time() + 60
        while not progress_of(postgres, "g-pg-gone", topic):
            assert time.time() < deadline and consumer.process.poll() is None, consumer.stderr()
            time.sleep(0.1)
        postgres.stop()
        assert consumer.wait(timeout=120) == 1, consumer.stderr()
        assert "giving up" in consumer.stderr(), consumer.stderr()
    finally:
        postgres.start()
    # Nothing half-committed: the progress table and the rows agree, and Kafka is not ahead.
    progress = progress_of(postgres, "g-pg-gone", topic)
    assert progress == highest_offsets(postgres, table_for(topic))
    for partition, offset in committed_offsets(broker.bootstrap, "g-pg-gone").items():
        assert offset <= progress.get(partition, 0)
    producer.join()
    run_to_idle(tmp_path, "restarted", args)
    assert_exactly_in_table(postgres, table_for(topic), all_ids(total))


@pytest.mark.parametrize("step", ["postgres-after-progress:3", "postgres-after-copy:3", "postgres-after-commit:3"])
def test_a_crash_at_each_step_of_a_round_leaves_nothing_half_committed(broker, postgres, topic, tmp_path, step,
                                                                      monkeypatch):
    total = 20_000
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_events(broker.bootstrap, topic, total)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-crash", "--batch-size", "1000")
    monkeypatch.setenv("CLICKSTREAM_CRASH_AT", step)
    crashed = ConsumerProcess(tmp_path, "crashed", args)
    assert crashed.wait() == -signal.SIGKILL, crashed.stderr()
    monkeypatch.delenv("CLICKSTREAM_CRASH_AT")
    # Whatever the round reached, the rows and the progress table agree.
    assert progress_of(postgres, "g-pg-crash", topic) == highest_offsets(postgres, table_for(topic))
    run_to_idle(tmp_path, "restarted", args)
    assert_exactly_in_table(postgres, table_for(topic), all_ids(total))


def test_dead_letters_go_to_their_topic_and_still_move_the_progress(broker, postgres, topic, tmp_path):
    send_events_then_only_dead_letters(broker.bootstrap, topic).close()
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-dlq", "--batch-size", "5")
    first = run_to_idle(tmp_path, "first", args, idle_ms=3000)
    assert "5 dead letters" in first.stderr(), first.stderr()
    assert_exactly_in_table(postgres, table_for(topic), all_ids(5))
    assert progress_of(postgres, "g-pg-dlq", topic) == {0: 10}  # past the dead-letter-only batch
    second = run_to_idle(tmp_path, "second", args, idle_ms=3000)
    assert "p0@10" in second.stderr(), second.stderr()
    assert dead_letter_values(broker.bootstrap, topic) == POISON


def test_a_replayed_input_lands_each_event_once(broker, postgres, topic, tmp_path):
    """The same events produced twice: the table's identity key keeps one row per event, and the
    progress still moves past every message."""
    create_topic(broker.bootstrap, topic, partitions=3)
    produce_events(broker.bootstrap, topic, 3_000)
    args = pg_args(broker.bootstrap, topic, postgres.uri, "g-pg-replay", "--batch-size", "1000")
    run_to_idle(tmp_path, "first", args, idle_ms=3000)
    produce_events(broker.bootstrap, topic, 3_000)
    produce_events(broker.bootstrap, topic, 1_000, start=3_000)
    run_to_idle(tmp_path, "second", args, idle_ms=3000)
    assert_exactly_in_table(postgres, table_for(topic), all_ids(4_000))
    assert sum(progress_of(postgres, "g-pg-replay", topic).values()) == 7_000
