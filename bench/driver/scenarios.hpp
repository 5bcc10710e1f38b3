// bench/driver/scenarios.hpp: the scenarios of the cross-thread driver. Each
// scenario has one driver function, templated on the adapter, and runs every
// peer through it; results go to results() and floors().
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "harness.hpp"

namespace nwbench {

// The physical floors measured in this run.
struct Floors {
  double round_trip_ns = std::nan("");   // median cache-line round trip between the two cores
  double memcpy_16k_gbs = std::nan("");  // single-core memcpy bandwidth, 16 KiB buffers (L1/L2)
  double memcpy_8m_gbs = std::nan("");   // single-core memcpy bandwidth, 8 MiB buffers (beyond L2)
};

inline Floors& floors() {
  static Floors f;
  return f;
}

inline std::vector<CaseResult>& results() {
  static std::vector<CaseResult> r;
  return r;
}

// Counts a full run uses; main() may override them from the command line.
struct Counts {
  std::uint64_t spsc_items =
      10'000'000;  // scenario 1, per run (the 1e8 does not fit the time budget)
  std::uint64_t round_trips = 1'000'000;   // scenario 2, per run
  std::uint64_t bulk_samples = 16u << 20;  // scenario 3, per run
  std::uint64_t broadcast_blocks =
      200'000;  // scenario 4, flat out, per run: long enough for 4 readers to share core B
  std::uint64_t broadcast_paced_blocks = 2'000;
  std::int64_t broadcast_pace_ns = 20'000;
  std::uint64_t contended_pushes = 200'000;  // scenario 5, per run
};

inline Counts& counts() {
  static Counts c;
  return c;
}

void scenario_floors();
void scenario_spsc_throughput();
void scenario_round_trip();
void scenario_bulk();
void scenario_broadcast();
void scenario_mutex_vs_lockfree();
void scenario_telemetry();
void scenario_snapshots();
void scenario_histogram();

}  // namespace nwbench
