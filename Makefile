# clickstream: `make demo` tells the whole story, `make test` proves it. Both set themselves up.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
PYTEST_ARGS ?=
export CCACHE_DIR ?= $(CURDIR)/.cache/ccache
# Several build trees (build/, build-asan/, …) share one cache; -g would otherwise key it by tree.
export CCACHE_NOHASHDIR ?= 1

.PHONY: setup configure build unit e2e test demo bench bench-micro asan fuzz clean

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
	cmake --build build-asan --target unit_tests fuzz_replays
	ctest --test-dir build-asan --output-on-failure

# The libFuzzer targets of tests/fuzz/ (clang-16, ASan and UBSan, in build-fuzz/), each run for
# FUZZ_SECONDS, one after the other. New inputs go to build-fuzz/corpus/<target>, crashes to
# build-fuzz/crash-<target>-*; the seeds in tests/fuzz/corpus/ are only read.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= csv_source json_decoder timestamp landed_file_name delta_commit segment_calls
fuzz: setup
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-16 \
	  -DCLICKSTREAM_FUZZ=ON
	cmake --build build-fuzz --target fuzz_targets
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$target && \
	  build-fuzz/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$target- build-fuzz/corpus/$$target tests/fuzz/corpus/$$target \
	    || exit 1; \
	done

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
	rm -rf $(BUILD_DIR) build-asan build-fuzz
