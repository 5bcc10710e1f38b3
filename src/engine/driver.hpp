// nowait engine: drivers call Engine::process() once per block.
//
// A Driver owns the real-time thread: the virtual clock below has one of its
// own; a device driver (JACK, PortAudio: later issues) will call process()
// from the device's callback thread instead, which is why process() takes no
// arguments and keeps all its state in the engine.
//
// The virtual clock sleeps to absolute deadlines with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): block n is due at
// t0 + n * block_frames / rate, computed exactly in integer nanoseconds from
// the frame count, so sleep error never accumulates. It measures:
//   drift_ms        at each wake-up, (monotonic time since t0) - (frames
//                   processed so far / rate), in ms: how far the audio clock
//                   trails the wall clock. It is reported, never corrected by
//                   skipping or repeating samples.
//   deadline misses a process() that ends after the next block is due.
// A late block is processed at once, so the clock catches up without skipping.
//
// Offline render calls the same process() with no clock, pulling every input
// synchronously before each block, so a render and a real-time run of one
// config produce the same samples.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <thread>

#include "engine/engine.hpp"
#include "engine/thread_priority.hpp"

namespace nowait::engine {

// Nanoseconds from t0 to the start of the block that begins at `frames`:
// exact integer arithmetic on the frame count (no accumulated increment, and
// no overflow for any run shorter than centuries). Thread: any. Wait-free.
std::int64_t frames_to_ns(std::uint64_t frames, int rate) noexcept;

// Sleeps until `when` on CLOCK_MONOTONIC (nanoseconds, as monotonic_ns()),
// with clock_nanosleep(TIMER_ABSTIME), resuming after signals. Thread: a
// clock thread. Blocking.
void sleep_until_ns(std::int64_t when) noexcept;

class Driver {
 public:
  virtual ~Driver() = default;

  // Begins calling engine.process() once per block on the driver's thread.
  // Precondition: the engine is prepared and outlives the driver's run; the
  // driver is not started. Throws std::logic_error otherwise, std::system_error
  // when no thread can be made. Thread: control. Blocking.
  virtual void start(Engine& engine) = 0;

  // Stops calling process(); returns after the last call has returned.
  // Idempotent. Thread: control. Blocking.
  virtual void stop() = 0;

  // "virtual", "jack", ... Thread: any.
  virtual std::string_view name() const noexcept = 0;
};

struct VirtualClockOptions {
  // Ask for SCHED_FIFO at `priority`; when not permitted, say so once on
  // stderr and run at normal priority.
  bool realtime_priority = true;
  int priority = clock_fifo_priority;
};

class VirtualClockDriver final : public Driver {
 public:
  explicit VirtualClockDriver(VirtualClockOptions options = {});
  ~VirtualClockDriver() override;

  void start(Engine& engine) override;
  void stop() override;
  std::string_view name() const noexcept override { return "virtual"; }

  // Frames processed since start(). Thread: any. Wait-free.
  std::uint64_t frames() const noexcept { return frames_.load(std::memory_order_relaxed); }
  // Deadline misses since start(). Thread: any. Wait-free.
  std::uint64_t deadline_misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
  // The latest drift measurement, in ms. Thread: any. Wait-free.
  double drift_ms() const noexcept { return drift_ms_.load(std::memory_order_relaxed); }
  // The largest drift since start(), in ms: the longest the clock thread was
  // kept from a block it was due to run. A value above what the input rings
  // hold means the inputs had to run dry however fast they are fed.
  // Thread: any. Wait-free.
  double max_drift_ms() const noexcept { return max_drift_ms_.load(std::memory_order_relaxed); }
  // Whether the clock thread got SCHED_FIFO (valid once the first block ran).
  bool realtime() const noexcept { return realtime_.load(std::memory_order_relaxed); }
  // Monotonic seconds from t0 (the first block's deadline) to the clock
  // thread's last wake-up, the one at which it saw the stop; while running, to
  // now. frames() / rate trails it by the wake-up latency only.
  // Thread: any. Wait-free.
  double elapsed_seconds() const noexcept;

 private:
  void run(Engine& engine) noexcept;

  VirtualClockOptions options_;
  std::thread thread_;
  // Relaxed: flags and figures read for status; stop_ is acquire/release.
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<double> drift_ms_{0.0};
  std::atomic<double> max_drift_ms_{0.0};
  std::atomic<bool> realtime_{false};
  std::atomic<std::int64_t> t0_ns_{0};
  std::atomic<std::int64_t> end_ns_{0};  // 0 while running
};

// The driver a config names ("virtual"). Throws std::invalid_argument for a
// driver this build does not have. Thread: control.
std::unique_ptr<Driver> make_driver(const EngineConfig& config);

// Offline render: for each block, waits for lagging sinks
// (Engine::wait_for_sinks), pulls every input (FeedMode::pull), calls
// engine.process(), hands the master block to on_block (the last one cut to
// `frames`) and services command replies. Returns the frames rendered
// (= frames). A command submitted from on_block is applied in the next block.
// Precondition: the engine was prepared with FeedMode::pull and no driver
// runs; throws std::logic_error otherwise. Thread: control (it is the RT
// thread for the duration). Blocking.
std::uint64_t render(Engine& engine, std::uint64_t frames,
                     const std::function<void(std::span<const float>)>& on_block);

}  // namespace nowait::engine
