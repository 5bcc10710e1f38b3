#!/usr/bin/env bash
# The one list of Debian packages nowait needs, by purpose. Installs whatever
# of the requested groups is missing (apt-get, as root), and does nothing when
# all of it is already there.
#
#   scripts/deps.sh build        compile the core, the examples and the demo
#   scripts/deps.sh build test   ... and everything `make test` runs
#   scripts/deps.sh build bench  ... and the benchmark peers and plotting
#   scripts/deps.sh browser      chromium, node and tests/browser's npm packages
# make test asks for all four: its presets build the benchmarks' smoke runs
# and run the dashboard in a real browser.
set -euo pipefail

declare -A GROUP=(
  # libsndfile, libsamplerate, toml++, CLI11: the engine and the nowait app;
  # cpp-httplib, nlohmann-json: its HTTP server and dashboard.
  [build]="g++ make cmake ninja-build pkg-config libsndfile1-dev libsamplerate0-dev libtomlplusplus-dev libcli11-dev libcpp-httplib-dev nlohmann-json3-dev"
  # clang-22 + its runtime: the rtsan preset (-fsanitize=realtime, -Wfunction-effects).
  # clang-format: the formatting check (Debian 12's, the version the .clang-format is written for).
  # prometheus: promtool, which checks the registry's exposition format.
  [test]="libgtest-dev clang-22 libclang-rt-22-dev clang-format prometheus g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
  # Debian's chromium: the dashboard's real-browser test (playwright-core from
  # npm drives it; see the npm step below). Node.js >= 20 comes with the
  # machine; Debian's own nodejs is installed only when there is none.
  [browser]="chromium"
  [bench]="libbenchmark-dev libboost-dev libreaderwriterqueue-dev libatomic-queue-dev gnuplot-nox python3"
)

[ $# -gt 0 ] || set -- build
wanted=()
for group in "$@"; do
  [ -n "${GROUP[$group]+x}" ] || { echo "deps.sh: unknown group '$group' (known: ${!GROUP[*]})" >&2; exit 2; }
  for pkg in ${GROUP[$group]}; do wanted+=("$pkg"); done
done

browser=false
for group in "$@"; do [ "$group" = browser ] && browser=true; done
if $browser && ! command -v node >/dev/null; then wanted+=(nodejs npm); fi

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: these packages are missing and installing them needs root." >&2
    echo "deps.sh: run as root, or install them yourself: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The browser test's npm packages (playwright-core, pinned by the lock file),
# installed into tests/browser/node_modules when missing or out of date.
if $browser; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  dir=$root/tests/browser
  stamp=$dir/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "deps.sh: installing tests/browser's npm packages (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
