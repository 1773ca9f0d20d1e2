# clickstream: `make demo` tells the whole story, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
PYTEST_ARGS ?=
export CCACHE_DIR ?= $(CURDIR)/.cache/ccache
# Several build trees (build/, build-asan/, …) share one cache; -g would otherwise key it by tree.
export CCACHE_NOHASHDIR ?= 1

.PHONY: setup configure build unit e2e test demo bench bench-micro asan clean

setup:
	@scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: setup configure
	cmake --build $(BUILD_DIR)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure

e2e: build
	.venv/bin/python -m pytest tests/e2e $(PYTEST_ARGS)

test: unit e2e

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, in their own build tree.
asan: setup
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCLICKSTREAM_SANITIZE=ON
	cmake --build build-asan --target unit_tests
	ctest --test-dir build-asan --output-on-failure

demo: build
	@scripts/demo

# PEERS=1 adds Kafka's perf tools and Spark (fetched into .cache/ by scripts/bench-peers).
bench: build
	@.venv/bin/python bench/run.py $(if $(QUICK),--quick) $(if $(PEERS),--peers)

# Google Benchmark micro-benchmarks of decode, encode, the CSV source and Parquet encoding, one
# core each; BENCH_FILTER selects some (a regular expression over the benchmark names).
bench-micro: build
	cmake --build $(BUILD_DIR) --target microbench
	$(BUILD_DIR)/microbench $(if $(BENCH_FILTER),--benchmark_filter='$(BENCH_FILTER)')

clean:
	rm -rf $(BUILD_DIR) build-asan
