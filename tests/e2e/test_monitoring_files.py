"""docs/monitoring/ checked by Prometheus's own tools, and scripts/local-prometheus running a real
Prometheus that scrapes a target and evaluates those alert rules."""
from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from helpers import ROOT, free_port
from prometheus_server import PrometheusServer

LOCAL_PROMETHEUS = ROOT / "scripts" / "local-prometheus"
ALERTS = ROOT / "docs" / "monitoring" / "alerts.yml"
EXAMPLE_CONFIG = ROOT / "docs" / "monitoring" / "prometheus.yml"
ALERT_CASES = Path(__file__).resolve().parent / "monitoring" / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_the_alert_rules_pass_promtool():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_the_example_config_and_the_rules_it_loads_pass_promtool():
    result = promtool("check", "config", str(EXAMPLE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {EXAMPLE_CONFIG} is valid prometheus config file syntax" in result.stdout
    # The rule file the example names, found beside it.
    assert f"Checking {ALERTS}" in result.stdout
    assert "SUCCESS: 3 rules found" in result.stdout


def test_each_alert_fires_on_the_series_it_is_for_and_not_on_the_others():
    result = promtool("test", "rules", str(ALERT_CASES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def run_script(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(LOCAL_PROMETHEUS), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def listening_addresses(pid: int) -> set[str]:
    """The HOST:PORT (IPv4 hex as in /proc/net) of every TCP socket the process listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    addresses = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.add(fields[1])
    return addresses


def test_start_is_idempotent_listens_on_loopback_only_and_stop_ends_it(tmp_path):
    port = free_port()
    first = run_script("start", "--port", str(port), "--data-dir", str(tmp_path))
    try:
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[-1] == f"http://127.0.0.1:{port}"
        again = run_script("start", "--port", str(port), "--data-dir", str(tmp_path))
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1] == f"http://127.0.0.1:{port}"

        status = run_script("status", "--data-dir", str(tmp_path))
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"running: http://127.0.0.1:{port} (pid ")
        pid = int((tmp_path / "server.pid").read_text())
        assert f"(pid {pid}," in status.stdout
        assert listening_addresses(pid) == {f"0100007F:{port:04X}"}
    finally:
        stop = run_script("stop", "--data-dir", str(tmp_path))
    assert stop.returncode == 0, stop.stderr
    assert not Path(f"/proc/{pid}").exists()
    status = run_script("status", "--data-dir", str(tmp_path))
    assert status.returncode == 3
    assert status.stdout.startswith("stopped")


def test_stop_leaves_alone_a_process_that_is_not_its_server(tmp_path):
    """A stale PID file naming a live process of another program (here, this test) is not obeyed."""
    (tmp_path / "server.pid").write_text(str(os.getpid()))
    stop = run_script("stop", "--data-dir", str(tmp_path))
    assert stop.returncode == 0, stop.stderr
    assert "no server running" in stop.stderr
    assert not (tmp_path / "server.pid").exists()


def test_start_on_a_busy_port_fails_fast_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = run_script("start", "--port", str(port), "--data-dir", str(tmp_path), timeout=30)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 10
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"local-prometheus: port {port} is taken by another program; choose one with --port"]
    assert not (tmp_path / "server.pid").exists()


def test_start_without_prometheus_installed_names_the_package(tmp_path):
    result = run_script("start", "--port", str(free_port()), "--data-dir", str(tmp_path),
                        env={"PROMETHEUS": str(tmp_path / "no-such-prometheus")})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Prometheus is missing" in lines[0] and "apt-get install prometheus" in lines[0]


class Exposition:
    """A /metrics endpoint serving fixed text in Prometheus's text format 0.0.4, whose dead-letter
    counter the test can raise."""

    def __init__(self):
        self.dead_letters = 0
        exposition = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = exposition.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def text(self) -> str:
        return f"""# HELP clickstream_build_info The version of clickstream and of librdkafka it runs with.
# TYPE clickstream_build_info gauge
clickstream_build_info{{version="0.1.0",librdkafka="2.0.2"}} 1
# HELP clickstream_ready 1 when /ready answers 200.
# TYPE clickstream_ready gauge
clickstream_ready 1
# HELP clickstream_consume_lag_messages High watermark minus the offset after the last landed event.
# TYPE clickstream_consume_lag_messages gauge
clickstream_consume_lag_messages{{topic="clicks",partition="0"}} 12
clickstream_consume_lag_messages{{topic="clicks",partition="1"}} 30
# HELP clickstream_consume_dead_letters_total Messages routed to the dead-letter topic.
# TYPE clickstream_consume_dead_letters_total counter
clickstream_consume_dead_letters_total{{topic="clicks",reason="invalid_json"}} {self.dead_letters}
clickstream_consume_dead_letters_total{{topic="clicks",reason="oversized"}} 0
"""

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_target_is_scraped_and_a_new_dead_letter_raises_the_alert(prometheus_server):
    with Exposition() as target:
        name = f"exposition-{uuid.uuid4().hex[:8]}"
        prometheus_server.add_target(name, target.address)
        try:
            up = prometheus_server.wait_for(f'up{{job="clickstream",instance="{target.address}"}}',
                                            lambda result: result and result[0][1] == 1)
            assert len(up) == 1
            lag = prometheus_server.query(f'clickstream_consume_lag_messages{{instance="{target.address}"}}')
            assert sorted((labels["partition"], value) for labels, value in lag) == [("0", 12.0), ("1", 30.0)]
            assert prometheus_server.query(f'sum(clickstream_consume_lag_messages{{instance="{target.address}"}})') \
                == [({}, 42.0)]

            # The counter was scraped at 0 at least once: the alert is quiet, then a rise fires it.
            alert = (f'ALERTS{{alertname="ClickstreamConsumeDeadLettersRising",alertstate="firing",'
                     f'job="clickstream",topic="clicks"}}')
            assert prometheus_server.query(alert) == []
            target.dead_letters = 3
            firing = prometheus_server.wait_for(alert, lambda result: len(result) == 1)
            assert firing[0][0]["reason"] == "invalid_json"
            assert firing[0][0]["severity"] == "warning"
        finally:
            prometheus_server.remove_target(name)
