"""Landing in PostgreSQL: a real PostgreSQL 15 started by scripts/local-postgres, read back with
psycopg, independently of the sink's own code."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from conftest import free_port
from helpers import ROOT

LOCAL_POSTGRES = ROOT / "scripts" / "local-postgres"
UNIT_TESTS = Path(os.environ.get("CLICKSTREAM_UNIT_TESTS", ROOT / "build" / "unit_tests"))
PASSWORD = "throw-away-password"


class PostgresServer:
    """A server started by scripts/local-postgres in a temporary directory, stopped by its PID."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir = data_dir
        self.port = port
        self.uri = ""

    def start(self) -> None:
        result = subprocess.run([str(LOCAL_POSTGRES), "start", "--port", str(self.port), "--data-dir",
                                 str(self.data_dir)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{result.stderr}")
        self.uri = result.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        subprocess.run([str(LOCAL_POSTGRES), "stop", "--data-dir", str(self.data_dir)],
                       capture_output=True, text=True, timeout=120)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.uri, autocommit=True)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    instance = PostgresServer(tmp_path_factory.mktemp("postgres"), free_port())
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


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


def test_the_sink_against_the_server(postgres):
    """The sink's own integration tests (tests/unit/postgres_sink_test.cpp): rounds, resume, fencing,
    a round landed twice, a dropped connection, start-up failures."""
    result = subprocess.run([str(UNIT_TESTS), "--gtest_filter=PostgresSinkAgainstServer.*", "--gtest_brief=1"],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CLICKSTREAM_TEST_POSTGRES_URI": postgres.uri})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[  PASSED  ] 5 tests" in result.stdout, result.stdout
