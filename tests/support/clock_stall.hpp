// Tells a real-time test run that the machine stalled from one that did not.
//
// The input rings hold 4096 frames (85 ms at 48 kHz). If the whole process is
// kept off the CPUs for longer than that (a hypervisor taking both vCPUs of a
// shared machine; the clock thread is SCHED_FIFO, so nothing inside the guest
// does it), the clock catches up on the blocks it missed faster than any
// feeder can refill, and an input runs dry: the engine working as designed.
// A run that asserts no underrun proves nothing after such a stall, so tests
// run it again; the clock's own largest drift says whether it happened.
#pragma once

#include <cstdio>

#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "engine/feeder.hpp"

namespace nowait::test {

// The longest stall the input rings are sure to ride out, in ms: their depth
// less two blocks (a feeder tops up every half block, so a ring may be up to
// a block and a half short of full when the stall begins).
inline double ring_ride_out_ms(const engine::StreamFormat& format) {
  const auto frames = static_cast<double>(engine::input_ring_frames(format)) - 2.0 * format.block_frames;
  return frames * 1e3 / format.sample_rate;
}

// The most runs a test makes; the last is judged whatever happened.
inline constexpr int max_runs = 3;

// After a run: whether the clock was kept from a block for longer than the
// rings ride out, and this was not the last run allowed. Prints why.
inline bool run_again_after_stall(const engine::VirtualClockDriver& driver, const engine::Engine& engine,
                                  int run) {
  const double limit = ring_ride_out_ms(engine.format());
  if (driver.max_drift_ms() < limit || run >= max_runs) return false;
  std::printf(
      "run %d: the clock was kept from a block for %.1f ms, longer than the %.1f ms the input "
      "rings ride out (the machine stalled); running again\n",
      run, driver.max_drift_ms(), limit);
  return true;
}

}  // namespace nowait::test
