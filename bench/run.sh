#!/usr/bin/env bash
# Runs the whole benchmark suite and files its results (bench/README.md).
#
#   bench/run.sh [BUILD_DIR]      default: build/bench (make bench builds it first)
#
# Prints every table on the terminal, then writes
#   bench/results/<date>-<cpu>-<compiler>-<commit>.json   raw results: every run with its probe
#   bench/results/<date>-<cpu>-<compiler>-<commit>.svg    the chart (gnuplot)
# and rewrites README.md's performance section from that JSON.
#
# Environment: NOWAIT_BENCH_ARGS         extra driver flags, e.g. '--spsc-items 100000000' for the
#                                        issue's full SPSC count (longer than the time budget here)
#              NOWAIT_BENCH_ENGINE_ARGS  extra engine-benchmark flags, e.g. '--seconds 10'
#              NOWAIT_BENCH_PNG          also write the chart as PNG to this path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/bench}" && pwd)
driver=$build/bench/nowait-bench-driver
micro=$build/bench/nowait-bench-micro
engine=$build/bench/nowait-bench-engine
for exe in "$driver" "$micro" "$engine"; do
  [ -x "$exe" ] || { echo "run.sh: $exe not found; build first: cmake --preset bench && cmake --build --preset bench" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "run.sh: gnuplot is missing (scripts/deps.sh build bench)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 is missing" >&2; exit 1; }

start=$(date +%s)

# The name says the machine, the compiler and the commit. The results folder
# and the README are this script's output, so they do not make the tree dirty.
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
cpu_slug=$(printf '%s' "$cpu" | tr '[:upper:]' '[:lower:]' | sed -e 's/([^)]*)//g' -e 's/[^a-z0-9]\+/-/g' -e 's/^-//' -e 's/-$//')
compiler=$("$driver" --compiler)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo nogit)
if [ "$commit" != nogit ] &&
   [ -n "$(git -C "$root" status --porcelain -- . ':!bench/results' ':!README.md' 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
name="$(date -u +%Y-%m-%d)-$cpu_slug-$compiler-$commit"
results=$root/bench/results
mkdir -p "$results"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "=== nowait bench: $name"
echo "=== 1/3 cross-thread driver (floors, scenarios 1-8)"
# shellcheck disable=SC2086  # NOWAIT_BENCH_ARGS is a list of flags
"$driver" --json "$tmp/driver.json" --commit "$commit" ${NOWAIT_BENCH_ARGS:-}

echo
echo "=== 2/3 single-thread micro-costs (Google Benchmark, median of 5 repetitions)"
"$micro" --benchmark_min_time=0.1 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$tmp/micro.json" --benchmark_out_format=json

echo
echo "=== 3/3 engine: nowait vs the mutex + deque baseline (issue 5)"
# shellcheck disable=SC2086  # NOWAIT_BENCH_ENGINE_ARGS is a list of flags
"$engine" --json "$tmp/engine.json" --commit "$commit" ${NOWAIT_BENCH_ENGINE_ARGS:-}

python3 "$root/bench/report.py" merge "$tmp/driver.json" "$tmp/micro.json" "$tmp/engine.json" "$results/$name.json"
python3 "$root/bench/report.py" plot "$results/$name.json" "$results/$name.svg" ${NOWAIT_BENCH_PNG:+"$NOWAIT_BENCH_PNG"}
python3 "$root/bench/report.py" readme "$results/$name.json" "$root/README.md"
python3 "$root/bench/report.py" summary "$results/$name.json"

echo
echo "=== wrote bench/results/$name.json and .svg; README.md's performance section now shows them"
echo "=== bench finished in $(( $(date +%s) - start )) s"
