"""A broker secured the way managed clusters are (SASL_SSL with SCRAM-SHA-512, a private CA), reached
through `-F client.properties`; and the start-up failures that must end fast with exit code 2 and one
line naming the cause instead of librdkafka retrying in silence."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from helpers import free_port, run_clickstream

TIME_LIMIT_S = 30  # the bound on every start-up failure
POISON = [f"not json {i}" for i in range(5)]


def password(cluster) -> str:
    text = cluster.client_properties.read_text()
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("sasl.password="))


def timed(*args: str) -> tuple[object, float]:
    started = time.monotonic()
    result = run_clickstream(*args, timeout=120)
    return result, time.monotonic() - started


def generate(path: Path, events: int) -> Path:
    result = run_clickstream("generate", "--events", events, "--output", path)
    assert result.returncode == 0, result.stderr
    return path


def csv_tuples(path: Path) -> list[tuple[str, str, str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return sorted((row[1], row[3], row[0]) for row in rows)


def test_fifty_thousand_events_over_sasl_ssl_land_exactly_with_dead_letters(secure_cluster, topic, tmp_path):
    cluster = secure_cluster
    secret = password(cluster)
    source = generate(tmp_path / "events.csv", 50_000)
    produced = run_clickstream("produce", "-b", cluster.bootstrap, "-F", cluster.client_properties, "-t", topic,
                               "--input", source, "--rate", "0", "--partitions", "3", "--no-progress")
    assert produced.returncode == 0, produced.stderr
    assert "delivered 50000" in produced.stderr
    subprocess.run([*cluster.kcat_args(), "-t", topic, "-P"], input="\n".join(POISON) + "\n", text=True,
                   check=True, timeout=60, capture_output=True)

    output = tmp_path / "landed"
    consumed = run_clickstream("consume", "-b", cluster.bootstrap, "-F", cluster.client_properties, "-t", topic,
                               "-o", output, "-g", "g-secure", "--exit-when-idle-ms", "4000", timeout=300)
    assert consumed.returncode == 0, consumed.stderr
    assert "50000 events" in consumed.stderr and "5 dead letters" in consumed.stderr, consumed.stderr

    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 50_000
    assert len(set(zip(table.column("source_id").to_pylist(), table.column("source_line").to_pylist()))) == 50_000
    landed = sorted(zip(table.column("visitor_id").to_pylist(), table.column("item_id").to_pylist(),
                        (t.strftime("%Y-%m-%d %H:%M:%S") for t in table.column("timestamp").to_pylist())))
    assert landed == csv_tuples(source)
    rows, distinct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (source_id, source_line)) FROM read_parquet('{output}/**/*.parquet')").fetchone()
    assert rows == distinct == 50_000

    # The dead-letter producer inside consume used the same -F settings.
    dead = subprocess.run([*cluster.kcat_args(), "-t", f"{topic}.dlq", "-C", "-e", "-q", "-f", "%s|%h\n"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    assert sorted(line.split("|", 1)[0] for line in dead) == POISON
    assert all("reason=" in line and f"source.topic={topic}" in line for line in dead)
    for stderr in (produced.stderr, consumed.stderr):
        assert secret not in stderr


def test_wrong_password_exits_2_fast_naming_authentication(secure_cluster, tmp_path):
    cluster = secure_cluster
    wrong = "not-the-password-4711"
    source = generate(tmp_path / "events.csv", 10)
    # -X comes after the file, so it replaces the file's (right) password.
    for command in (["produce", "--input", str(source), "--no-progress"], ["consume", "-o", str(tmp_path / "out")]):
        result, seconds = timed(*command, "-b", cluster.bootstrap, "-F", str(cluster.client_properties),
                                "-X", f"sasl.password={wrong}")
        assert result.returncode == 2, result.stderr
        assert seconds < TIME_LIMIT_S
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "authentication failed" in result.stderr.lower(), result.stderr
        assert wrong not in result.stderr and password(cluster) not in result.stderr


def test_an_unknown_ca_exits_2_fast_naming_the_certificate(secure_cluster, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "other-ca.key"), "-out", str(other_ca)],
                   check=True, capture_output=True, timeout=60)
    result, seconds = timed("consume", "-o", str(tmp_path / "out"), "-b", secure_cluster.bootstrap,
                            "-F", str(secure_cluster.client_properties), "-X", f"ssl.ca.location={other_ca}")
    assert result.returncode == 2 and seconds < TIME_LIMIT_S, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "certificate verify failed" in result.stderr, result.stderr


def test_tls_to_a_plaintext_port_exits_2_fast(broker, secure_cluster, tmp_path):
    result, seconds = timed("consume", "-o", str(tmp_path / "out"), "-b", broker.bootstrap,
                            "-F", str(secure_cluster.client_properties))
    assert result.returncode == 2 and seconds < TIME_LIMIT_S, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"cannot use Kafka at {broker.bootstrap}" in result.stderr, result.stderr
    assert password(secure_cluster) not in result.stderr


def test_plaintext_to_the_sasl_ssl_port_exits_2_fast(secure_cluster, tmp_path):
    source = generate(tmp_path / "events.csv", 10)
    result, seconds = timed("produce", "--input", str(source), "-b", secure_cluster.bootstrap, "--no-progress")
    assert result.returncode == 2 and seconds < TIME_LIMIT_S, result.stderr
    assert "security.protocol" in result.stderr, result.stderr


def test_an_unreachable_bootstrap_address_exits_2_fast(tmp_path):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result, seconds = timed("consume", "-o", str(tmp_path / "out"), "-b", address)
    assert result.returncode == 2 and seconds < TIME_LIMIT_S, result.stderr
    assert f"cannot use Kafka at {address}: no broker answered" in result.stderr
    assert "Connection refused" in result.stderr


def test_a_missing_properties_file_is_a_usage_error(tmp_path):
    result = run_clickstream("consume", "-o", tmp_path / "out", "-F", tmp_path / "missing.properties")
    assert result.returncode == 2 and "missing.properties" in result.stderr


def test_consume_exit_when_idle_also_ends_when_the_topic_does_not_exist(broker, topic, tmp_path):
    result, seconds = timed("consume", "-o", str(tmp_path / "out"), "-b", broker.bootstrap, "-t", topic,
                            "-g", "g-missing", "--exit-when-idle-ms", "2000")
    assert result.returncode == 0, result.stderr
    assert seconds < TIME_LIMIT_S
    assert "Unknown topic" in result.stderr and "finishing" in result.stderr, result.stderr


def test_secrets_stay_out_of_logs_even_with_librdkafka_debugging(secure_cluster, topic, tmp_path):
    cluster = secure_cluster
    source = generate(tmp_path / "events.csv", 100)
    debug = ("-X", "debug=conf,security,broker")
    produced = run_clickstream("produce", "-b", cluster.bootstrap, "-F", cluster.client_properties, "-t", topic,
                               "--input", source, "--rate", "0", "--no-progress", *debug)
    assert produced.returncode == 0, produced.stderr[-3000:]
    consumed = run_clickstream("consume", "-b", cluster.bootstrap, "-F", cluster.client_properties, "-t", topic,
                               "-o", tmp_path / "out", "-g", "g-debug", "--exit-when-idle-ms", "2000",
                               "--stats-interval-ms", "500", *debug)
    assert consumed.returncode == 0, consumed.stderr[-3000:]
    for stderr in (produced.stderr, consumed.stderr):
        assert "sasl.username" in stderr  # the configuration was dumped...
        assert password(cluster) not in stderr  # ...without the password


def test_a_properties_file_can_name_the_cluster(secure_cluster, topic, tmp_path):
    """Confluent Cloud's client files carry bootstrap.servers: it replaces $KAFKA_BOOTSTRAP_SERVERS."""
    properties = tmp_path / "cloud.properties"
    properties.write_text(f"bootstrap.servers={secure_cluster.bootstrap}\n"
                          + secure_cluster.client_properties.read_text())
    source = generate(tmp_path / "events.csv", 100)
    result = run_clickstream("produce", "-F", properties, "-t", topic, "--input", source, "--no-progress",
                             env={"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    assert result.returncode == 0, result.stderr
    assert "delivered 100," in result.stderr
