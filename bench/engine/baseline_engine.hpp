// bench/engine/baseline_engine.hpp: the engine benchmark's baseline, the seed
// design nowait replaces (issue 5). It mixes exactly like nowait::engine::Engine
// (the same sources, gain ramps, pan law, master gain, meters, master ring and
// scope tap, all taken from the engine's own headers), except for the one
// thing being measured: how each input's samples reach the real-time thread.
//
//   nowait    SpscRing<float> per input: the feeder writes, process() reads a
//             chunk; neither ever waits for the other.
//   baseline  std::deque<float> per input guarded by a std::mutex: the feeder
//             renders a block, locks, appends it, unlocks; process() locks,
//             pops one block, unlocks, mixes. The feeder locks the same mutex
//             to see how full the deque is, so the two sides contend by design,
//             and the deque's chunks are allocated on the feeder and freed on
//             the real-time thread.
//
// Each input's deque is prefilled to the depth of the engine's input ring
// (input_ring_frames()) and each feeder tops it up the way the engine's Feeder
// does: whole blocks while a block fits, then a wait of half a block.
//
//   BaselineEngine engine;
//   engine.prepare(config);      // control: sources, prefilled deques, feeders
//   BaselineClock clock;
//   clock.start(engine);         // RT thread: engine.process() per block
//   clock.stop();                // before the engine goes
//
// Telemetry: process() times itself into a Histogram with the layout of the
// engine's nowait_process_duration_seconds, and counts underrun blocks per
// input, as the engine does.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "engine/format.hpp"
#include "engine/meters.hpp"
#include "engine/mixer.hpp"
#include "engine/scope.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"
#include "engine/thread_priority.hpp"
#include "nowait/metrics.hpp"
#include "nowait/snapshot.hpp"

namespace nwbench {

// The layout of the engine's process-duration histogram (engine.cpp), so the
// two engines' percentiles carry the same bucket error. Thread: any.
// Wait-free; no allocation.
nowait::HistogramLayout process_histogram_layout();

class BaselineEngine {
 public:
  BaselineEngine();
  // stop(). Precondition: no clock is running.
  ~BaselineEngine();
  BaselineEngine(const BaselineEngine&) = delete;
  BaselineEngine& operator=(const BaselineEngine&) = delete;

  // Builds every input (source from engine::default_source_factory, deque
  // prefilled to input_ring_frames() frames, gains from the pan law), the
  // master ring, meters and scope as the engine would for `config` (its
  // sinks are ignored); with FeedMode::threads, then starts one feeder
  // thread per input, which asks for SCHED_FIFO at `feeder_priority` like
  // the engine's feeders (0: normal priority). Throws std::invalid_argument
  // for more than engine::max_inputs inputs, and whatever make_source throws.
  // Precondition: called once. Thread: control. Blocking; allocates.
  void prepare(const nowait::engine::EngineConfig& config,
               nowait::engine::FeedMode mode = nowait::engine::FeedMode::threads,
               int feeder_priority = nowait::engine::feeder_fifo_priority);

  // Mixes one block: for each input, locks its mutex, pops one block from
  // the deque (a shortfall becomes silence and is counted as an underrun),
  // unlocks, applies gain and pan and adds it to the mix; then master gain,
  // clip count, meters, master ring, scope, and the duration histogram.
  // Precondition: prepare() succeeded; calls do not overlap.
  // Thread: RT (one thread at a time). Blocking: it takes every input's
  // mutex, and freeing the deque's emptied chunks calls the allocator. That
  // is the design under test, so it is deliberately not NOWAIT_NONBLOCKING.
  void process() noexcept;

  // Stops and joins the feeder threads. Idempotent. Precondition: no clock
  // is running. Thread: control. Blocking; no allocation.
  void stop();

  // The figures below: thread: any (the histogram's snapshot(): control).
  // Wait-free; no allocation.
  //
  // Durations of every process() call, in nanoseconds.
  nowait::Histogram& process_histogram() noexcept { return process_histogram_; }
  // Underrun blocks of input i (in config order). Precondition: i < input_count().
  std::uint64_t underrun_blocks(std::size_t i) const noexcept { return inputs_[i]->underrun_blocks.value(); }
  std::size_t input_count() const noexcept { return inputs_.size(); }
  // Blocks processed so far.
  std::uint64_t blocks_processed() const noexcept { return blocks_.value(); }
  // Fixed by prepare(); read them after it returns.
  const nowait::engine::StreamFormat& format() const noexcept { return format_; }
  bool prepared() const noexcept { return prepared_; }

