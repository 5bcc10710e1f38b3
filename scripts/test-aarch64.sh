#!/usr/bin/env bash
# Cross-builds the core's unit and stress tests for aarch64 with Debian's cross
# toolchain and runs them under qemu-user: proof that the core builds and
# passes on 64-bit Arm (alignment, 64-bit atomics, the cache-line constant).
# QEMU on an x86 host does not reproduce Arm's weak memory ordering; the
# headers argue that part beside each acquire/release pair.
#
#   scripts/test-aarch64.sh            configure, build into build/aarch64, run
#
# Needs the [test] packages of scripts/deps.sh (g++-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user, libgtest-dev for GoogleTest's sources).
# Optimised (-O2) but with the debug preconditions on, so the death tests run;
# the stress tests keep their reduced counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/aarch64
jobs=${NOWAIT_JOBS:-2}

start=$(date +%s)
cmake -S "$root/tests/cross" -B "$build" -G Ninja \
  --toolchain "$root/cmake/aarch64-toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2 >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600
echo "=== aarch64 (qemu-user): core tests passed in $(( $(date +%s) - start )) s"
