"""`make bench QUICK=1` as a smoke test: it completes and writes valid JSON with every required key
as a number. No speed thresholds here: machines vary; the figures belong in bench/results."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import statistics

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
    assert_metrics_overhead_pairs(results, (tmp_path / "latest.md").read_text())
    # The peers (Kafka's perf tools, Spark) run only when asked for: `make bench PEERS=1`.
    assert "consumer_vs_spark" not in results and "## Peers" not in (tmp_path / "latest.md").read_text()


def assert_metrics_overhead_pairs(results: dict, markdown: str) -> None:
    """metrics_overhead: at least 3 pairs run right after the consume stage, without and with
    --metrics-listen in alternating order, every run with a scraper answered, and the figure their
    median ratio."""
    ratios = results["metrics_overhead_rounds"]
    without, with_metrics = results["consumer_eps_without_metrics_rounds"], results["consumer_eps_with_metrics_rounds"]
    assert len(ratios) == len(without) == len(with_metrics) == len(results["metrics_scrapes_rounds"]) >= 3
    assert all(scrapes >= 1 for scrapes in results["metrics_scrapes_rounds"]), results["metrics_scrapes_rounds"]
    assert results["metrics_overhead"] == pytest.approx(statistics.median(ratios), abs=1e-3)
    for ratio, off, on in zip(ratios, without, with_metrics):
        assert ratio == pytest.approx(on / off, rel=1e-3)
    stages = [row["stage"] for row in results["report"]["stages"]]
    first = stages.index("clickstream consume (defaults)") + 1
    pairs = stages[first:first + 2 * len(ratios)]
    # Each pair in the opposite order to the one before: without first in pairs 1, 3, ...
    expected_with = [(i % 2 == 1) == (i // 2 % 2 == 0) for i in range(len(pairs))]
    assert [("with --metrics-listen" in stage, f"pair {i // 2 + 1} " in stage) for i, stage in enumerate(pairs)] == \
        [(scraped, True) for scraped in expected_with], pairs
    assert "| metrics_overhead |" in markdown and ">= 0.98:" in markdown


def test_the_metrics_overhead_is_the_median_of_the_pairs_ratios():
    with bench_module("run") as run:
        assert "metrics_overhead" in run.REQUIRED_KEYS and run.TARGETS["metrics_overhead"] == (">=", 0.98)
        median, ratios = run.median_pair_ratio([100.0, 200.0, 100.0], [99.0, 150.0, 101.0])
        assert ratios == pytest.approx([0.99, 0.75, 1.01]) and median == pytest.approx(0.99)
        with pytest.raises(ValueError):
            run.median_pair_ratio([100.0, 100.0], [99.0])


@pytest.mark.parametrize("args, words", [
    (["--only", "consume,nonsense"], "unknown stage nonsense"),
    (["--only", "metrics_overhead"], "--only needs --results-dir"),
])
def test_only_names_known_stages_and_never_replaces_the_committed_results(args, words):
    result = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CLICKSTREAM_BIN": str(BINARY)})
    assert result.returncode == 2 and words in result.stderr, result.stderr
