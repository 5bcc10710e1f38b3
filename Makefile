# The two set-up commands of the README, plus the benchmarks.
#   make run    install what is missing, build (release), run the engine's default
#               (two tones and pink noise, recorded under recordings/) until Ctrl-C
#   make test   install what is missing, build and run the suite under
#               dev, asan, tsan, rtsan and release (full stress counts), then
#               the core's tests for aarch64 under qemu-user
#   make bench  install what is missing, build (release) and run bench/
.PHONY: run test bench format format-check deps-build deps-bench deps-all

TEST_PRESETS := dev asan tsan rtsan release
SOURCES = $(shell git ls-files '*.hpp' '*.cpp' '*.h' 2>/dev/null)

# One explicit rule per package set. (A pattern rule such as deps-% would not
# do: GNU make never searches pattern rules for a .PHONY target, so the step
# would silently not run. tests/make_entry_points_check.sh guards this.)
deps-build:
	@scripts/deps.sh build

deps-bench:
	@scripts/deps.sh build bench

# make test builds the benchmarks too (their smoke runs are tests) and runs
# the dashboard in a real browser.
deps-all:
	@scripts/deps.sh build test bench browser

run: deps-build
	cmake --preset release -DNOWAIT_BUILD_TESTS=OFF
	cmake --build --preset release --target nowait
	./build/release/apps/nowait/nowait run

test: deps-all format-check
	@set -e; start=$$(date +%s); \
	for p in $(TEST_PRESETS); do \
	  echo "=== preset $$p: configure, build, test"; \
	  cmake --preset $$p -DNOWAIT_BUILD_TESTS=ON >/dev/null; \
	  cmake --build --preset $$p; \
	  ctest --preset $$p; \
	done; \
	echo "=== the core's tests cross-built for aarch64, run under qemu-user"; \
	scripts/test-aarch64.sh; \
	echo "=== all presets passed ($(TEST_PRESETS), aarch64) in $$(( $$(date +%s) - start )) s"

bench: deps-bench
	cmake --preset bench
	cmake --build --preset bench
	bench/run.sh build/bench

format:
	clang-format -i $(SOURCES)

format-check: deps-all
	@clang-format --dry-run --Werror $(SOURCES) && echo "clang-format: $(words $(SOURCES)) files clean"