  // FeedMode::pull: tops every deque up on the calling thread, as
  // Engine::pull_inputs() does. Does nothing in threads mode.
  // Thread: control. Blocking; allocates (deque chunks).
  void pull_inputs();

 private:
  struct Input {
    std::unique_ptr<nowait::engine::Source> source;
    std::mutex mutex;                // the seed design's lock: guards samples and stop
    std::deque<float> samples;       // interleaved stereo
    std::condition_variable wake;    // the feeder's wait between top-ups; stop() notifies it
    bool stop = false;               // guarded by mutex
    std::vector<float> scratch;      // feeder only: one rendered block
    std::vector<float> block;        // RT only: this block after gain and pan
    nowait::engine::GainRamp left;   // RT only
    nowait::engine::GainRamp right;  // RT only
    nowait::engine::LevelMeter meter;
    nowait::Counter underrun_blocks;
    std::thread feeder;
  };

  void build_output(const nowait::engine::EngineConfig& config);
  void build_input(const nowait::engine::InputConfig& config);
  void top_up(Input& in);
  void feed(Input& in);
  void read_input(Input& in) noexcept;
  void mix_and_publish() noexcept;

  nowait::engine::StreamFormat format_;
  std::size_t block_samples_ = 0;
  std::size_t capacity_samples_ = 0;  // the deque's prefill depth, in samples
  bool prepared_ = false;
  nowait::engine::FeedMode feed_ = nowait::engine::FeedMode::threads;
  int feeder_priority_ = 0;
  std::chrono::nanoseconds poll_{};  // the feeders' wait between top-ups
  std::vector<std::unique_ptr<Input>> inputs_;

  std::unique_ptr<float[]> master_;
  nowait::engine::GainRamp master_gain_;
  nowait::engine::LevelMeter master_meter_;
  std::optional<nowait::engine::MasterRing::Writer> master_writer_;
  std::optional<nowait::engine::MasterRing> master_hub_;
  std::optional<nowait::TripleBuffer<nowait::engine::MeterFrame>::Writer> meter_writer_;
  std::optional<nowait::TripleBuffer<nowait::engine::MeterFrame>::Reader> meter_reader_;
  nowait::engine::ScopeTap scope_tap_;
  std::optional<nowait::engine::ScopeRing::Consumer> scope_reader_;
  nowait::Counter scope_dropped_;
  nowait::Counter clipped_samples_;
  nowait::Counter blocks_;
  nowait::Histogram process_histogram_;
};

// The baseline's clock thread, built like engine::VirtualClockDriver: it
// sleeps to absolute deadlines t0 + n * block_frames / rate with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), asks for SCHED_FIFO, calls
// process() once per block, and counts a deadline miss when a process() ends
// after the next block is due (a late block is processed at once, so the
// clock catches up without skipping).
class BaselineClock {
 public:
  explicit BaselineClock(bool realtime_priority = true, int priority = nowait::engine::clock_fifo_priority);
  ~BaselineClock();
  BaselineClock(const BaselineClock&) = delete;
  BaselineClock& operator=(const BaselineClock&) = delete;

  // Begins calling engine.process() once per block on a new thread, which
  // inherits the caller's CPU affinity. Precondition: engine is prepared and
  // outlives the run; not started. Throws std::logic_error otherwise.
  // Thread: control. Blocking; allocates (the thread).
  void start(BaselineEngine& engine);
  // Returns after the last process() has returned. Idempotent.
  // Thread: control. Blocking; no allocation.
  void stop();

  // Deadline misses, frames processed, and whether the clock thread got
  // SCHED_FIFO (valid once the first block ran). Thread: any. Wait-free; no
  // allocation.
  std::uint64_t deadline_misses() const noexcept {
    return misses_.load(std::memory_order_relaxed);  // relaxed: a count; nothing is read on its strength
  }
  std::uint64_t frames() const noexcept {
    return frames_.load(std::memory_order_relaxed);  // relaxed: a figure
  }
  bool realtime() const noexcept {
    return realtime_.load(std::memory_order_relaxed);  // relaxed: a figure
  }

 private:
  void run(BaselineEngine& engine) noexcept;

  bool realtime_priority_;
  int priority_;
  std::thread thread_;
  // Relaxed except stop_: figures read for the report.
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<bool> realtime_{false};
};

}  // namespace nwbench
