// nowait engine: a Feeder runs one input's Source into the producer end of the
// input's SpscRing<float>, off the RT thread.
//
// It renders in chunks of exactly one block (block_frames frames), whether it
// runs on its own thread or is pulled by an offline render, so the source sees
// the same sequence of render() calls either way and the two give the same
// samples. It renders only into free space: a generator or file feeder is
// paced by the mixer and never overruns. A push-paced producer (a capture
// device, in a later issue) calls push() instead, which counts the frames that
// did not fit as overruns.
//
// Modes:
//   pull      top_up() on the calling thread (the offline render loop, or a
//             prefill before start()); no thread.
//   threaded  start() spawns the producer thread, which tops the ring up and
//             then sleeps for about half a block (it is not real-time, so a
//             short sleep is the honest way to poll), until stop().
// When the source ends (a one-shot file), the feeder pushes what it got and
// then releases its ring endpoint, so the mixer sees the ring abandoned and
// treats the missing frames as the end of the input, not as an underrun.
//
// Thread: every member function is control-side (the thread that owns the
// Feeder), except that top_up()/push() run on the producer thread while it is
// started. The destructor stops the thread and destroys the Source on the
// calling (control) thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/format.hpp"
#include "engine/source.hpp"
#include "nowait/metrics.hpp"
#include "nowait/spsc_ring.hpp"

namespace nowait::engine {

using InputRing = SpscRing<float>;

// The frames an input ring holds: at least 4096 and at least four blocks, a
// whole number of blocks.
std::size_t input_ring_frames(const StreamFormat& format) noexcept;

class Feeder {
 public:
  // Takes the source and the ring's producer end. `overrun_frames` counts
  // frames push() could not fit; it must outlive the feeder.
  // Thread: control. Allocates the render buffer.
  Feeder(std::string name, std::unique_ptr<Source> source, InputRing::Producer ring,
         const StreamFormat& format, Counter& overrun_frames);
  // Stops the thread (if started) and destroys the source on this thread.
  ~Feeder();
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  // Renders block-sized chunks into the ring while a whole block fits and the
  // source has not ended. Returns the frames pushed. A source that throws
  // ends the input (the message is kept in error()).
  // Thread: the owner, or the producer thread once started. Blocking (the
  // source may read a file); no allocation beyond the source's.
  std::size_t top_up();

  // Push-paced input: copies as many whole frames of `frames` (interleaved
  // stereo) as fit, counts the rest in overrun_frames, and returns the frames
  // copied. Thread: as top_up(). Wait-free; no allocation.
  std::size_t push(std::span<const float> frames) noexcept;

  // Starts the producer thread. With fifo_priority > 0 the thread asks for
  // SCHED_FIFO at that priority (see thread_priority.hpp) and runs at normal
  // priority when refused. Precondition: not started. Thread: control.
  void start(int fifo_priority = 0);
  // Stops and joins the producer thread; does nothing if not started.
  // Thread: control. Blocking.
  void stop();

  const std::string& name() const noexcept { return name_; }
  // Whether the source has ended (its ring end is released). Thread: any.
  bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
  // Frames pushed into the ring so far. Thread: any.
  std::uint64_t frames_pushed() const noexcept { return frames_pushed_.load(std::memory_order_relaxed); }
  // Why the source stopped early, or empty. Thread: control.
  std::string error() const;
  // The wait between top-ups on the producer thread.
  std::chrono::nanoseconds poll_interval() const noexcept { return poll_; }

 private:
  void run(int fifo_priority);
  void end_input();

  std::string name_;
  std::unique_ptr<Source> source_;
  std::optional<InputRing::Producer> ring_;
  std::vector<float> scratch_;  // one block, interleaved
  std::size_t block_frames_;
  Counter& overrun_frames_;
  std::chrono::nanoseconds poll_;

  // Relaxed except where noted: they are counters and flags read for status.
  std::atomic<bool> ended_{false};  // release/acquire: error_ is set before it
  std::atomic<std::uint64_t> frames_pushed_{0};

  mutable std::mutex mutex_;  // guards stop_requested_ and error_; never on the RT thread
  std::condition_variable wake_;
  bool stop_requested_ = false;
  std::string error_;
  std::thread thread_;
};

}  // namespace nowait::engine
