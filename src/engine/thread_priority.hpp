// nowait engine: asking the scheduler for real-time priority. The virtual
// clock's thread (the RT thread) and the input feeders ask for SCHED_FIFO,
// the feeders below the RT thread, so that ordinary load on the machine can
// starve neither the mix nor the rings that feed it.
#pragma once

#include <atomic>

namespace nowait::engine {

// The RT thread's and the feeders' default SCHED_FIFO priorities (1..99).
inline constexpr int clock_fifo_priority = 70;
inline constexpr int feeder_fifo_priority = 50;

// Switches the calling thread to SCHED_FIFO at `priority` (clamped to the
// system's range). When that is not permitted, writes one line to stderr,
// "nowait: <who>: SCHED_FIFO not permitted (<reason>); running at normal
// priority", the first time `warned` is seen false, and returns false; the
// thread runs on at normal priority. Thread: the thread to change. Blocking
// (one system call); no allocation.
bool request_fifo_priority(int priority, const char* who, std::atomic<bool>& warned) noexcept;

}  // namespace nowait::engine
