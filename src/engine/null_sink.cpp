// The null sink and its pause hook: see null_sink.hpp.
#include "engine/null_sink.hpp"

#include <stdexcept>
#include <utility>

namespace nowait::engine {

NullSink::NullSink(std::string name) : Sink(std::move(name), "null") {}

NullSink::~NullSink() { stop(); }

void NullSink::pause() {
  if (status().state != SinkState::running)
    throw std::logic_error("NullSink::pause: the sink is not running");
  std::unique_lock lock(mutex_);
  pause_requested_ = true;
  changed_.wait(lock, [this] { return parked_; });
}

void NullSink::resume() {
  {
    const std::scoped_lock lock(mutex_);
    pause_requested_ = false;
  }
  changed_.notify_all();
}

void NullSink::open(const StreamFormat& /*format*/) {}

void NullSink::consume(std::span<const float> /*block*/, std::uint64_t /*sequence*/) {}

void NullSink::close() noexcept {}

void NullSink::checkpoint() {
  std::unique_lock lock(mutex_);
  if (!pause_requested_) return;
  parked_ = true;
  changed_.notify_all();
  changed_.wait(lock, [this] { return !pause_requested_; });
  parked_ = false;
}

void NullSink::interrupt() noexcept { resume(); }

}  // namespace nowait::engine
