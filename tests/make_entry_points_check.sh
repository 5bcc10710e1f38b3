#!/usr/bin/env bash
# Every entry point the README gives a new user must install its packages
# before it builds: `make -n TARGET` (which prints the recipes without running
# them) has to show scripts/deps.sh with the target's package groups ahead of
# the first cmake step. A target whose install step is skipped -- as happens
# when it depends on a .PHONY target that only a pattern rule could make --
# fails here instead of on a user's fresh machine.
#
#   tests/make_entry_points_check.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: make_entry_points_check.sh SOURCE_DIR}

declare -A want=(
  [run]="build"
  [bench]="build bench"
  [test]="build test bench browser"
)

failed=0
for target in run test bench; do
  plan=$(make --no-print-directory -n -C "$src" "$target" 2>&1)
  deps_at=$(grep -n -m1 'scripts/deps\.sh' <<<"$plan" | cut -d: -f1)
  cmake_at=$(grep -n -m1 -E '^cmake |[ ;]cmake ' <<<"$plan" | cut -d: -f1)
  if [ -z "$deps_at" ]; then
    echo "FAIL make $target: no scripts/deps.sh step; a fresh machine would not get its packages"
    failed=1
    continue
  fi
  if [ -n "$cmake_at" ] && [ "$deps_at" -gt "$cmake_at" ]; then
    echo "FAIL make $target: scripts/deps.sh (line $deps_at) comes after the first cmake step (line $cmake_at)"
    failed=1
    continue
  fi
  groups=$(sed -n "${deps_at}p" <<<"$plan" | sed -E 's/.*scripts\/deps\.sh *//')
  if [ "$groups" != "${want[$target]}" ]; then
    echo "FAIL make $target: installs groups '$groups', expected '${want[$target]}'"
    failed=1
    continue
  fi
  echo "ok   make $target: scripts/deps.sh $groups, before it builds"
done
exit $failed
