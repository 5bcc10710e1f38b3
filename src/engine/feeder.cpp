#include "engine/feeder.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "engine/thread_priority.hpp"

namespace nowait::engine {

std::size_t input_ring_frames(const StreamFormat& format) noexcept {
  const auto block = static_cast<std::size_t>(format.block_frames);
  const std::size_t wanted = std::max<std::size_t>(4096, 4 * block);
  return (wanted + block - 1) / block * block;
}

namespace {

// Half a block, within 0.5 .. 5 ms: often enough that a full ring never runs
// dry (it holds at least 4096 frames, 85 ms at 48 kHz), rarely enough to cost
// nothing.
std::chrono::nanoseconds poll_for(const StreamFormat& format) {
  const double half_block_ns = format.block_seconds() * 0.5e9;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::clamp(half_block_ns, 0.5e6, 5e6)));
}

}  // namespace

Feeder::Feeder(std::string name, std::unique_ptr<Source> source, InputRing::Producer ring,
               const StreamFormat& format, Counter& overrun_frames)
    : name_(std::move(name)),
      source_(std::move(source)),
      ring_(std::move(ring)),
      scratch_(format.block_samples()),
      block_frames_(static_cast<std::size_t>(format.block_frames)),
      overrun_frames_(overrun_frames),
      poll_(poll_for(format)) {
  if (!source_) throw std::invalid_argument("Feeder: no source for input '" + name_ + "'");
}

Feeder::~Feeder() { stop(); }

std::size_t Feeder::top_up() {
  std::size_t pushed = 0;
  while (ring_ && ring_->slots() >= scratch_.size()) {
    std::size_t frames = 0;
    try {
      frames = std::min(source_->render(std::span<float>(scratch_)), block_frames_);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        error_ = e.what();
      }
      end_input();
      break;
    }
    const std::size_t samples = frames * channels;
    // Cannot fall short: slots() only grows until this thread pushes.
    ring_->push_slice(std::span<const float>(scratch_.data(), samples));
    pushed += frames;
    frames_pushed_.fetch_add(frames, std::memory_order_relaxed);  // relaxed: a count for status
    if (frames < block_frames_) {
      end_input();
      break;
    }
  }
  return pushed;
}

std::size_t Feeder::push(std::span<const float> frames) noexcept {
  const std::size_t offered = frames.size() / channels;
  if (!ring_) {
    overrun_frames_.add(offered);
    return 0;
  }
  const std::size_t fit = std::min(offered, ring_->slots() / channels);
  ring_->push_slice(frames.first(fit * channels));
  frames_pushed_.fetch_add(fit, std::memory_order_relaxed);  // relaxed: a count for status
  if (fit < offered) overrun_frames_.add(offered - fit);
  return fit;
}

void Feeder::end_input() {
  // Dropping the producer end tells the mixer the input is over: every frame
  // pushed so far stays readable (SpscRing's is_abandoned contract).
  ring_.reset();
  ended_.store(true, std::memory_order_release);  // release: error_ is visible to whoever sees ended
}

void Feeder::start(int fifo_priority) {
  if (thread_.joinable()) throw std::logic_error("Feeder::start: already started");
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = false;
  }
  thread_ = std::thread([this, fifo_priority] { run(fifo_priority); });
}

void Feeder::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string Feeder::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

void Feeder::run(int fifo_priority) {
  static std::atomic<bool> warned_no_fifo{false};
  if (fifo_priority > 0) request_fifo_priority(fifo_priority, "input feeders", warned_no_fifo);
  for (;;) {
    top_up();
    if (ended()) return;
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, poll_, [this] { return stop_requested_; })) return;
  }
}

}  // namespace nowait::engine
