// nowait engine: a sink that reads and discards, for tests and for measuring
// the ring without a disk in the way.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "engine/sink.hpp"

namespace nowait::engine {

// Counts blocks (status().blocks_written) and dropouts like any sink, and has
// a test hook to stall it deterministically: pause() parks the sink thread
// between two reads and returns once it is parked; resume() lets it carry on
// from the same reader position. While it is parked the writer may lap it;
// its next read then reports exactly the blocks it missed.
class NullSink final : public Sink {
 public:
  explicit NullSink(std::string name = "null");
  ~NullSink() override;

  // Parks the sink thread before its next read and returns once it is parked,
  // with every block it has consumed already counted in status().
  // Precondition: started, and not stopped. Throws std::logic_error otherwise.
  // Thread: control. Blocking (until the sink thread reaches its next read:
  // at most one block's consumption or a quarter block period).
  void pause();

  // Lets a paused sink thread read again. Also done by stop(). Thread: control.
  void resume();

 private:
  void open(const StreamFormat& format) override;
  void consume(std::span<const float> block, std::uint64_t sequence) override;
  void close() noexcept override;
  void checkpoint() override;
  void interrupt() noexcept override;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool pause_requested_ = false;  // guarded by mutex_
  bool parked_ = false;           // guarded by mutex_
};

}  // namespace nowait::engine
