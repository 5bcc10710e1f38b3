// bench/engine/runs.hpp: one measured point of the engine benchmark: an
// engine (nowait or the mutex baseline) with N stereo tone inputs at 48 kHz
// and 128-frame blocks, run for a fixed wall time either on its clock thread
// (optionally against a competing CPU load) or pulled back to back with no
// clock (the clock-free CPU cost of a block).
#pragma once

#include <cstdint>
#include <string>

#include "engine/config.hpp"
#include "engine/thread_priority.hpp"
#include "load.hpp"

namespace nwbench {

enum class EngineKind { nowait, baseline };
// "nowait" or "baseline". Thread: any. Wait-free; no allocation.
const char* name_of(EngineKind kind) noexcept;

struct RunSpec {
  EngineKind engine = EngineKind::nowait;
  int inputs = 1;
  double seconds = 5.0;
  bool pull = false;        // no clock: pull the inputs, then process(), back to back
  bool contention = false;  // clocked only: a process spinning on cpus.b for the whole run
  // Both engines' feeders ask for SCHED_FIFO at this priority (0: normal
  // priority); the default is the engine's.
  int feeder_priority = nowait::engine::feeder_fifo_priority;
  Cpus cpus;
};

// The figures of one point. Durations are of process() calls, in µs, from
// histograms with the engine's process-duration layout (< 3.2% bucket error;
// max is exact). Every block from the first is counted, for both engines.
struct RunResult {
  RunSpec spec;
  std::uint64_t blocks = 0;
  double wall_seconds = 0.0;
  double p50_us = 0.0;
  double p99_us = 0.0;
  double p999_us = 0.0;
  double max_us = 0.0;
  double mean_us = 0.0;
  std::uint64_t deadline_misses = 0;  // clocked only
  std::uint64_t underrun_blocks = 0;  // summed over the inputs
  int inputs_with_underruns = 0;
  bool realtime = false;          // the clock thread got SCHED_FIFO (clocked only)
  double cpu_us_per_block = 0.0;  // pull only: thread CPU time of process(), per block
};

// The config of a point: `inputs` inputs "in 1".."in N", each a tone of its own
// frequency (110 Hz + 50 Hz * i) at -12 dBFS, panned evenly from left to
// right, the master gain at -20 log10(N) dB so the mix does not clip; 48 kHz,
// 128-frame blocks, the default scope rate, no sinks. Thread: any. Blocking;
// allocates.
nowait::engine::EngineConfig make_config(int inputs);

// Runs one point. Thread: control (it spawns the engine's threads).
// Blocking for about spec.seconds; allocates.
RunResult run_point(const RunSpec& spec);

// The block period at the bench's format, in µs (2666.7 at 48 kHz / 128).
// Thread: any. Wait-free; no allocation.
double block_period_us();

}  // namespace nwbench
