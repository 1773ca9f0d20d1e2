"""`make bench QUICK=1` as a smoke test: it completes and writes valid JSON with every required key
as a number. No speed thresholds here: machines vary; the figures belong in bench/results."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from helpers import BINARY, ROOT, bench_module

BENCH = ROOT / "bench" / "run.py"


def required_keys() -> list[str]:
    with bench_module("run") as run:
        return run.REQUIRED_KEYS


# Slow (a minute or two, with its own broker): collected last so quick feedback comes first.
@pytest.mark.last
def test_quick_bench_writes_every_required_figure(tmp_path):
    keys = required_keys()
    result = subprocess.run([sys.executable, str(BENCH), "--quick", "--results-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "CLICKSTREAM_BIN": str(BINARY)})
    assert (tmp_path / "latest.json").exists(), result.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    not_numeric = [key for key in keys
                   if isinstance(results.get(key), bool) or not isinstance(results.get(key), (int, float))
                   or not math.isfinite(results[key])]
    assert not not_numeric, f"missing or not numbers: {not_numeric}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, result.stderr[-3000:]
    assert results["events"] > 0
    assert (tmp_path / "latest.md").read_text().startswith("# clickstream bench (quick")
    # The peers (Kafka's perf tools, Spark) run only when asked for: `make bench PEERS=1`.
    assert "consumer_vs_spark" not in results and "## Peers" not in (tmp_path / "latest.md").read_text()
