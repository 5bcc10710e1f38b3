// Scales stress-test counts to the build: large counts in optimised builds
// without sanitizers, small ones under sanitizers and in debug builds, where
// each operation is 5-50x slower but still explores the interleavings.
#pragma once

#include <cstdint>

namespace nowait::test {

// NOWAIT_STRESS_FULL is defined by the build (CMake option NOWAIT_STRESS_FULL)
// for the release preset only.
#if defined(NOWAIT_STRESS_FULL)
inline constexpr bool stress_full = true;
#else
inline constexpr bool stress_full = false;
#endif

// Returns `full` in the release stress build and `reduced` everywhere else.
constexpr std::uint64_t stress_count(std::uint64_t full, std::uint64_t reduced) {
  return stress_full ? full : reduced;
}

}  // namespace nowait::test
