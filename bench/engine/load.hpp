// bench/engine/load.hpp: where the engine benchmark's threads run, and the
// competing CPU load of its contention scenario.
//
// Placement. The real-time thread (the engine's virtual clock, or the
// baseline's clock) is started from a thread pinned to CPU A for the moment
// of the start, so it inherits CPU A alone; the feeders and the main thread
// keep the process's whole affinity mask and go where the scheduler puts
// them. That is how a deployment looks: one audio thread, helpers floating.
//
// Contention. CompetingLoad forks a child process that pins itself to CPU B
// (the core the real-time thread is not on) with sched_setaffinity and spins
// at normal priority until it is killed by its PID. It cannot preempt a
// SCHED_FIFO thread; it competes with the feeders, which run at normal
// priority, and so, in the baseline, with whoever holds an input's mutex.
#pragma once

#include <sched.h>
#include <sys/types.h>

namespace nwbench {

// The process's CPUs: A for the real-time thread, B for the load (A == B when
// only one CPU is usable). Thread: control. Blocking (a system call); no
// allocation.
struct Cpus {
  int a = 0;
  int b = 0;
  int allowed = 1;  // CPUs in the process's affinity mask
};
Cpus detect_cpus();

// Pins the calling thread to one CPU for its lifetime and then restores the
// affinity it had. Threads it creates meanwhile inherit the pinning.
// Thread: the one that constructs and destroys it. Blocking (system calls);
// no allocation.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu);
  ~ScopedPin();
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

 private:
  cpu_set_t saved_{};
  bool restore_ = false;
};

// A child process spinning on one CPU. Thread: control (fork in a process
// that may have threads: the child only pins itself and spins, both
// async-signal-safe). Blocking; no allocation in this process (fork copies
// its address space, copy-on-write).
class CompetingLoad {
 public:
  CompetingLoad() = default;
  // stop().
  ~CompetingLoad();
  CompetingLoad(const CompetingLoad&) = delete;
  CompetingLoad& operator=(const CompetingLoad&) = delete;

  // Forks the spinner, pinned to `cpu`. Precondition: not running. Throws
  // std::system_error when fork fails.
  void start(int cpu);
  // SIGKILLs the child by its PID and reaps it. Idempotent.
  void stop();
  // Whether a child is running. Wait-free.
  bool running() const noexcept { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

}  // namespace nwbench
