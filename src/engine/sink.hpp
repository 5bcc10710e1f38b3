// nowait engine: consumers of the mixed master, each on its own thread.
//
// A sink reads the engine's BroadcastRing of master blocks through its own
// Reader, at its own pace. The RT thread never waits for a sink: one that falls
// behind by more than the ring holds loses blocks, sees Dropout{lost}, counts
// it and carries on. A sink that fails (a file it cannot open, a full disk)
// reports the error in its status and stops reading; the engine and the other
// sinks carry on.
//
// All sinks share one ring, the engine's master ring, sized by the deepest
// sink's buffer_seconds; a sink loses blocks only when the writer laps it.
//
// The sink thread polls: when its reader finds the ring empty it sleeps for a
// quarter of a block period and tries again. It cannot be woken instead,
// because waking it (a futex wake behind a condition variable or semaphore) is
// a system call, and the writer is the RT thread, which must never make one.
// The poll costs at most four wake-ups per block on a thread that is not
// real-time, and adds at most a quarter block of latency to a sink.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "engine/config.hpp"
#include "engine/format.hpp"
#include "nowait/broadcast_ring.hpp"

namespace nowait::engine {

enum class SinkState {
  idle,     // constructed, not started
  running,  // its thread is reading the ring
  stopped,  // stop() drained the ring and closed the sink
  failed,   // open() or consume() threw; `error` says why; the sink is closed and reads no more
};

// "idle", "running", "stopped" or "failed".
const char* to_string(SinkState state) noexcept;

struct SinkStatus {
  std::string name;  // e.g. "recorder"
  std::string type;  // "recorder" or "null"
  SinkState state = SinkState::idle;
  std::string error;                 // why it failed, when state == failed
  std::string path;                  // recorder: the file being written
  std::uint64_t blocks_written = 0;  // blocks consumed
  std::uint64_t frames_written = 0;
  std::uint64_t bytes_written = 0;  // recorder: bytes in the file so far, header included
  std::uint64_t dropouts = 0;       // dropout events
  std::uint64_t blocks_lost = 0;    // blocks lost in them, exactly
  // Sequence numbers where the first and the latest dropout began (valid when dropouts > 0).
  std::uint64_t first_lost_block = 0;
  std::uint64_t last_lost_block = 0;
  // The reader's position at start(): the first block this sink could see. So
  // start_block + blocks_written + blocks_lost is where its reader stands.
  std::uint64_t start_block = 0;
};

using MasterRing = BroadcastRing<float>;

// The base of every sink: owns the sink thread and the read loop; a concrete
// sink implements open/consume/close. Thread: control for the public calls.
//
// The loop, on the sink thread:
//   open(format); then repeatedly:
//     checkpoint(); note whether stop() was requested; read one block:
//     item    -> consume(block, sequence), count it;
//     dropout -> count the event and the exact blocks lost, remember where the
//                first and latest losses began, log one line to stderr:
//                "<name>: lost 12 blocks (0.032 s) at 12.345 s" (stream time:
//                the lost block's sequence number times the block period);
//     empty   -> if stop() had been requested before this read, everything
//                written before stop() has been consumed: leave; else sleep a
//                quarter of a block period (see the file comment for why it polls).
//   close().
// open() or consume() throwing sets state failed with the exception's text,
// calls close() and ends the thread; nothing else notices.
//
// Every concrete sink's destructor must call stop() before its own members
// go: the sink thread calls its virtual functions until stop() returns.
class Sink {
 public:
  // Precondition: stop() has been called (by the concrete sink's destructor);
  // a sink destroyed with its thread still running aborts the process.
  virtual ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Starts the sink thread reading `reader` (blocks of format.block_samples()
  // floats) from the reader's current position on.
  // Precondition: reader's ring has slot_elements() == format.block_samples().
  // Throws std::logic_error if the sink was already started, std::system_error
  // if no thread can be made.
  // Thread: control. Blocking; allocates.
  void start(MasterRing::Reader reader, const StreamFormat& format);

  // Asks the sink to consume every block already written, close, and stop;
  // returns when its thread has finished. Idempotent; does nothing to a sink
  // that was never started. Thread: control. Blocking.
  void stop();

  // Gives the sink another name (status().name, its log lines). The engine
  // uses it to tell two sinks of one type apart. Throws std::logic_error once
  // the sink has started. Thread: control. Blocking; allocates.
  void rename(std::string name);

  // A consistent copy of the sink's state and counters. Thread: any non-RT.
  // Blocking (a short mutex shared with the sink thread); allocates.
  SinkStatus status() const;

 protected:
  Sink(std::string name, std::string type);

  // Called on the sink thread before the first block; throw to fail the sink.
  virtual void open(const StreamFormat& format) = 0;
  // Called on the sink thread for each block, in sequence order; throw to fail.
  virtual void consume(std::span<const float> block, std::uint64_t sequence) = 0;
  // Called on the sink thread once, at stop or failure (also after a failed open).
  virtual void close() noexcept = 0;
  // Called on the sink thread before every read attempt. May block (a test
  // sink parks here); must return soon after interrupt(). Default: nothing.
  virtual void checkpoint() {}
  // Called by stop() on the control thread once the stop is requested, so that
  // a sink blocked in checkpoint() or consume() (say, waiting to reconnect)
  // can give up waiting. Default: nothing.
  virtual void interrupt() noexcept {}

  // For concrete sinks, any thread: sets status().path.
  void set_path(std::string path);
  // For concrete sinks, on the sink thread only: the file's size so far. It is
  // published in status() with the next block's counters, so a status never
  // shows bytes from a block it does not yet count.
  void report_bytes(std::uint64_t bytes) noexcept;

 private:
  // Defined in sink.cpp.
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds a sink from its config: "recorder" (a RecorderSink, see recorder.hpp)
// or "null" (a NullSink, see null_sink.hpp). The sink's name is its type.
// Throws std::invalid_argument for an unknown type or options the sink cannot
// use (an empty path, FLAC with float samples), naming the value and what is
// allowed. Thread: control. Blocking; allocates.
std::unique_ptr<Sink> make_sink(const SinkConfig& config, const StreamFormat& format);

}  // namespace nowait::engine
