# meshproof: the two commands of the README, plus bench, lint and format.
#   make run    install missing Debian packages, build (release), run the main job on the embedded spec
#   make test   install missing Debian packages, build release, asan and tsan, run every test through ctest
SHELL := /bin/bash
.DEFAULT_GOAL := help
JOBS ?= $(shell nproc)
SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null || find src tests bench -name '*.cc' -o -name '*.h')

.PHONY: help deps release asan tsan debug test run bench lint format clean

help:
	@echo "make run     the main job on the embedded Sprint 6 spec (ARGS='--quick' etc. are passed on)"
	@echo "make test    every test: release, asan and (the proxy's workers) tsan builds"
	@echo "make bench   benchmarks (see docs/benchmarks.md)"
	@echo "make lint    clang-format check, layering check, clang-tidy"
	@echo "make format  clang-format every C++ file in place"

deps:
	@scripts/install-deps.sh

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)

debug: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)

test: release asan tsan
	ctest --preset release -j $(JOBS)
	ctest --preset asan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

run: release
	./build/release/meshproof run $(ARGS)

bench: release
	./build/release/bench/meshproof_bench_spec --benchmark_repetitions=5 \
	    --benchmark_report_aggregates_only=true
	python3 bench/proxy_vs_peers.py build/release/meshproof --seconds 10 --rounds 3 --instructions
	python3 bench/load_bench.py build/release/meshproof --seconds 5 --rounds 5
	./build/release/bench/meshproof_bench_evidence --benchmark_repetitions=3 \
	    --benchmark_report_aggregates_only=true
	python3 bench/evidence_bench.py build/release/meshproof --rounds 5

# clang-tidy is clang 14, which does not define __cpp_impl_coroutine: without these defines libstdc++'s
# <coroutine> and Asio's co_await support stay off and every coroutine file fails to parse.
TIDY_COROUTINES = --extra-arg=-D__cpp_impl_coroutine=201902L --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 \
                  --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1

# clang-tidy reads the debug preset's compile database: the other presets build unity batches, so
# theirs names the batches and not the source files.
lint: deps
	@cmake --preset debug >/dev/null
	@echo "clang-format:"; clang-format --dry-run -Werror $(SOURCES) && echo "  ok"
	@python3 tests/layering/check_layering.py src/meshproof
	@echo "clang-tidy:"; out=$$(clang-tidy -p build/debug --quiet --extra-arg=-Wno-unknown-warning-option \
	    $(TIDY_COROUTINES) \
	    $(filter src/%.cc,$(SOURCES)) 2>/dev/null | grep -E "warning:|error:"); \
	    if [ -n "$$out" ]; then echo "$$out"; exit 1; else echo "  ok"; fi

format:
	clang-format -i $(SOURCES)

clean:
	rm -rf build
