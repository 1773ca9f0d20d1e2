"""The layering declared in CMakeLists.txt is kept by the build: an include that reaches across
modules fails `cmake --build` before anything compiles, naming the file, the line and the rule.

Each test plants an include in a copy of the tree, configured once, and builds it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

# Not copied: build trees, servers' data, caches, and the venv (the copy is configured with this
# interpreter, whose pyarrow provides Arrow C++, as ArrowParquet.cmake expects).
NOT_COPIED = {".git", ".venv", ".cache", ".kafka", ".postgres", "demo-output", "__pycache__", ".pytest_cache"}


_UAP_CORE_VERSION = (ROOT / "cmake" / "uap-core.txt").read_text().split()[0]
UAP_CORE_RULES = ROOT / ".cache" / f"uap-core-{_UAP_CORE_VERSION}" / "regexes.yaml"


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {name for name in names
            if name in NOT_COPIED or (top and name.startswith("build")) or
            (Path(directory) == ROOT / "bench" / "results" and name == "work")}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("layering") / "clickstream"
    shutil.copytree(ROOT, copy, ignore=_ignore, symlinks=True)
    configure = subprocess.run(
        ["cmake", "-S", str(copy), "-B", str(copy / "build"), "-G", "Ninja",
         f"-DCLICKSTREAM_PYTHON={sys.executable}",
         # The user-agent rules scripts/setup fetched, from this tree's cache (not copied).
         f"-DCLICKSTREAM_UAP_CORE_RULES={UAP_CORE_RULES}"],
        capture_output=True, text=True, timeout=120)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    return copy


def build(tree: Path, *target: str) -> subprocess.CompletedProcess:
    args = ["cmake", "--build", str(tree / "build"), "-j1"]
    if target:
        args += ["--target", *target]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.fixture
def plant(tree):
    """Adds a line on top of a file of the copy; puts every planted file back afterwards."""
    originals: dict[Path, str] = {}

    def add(relative: str, line: str) -> None:
        path = tree / relative
        originals.setdefault(path, path.read_text())
        path.write_text(line + "\n" + path.read_text())

    yield add
    for path, text in originals.items():
        path.write_text(text)


def test_the_tree_as_it_is_keeps_the_layering(tree):
    result = build(tree, "check_layering")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checking every #include under src/ against the layering" in result.stdout


@pytest.mark.parametrize("relative, line, expected", [
    ("src/report/funnel.cpp", "#include <librdkafka/rdkafka.h>",
     "src/report/funnel.cpp:1: report may not include <librdkafka/rdkafka.h> (librdkafka is only for: kafka)"),
    ("src/produce/pacer.h", "#include <CLI/CLI.hpp>",
     "src/produce/pacer.h:1: produce may not include <CLI/CLI.hpp> (CLI11 is only for: cli, main.cpp)"),
    ("src/report/detector.cpp", '#include "kafka/consumer.h"',
     'src/report/detector.cpp:1: report may not include "kafka/consumer.h" (report depends on: sink, event)'),
    ("src/event/event.cpp", '#include "../common/stop_signal.h"',
     'src/event/event.cpp:1: event may not include "../common/stop_signal.h" (event depends on: nothing)'),
    ("src/consume/dead_letters.cpp", '#include "kafka/handle.h"',
     'src/consume/dead_letters.cpp:1: consume may not include "kafka/handle.h": it brings in '
     "<librdkafka/rdkafka.h> (librdkafka is only for: kafka)"),
    ("src/sink/sink.cpp", "#include <libpq-fe.h>",
     "src/sink/sink.cpp:1: sink may not include <libpq-fe.h> (libpq is only for: sink/postgres)"),
    ("src/sink/parquet/s3_store.cpp", "#include <curl/curl.h>",
     "src/sink/parquet/s3_store.cpp:1: sink may not include <curl/curl.h> "
     "(libcurl is only for: sink/parquet/s3_conditional_put.cpp)"),
])
def test_a_reach_across_fails_the_build_before_anything_compiles(tree, plant, relative, line, expected):
    plant(relative, line)
    result = build(tree)  # the default target, as `make build` runs it
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in output
    assert "1 break(s) of the layering that CMakeLists.txt declares" in output
    assert "Building CXX object" not in output


def test_a_dependency_declared_in_cmakelists_allows_the_include(tree, plant):
    plant("src/report/detector.cpp", '#include "kafka/consumer.h"')
    assert build(tree, "check_layering").returncode != 0
    cmakelists = tree / "CMakeLists.txt"
    declared = cmakelists.read_text()
    assert "clickstream_module(report DEPENDS sink event " in declared
    try:
        cmakelists.write_text(declared.replace("clickstream_module(report DEPENDS sink event ",
                                               "clickstream_module(report DEPENDS sink event kafka "))
        result = build(tree, "check_layering")  # CMakeLists.txt changed: the build configures again
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        cmakelists.write_text(declared)
