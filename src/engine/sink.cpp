// The Sink base: the sink thread, its read loop and its status. The loop's
// contract, and why it polls instead of being woken, are in sink.hpp.
#include "engine/sink.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/null_sink.hpp"
#include "engine/recorder.hpp"

namespace nowait::engine {

const char* to_string(SinkState state) noexcept {
  switch (state) {
    case SinkState::idle:
      return "idle";
    case SinkState::running:
      return "running";
    case SinkState::stopped:
      return "stopped";
    case SinkState::failed:
      return "failed";
  }
  return "unknown";
}

struct Sink::Impl {
  Impl(std::string sink_name, std::string type) : name(std::move(sink_name)) {
    status.name = name;
    status.type = std::move(type);
  }

  void run(Sink& sink, MasterRing::Reader reader, StreamFormat format) noexcept;
  void count_item(const StreamFormat& format);
  void count_dropout(const ReadResult& result, const StreamFormat& format);
  void finish(Sink& sink, SinkState state, std::string error) noexcept;

  std::string name;  // a copy the sink thread reads without the mutex; changed only before start()
  mutable std::mutex mutex;
  SinkStatus status;  // guarded by mutex

  // Set by stop(); the sink thread drains the ring once it sees it.
  std::atomic<bool> stop_requested{false};
  std::thread thread;    // control thread only
  bool started = false;  // control thread only

  // Sink thread only: the latest report_bytes(), published with the next counters.
  std::uint64_t pending_bytes = 0;
};

void Sink::Impl::run(Sink& sink, MasterRing::Reader reader, const StreamFormat format) noexcept {
  try {
    sink.open(format);
  } catch (const std::exception& e) {
    finish(sink, SinkState::failed, e.what());
    return;
  } catch (...) {
    finish(sink, SinkState::failed, "open failed with an unknown exception");
    return;
  }
  try {
    std::vector<float> block(format.block_samples());
    const auto idle_wait = std::chrono::duration<double>(format.block_seconds() / 4);
    for (;;) {
      sink.checkpoint();
      // Acquire: pairs with the release in stop(), so every block written
      // before stop() was called is visible to the read below; an empty read
      // after seeing the flag means all of them have been consumed.
      const bool stopping = stop_requested.load(std::memory_order_acquire);
      const ReadResult result = reader.read(block);
      switch (result.status) {
        case ReadStatus::item:
          sink.consume(block, result.sequence);
          count_item(format);
          break;
        case ReadStatus::dropout:
          count_dropout(result, format);
          break;
        case ReadStatus::empty:
          if (stopping) {
            finish(sink, SinkState::stopped, {});
            return;
          }
          // Polling, not waiting to be woken: see the file comment in sink.hpp.
          std::this_thread::sleep_for(idle_wait);
          break;
      }
    }
  } catch (const std::exception& e) {
    finish(sink, SinkState::failed, e.what());
  } catch (...) {
    finish(sink, SinkState::failed, "failed with an unknown exception");
  }
}

void Sink::Impl::count_item(const StreamFormat& format) {
  const std::scoped_lock lock(mutex);
  ++status.blocks_written;
  status.frames_written += static_cast<std::uint64_t>(format.block_frames);
  status.bytes_written = pending_bytes;
}

void Sink::Impl::count_dropout(const ReadResult& result, const StreamFormat& format) {
  // result.sequence is where the reader resumes; the loss began `lost` blocks before it.
  const std::uint64_t first_lost = result.sequence - result.lost;
  std::fprintf(stderr, "%s: lost %" PRIu64 " blocks (%.3f s) at %.3f s\n", name.c_str(), result.lost,
               static_cast<double>(result.lost) * format.block_seconds(),
               static_cast<double>(first_lost) * format.block_seconds());
  const std::scoped_lock lock(mutex);
  if (status.dropouts == 0) status.first_lost_block = first_lost;
  status.last_lost_block = first_lost;
  ++status.dropouts;
  status.blocks_lost += result.lost;
}

void Sink::Impl::finish(Sink& sink, SinkState state, std::string error) noexcept {
  // Close before publishing the final state: whoever sees stopped or failed
  // may open the file at once.
  sink.close();
  const std::scoped_lock lock(mutex);
  status.state = state;
  status.error = std::move(error);
  status.bytes_written = pending_bytes;
}

Sink::Sink(std::string name, std::string type)
    : impl_(std::make_unique<Impl>(std::move(name), std::move(type))) {}

Sink::~Sink() {
  if (impl_->thread.joinable()) {
    std::fprintf(stderr, "nowait: sink '%s' destroyed while running; its destructor must call stop()\n",
                 impl_->name.c_str());
    std::abort();
  }
}

void Sink::start(MasterRing::Reader reader, const StreamFormat& format) {
  if (impl_->started) throw std::logic_error("nowait::engine::Sink::start: already started");
  {
    const std::scoped_lock lock(impl_->mutex);
    impl_->status.state = SinkState::running;
    impl_->status.start_block = reader.position();
  }
  impl_->started = true;
  impl_->thread = std::thread(
      [this, r = std::move(reader), format]() mutable { impl_->run(*this, std::move(r), format); });
}

void Sink::stop() {
  if (!impl_->thread.joinable()) return;
  // Release: pairs with the sink thread's acquire; see Impl::run.
  impl_->stop_requested.store(true, std::memory_order_release);
  interrupt();
  impl_->thread.join();
}

SinkStatus Sink::status() const {
  const std::scoped_lock lock(impl_->mutex);
  return impl_->status;
}

void Sink::rename(std::string name) {
  if (impl_->started) throw std::logic_error("Sink::rename: the sink has started");
  const std::scoped_lock lock(impl_->mutex);
  impl_->status.name = name;
  impl_->name = std::move(name);
}

void Sink::set_path(std::string path) {
  const std::scoped_lock lock(impl_->mutex);
  impl_->status.path = std::move(path);
}

void Sink::report_bytes(std::uint64_t bytes) noexcept { impl_->pending_bytes = bytes; }

// The format is unused so far: every sink takes it at start().
std::unique_ptr<Sink> make_sink(const SinkConfig& config, const StreamFormat& /*format*/) {
  if (config.type == "recorder")
    return std::make_unique<RecorderSink>(config.path, config.format, config.sample_format);
  if (config.type == "null") return std::make_unique<NullSink>();
  throw std::invalid_argument("unknown sink type '" + config.type + "' (allowed: \"recorder\", \"null\")");
}

}  // namespace nowait::engine
