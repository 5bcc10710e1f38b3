// How the core's death tests run their child process.
#pragma once

#include <cstdlib>

#include <gtest/gtest.h>

namespace nowait::test {

// Re-exec mode ("threadsafe"): forking a process that may hold sanitizer
// threads is only safe when the child starts afresh. An explicit
// GTEST_DEATH_TEST_STYLE wins, though: under qemu-user an Arm binary cannot
// re-exec itself (there is no binfmt_misc entry to run it), so the aarch64
// run (scripts/test-aarch64.sh) asks for "fast", a plain fork, which is safe
// there because the test process holds no other thread.
inline void use_reexec_death_tests_unless_told_otherwise() {
  if (std::getenv("GTEST_DEATH_TEST_STYLE") == nullptr) GTEST_FLAG_SET(death_test_style, "threadsafe");
}

}  // namespace nowait::test
