#include "engine/driver.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace nowait::engine {

namespace {

std::atomic<bool> warned_no_fifo{false};

}  // namespace

std::int64_t frames_to_ns(std::uint64_t frames, int rate) noexcept {
  const auto r = static_cast<std::uint64_t>(rate);
  return static_cast<std::int64_t>(frames / r * 1'000'000'000ull + frames % r * 1'000'000'000ull / r);
}

void sleep_until_ns(std::int64_t when) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(when / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(when % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

VirtualClockDriver::VirtualClockDriver(VirtualClockOptions options) : options_(options) {}

VirtualClockDriver::~VirtualClockDriver() { stop(); }

void VirtualClockDriver::start(Engine& engine) {
  if (thread_.joinable()) throw std::logic_error("VirtualClockDriver::start: already started");
  if (!engine.prepared()) throw std::logic_error("VirtualClockDriver::start: the engine is not prepared");
  stop_.store(false, std::memory_order_relaxed);
  frames_.store(0, std::memory_order_relaxed);
  max_drift_ms_.store(0.0, std::memory_order_relaxed);
  misses_.store(0, std::memory_order_relaxed);
  end_ns_.store(0, std::memory_order_relaxed);
  t0_ns_.store(0, std::memory_order_relaxed);
  thread_ = std::thread([this, &engine] { run(engine); });
}

void VirtualClockDriver::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);  // release: nothing rides on it but the stop itself
  thread_.join();
}

void VirtualClockDriver::run(Engine& engine) noexcept {
  if (options_.realtime_priority)
    realtime_.store(request_fifo_priority(options_.priority, "virtual clock", warned_no_fifo),
                    std::memory_order_relaxed);
  const StreamFormat format = engine.format();
  const auto block = static_cast<std::uint64_t>(format.block_frames);
  const DriverMetrics metrics = engine.driver_metrics();
  const std::int64_t t0 = monotonic_ns();
  t0_ns_.store(t0, std::memory_order_relaxed);  // relaxed: a figure
  std::uint64_t frames = 0;
  double max_drift = 0.0;
  for (;;) {
    const std::int64_t due = t0 + frames_to_ns(frames, format.sample_rate);
    sleep_until_ns(due);
    if (stop_.load(std::memory_order_acquire)) break;
    const double drift = static_cast<double>(monotonic_ns() - due) / 1e6;
    engine.process();
    frames += block;
    if (monotonic_ns() > t0 + frames_to_ns(frames, format.sample_rate)) {
      metrics.deadline_misses.add(1);
      misses_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
    }
    metrics.drift_ms.set(drift);
    drift_ms_.store(drift, std::memory_order_relaxed);  // relaxed: a figure
    if (drift > max_drift) {
      max_drift = drift;
      max_drift_ms_.store(drift, std::memory_order_relaxed);  // relaxed: a figure
    }
    frames_.store(frames, std::memory_order_relaxed);  // relaxed: a figure
  }
  end_ns_.store(monotonic_ns(),
                std::memory_order_relaxed);  // relaxed: a figure; join() orders it for stop()'s caller
}

double VirtualClockDriver::elapsed_seconds() const noexcept {
  const std::int64_t t0 = t0_ns_.load(std::memory_order_relaxed);  // relaxed: figures
  if (t0 == 0) return 0.0;
  const std::int64_t end = end_ns_.load(std::memory_order_relaxed);
  return static_cast<double>((end != 0 ? end : monotonic_ns()) - t0) / 1e9;
}

std::unique_ptr<Driver> make_driver(const EngineConfig& config) {
  if (config.driver == "virtual") return std::make_unique<VirtualClockDriver>();
  throw std::invalid_argument("driver '" + config.driver +
                              "' is not available in this build (available: \"virtual\")");
}

std::uint64_t render(Engine& engine, std::uint64_t frames,
                     const std::function<void(std::span<const float>)>& on_block) {
  if (!engine.prepared()) throw std::logic_error("render: the engine is not prepared");
  if (engine.feed_mode() != FeedMode::pull)
    throw std::logic_error("render: the engine must be prepared with FeedMode::pull");
  const auto block = static_cast<std::uint64_t>(engine.format().block_frames);
  std::uint64_t done = 0;
  while (done < frames) {
    engine.wait_for_sinks();
    engine.pull_inputs();
    engine.process();
    const std::uint64_t n = std::min(block, frames - done);
    if (on_block) on_block(engine.last_block().first(static_cast<std::size_t>(n) * channels));
    done += n;
    engine.service();
  }
  return done;
}

}  // namespace nowait::engine
