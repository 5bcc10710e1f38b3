// Test-only sources, sinks and helpers for the engine tests: sources whose
// every sample is known exactly, a sink that keeps every block it reads, and
// the independent reference mix the engine's output is compared with.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/config.hpp"
#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "engine/null_sink.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"

namespace nowait::engine::test {

// Frame n of a source: (left, right).
using FrameFunction = std::function<std::pair<float, float>(std::uint64_t)>;

// What a test wants to know about a source's life.
struct SourceProbe {
  std::mutex mutex;
  bool destroyed = false;
  std::thread::id destroyed_on;
  std::atomic<std::uint64_t> frames_rendered{0};

  bool was_destroyed() {
    std::lock_guard lock(mutex);
    return destroyed;
  }
  std::thread::id destroyed_on_thread() {
    std::lock_guard lock(mutex);
    return destroyed_on;
  }
};

// Renders frame n as f(n); ends after `length` frames when length is set.
class FunctionSource final : public Source {
 public:
  FunctionSource(FrameFunction f, std::shared_ptr<SourceProbe> probe = nullptr,
                 std::uint64_t length = UINT64_MAX)
      : f_(std::move(f)), probe_(std::move(probe)), length_(length) {}
  ~FunctionSource() override {
    if (!probe_) return;
    std::lock_guard lock(probe_->mutex);
    probe_->destroyed = true;
    probe_->destroyed_on = std::this_thread::get_id();
  }

  std::size_t render(std::span<float> out) override {
    std::size_t frames = out.size() / channels;
    if (length_ - frame_ < frames) frames = static_cast<std::size_t>(length_ - frame_);
    for (std::size_t i = 0; i < frames; ++i) {
      const auto [l, r] = f_(frame_++);
      out[2 * i] = l;
      out[2 * i + 1] = r;
    }
    if (probe_) probe_->frames_rendered.fetch_add(frames);
    return frames;
  }
  std::string describe() const override { return "test function"; }

 private:
  FrameFunction f_;
  std::shared_ptr<SourceProbe> probe_;
  std::uint64_t length_;
  std::uint64_t frame_ = 0;
};

// Exactly representable test signals.
inline float ramp_left(std::uint64_t n) {
  return static_cast<float>(static_cast<int>(n % 2000) - 1000) / 1024.0f;
}
inline float ramp_right(std::uint64_t n) {
  return static_cast<float>(static_cast<int>(n % 3000) - 1500) / 2048.0f;
}
inline std::pair<float, float> ramp(std::uint64_t n) { return {ramp_left(n), ramp_right(n)}; }

inline FrameFunction constant(float left, float right) {
  return [left, right](std::uint64_t) { return std::pair{left, right}; };
}

// The tone generator as source.hpp defines it, computed here independently.
inline float tone_sample(double hz, double level_db, int rate, std::uint64_t n) {
  const double level = std::pow(10.0, level_db / 20.0);
  return static_cast<float>(
      level * std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(n) / static_cast<double>(rate)));
}

// A source factory: specs "test:<key>" come from `functions` (with the probe
// of the same key, if any); anything else goes to make_source.
struct TestSources {
  std::map<std::string, FrameFunction> functions;
  std::map<std::string, std::shared_ptr<SourceProbe>> probes;
  std::map<std::string, std::uint64_t> lengths;

  SourceFactory factory() {
    return [this](const InputConfig& c, const StreamFormat& f) -> std::unique_ptr<Source> {
      if (c.source.rfind("test:", 0) == 0) {
        const std::string key = c.source.substr(5);
        const auto p = probes.find(key);
        const auto l = lengths.find(key);
        return std::make_unique<FunctionSource>(functions.at(key), p == probes.end() ? nullptr : p->second,
                                                l == lengths.end() ? UINT64_MAX : l->second);
      }
      return default_source_factory(c, f);
    };
  }
};

inline InputConfig input(std::string name, std::string source, double gain_db = 0.0, double pan = 0.0,
                         bool mute = false) {
  InputConfig c;
  c.name = std::move(name);
  c.source = std::move(source);
  c.gain_db = gain_db;
  c.pan = pan;
  c.mute = mute;
  return c;
}

inline EngineConfig config_of(std::vector<InputConfig> inputs, double master_gain_db = 0.0, int rate = 48000,
                              int block = 128) {
  EngineConfig c;
  c.format.sample_rate = rate;
  c.format.block_frames = block;
  c.master_gain_db = master_gain_db;
  c.inputs = std::move(inputs);
  return c;
}

// The pan law, written out here rather than taken from mixer.hpp.
inline std::pair<float, float> expected_gains(double gain_db, double pan, bool mute) {
  if (mute) return {0.0f, 0.0f};
  const double g = std::pow(10.0, gain_db / 20.0);
  const double theta = (pan + 1.0) * std::numbers::pi / 4.0;
  return {static_cast<float>(g * std::cos(theta)), static_cast<float>(g * std::sin(theta))};
}

inline float expected_master(double gain_db) { return static_cast<float>(std::pow(10.0, gain_db / 20.0)); }

// A sink that keeps every block it reads, with its sequence number.
class CaptureSink final : public Sink {
 public:
  // `delay`: how long each block takes to consume, to stand for a slow disk.
  explicit CaptureSink(std::string name = "capture", std::chrono::microseconds delay = {})
      : Sink(std::move(name), "test"), delay_(delay) {}
  ~CaptureSink() override { stop(); }

  // Thread: any, while or after it runs.
  std::vector<float> samples() const {
    std::lock_guard lock(mutex_);
    return samples_;
  }
  std::uint64_t first_sequence() const {
    std::lock_guard lock(mutex_);
    return first_;
  }
  std::uint64_t blocks() const {
    std::lock_guard lock(mutex_);
    return blocks_;
  }
  bool contiguous() const {
    std::lock_guard lock(mutex_);
    return contiguous_;
  }
  // Waits until at least `blocks` blocks are consumed; false after 20 s.
  // consume() wakes it. Thread: any.
  bool wait_for_blocks(std::uint64_t blocks) const {
    std::unique_lock lock(mutex_);
    return consumed_.wait_for(lock, std::chrono::seconds(20), [&] { return blocks_ >= blocks; });
  }

 private:
  void open(const StreamFormat&) override {}
  void consume(std::span<const float> block, std::uint64_t sequence) override {
    if (delay_.count() != 0) std::this_thread::sleep_for(delay_);
    std::lock_guard lock(mutex_);
    if (blocks_ == 0) first_ = sequence;
    if (sequence != first_ + blocks_) contiguous_ = false;
    samples_.insert(samples_.end(), block.begin(), block.end());
    ++blocks_;
    consumed_.notify_all();
  }
  void close() noexcept override {}

  std::chrono::microseconds delay_;
  mutable std::mutex mutex_;
  mutable std::condition_variable consumed_;
  std::vector<float> samples_;
  std::uint64_t first_ = 0;
  std::uint64_t blocks_ = 0;
  bool contiguous_ = true;
};

// A capture sink added to `engine`, which owns it. A test waits on its
// wait_for_blocks() for the engine to get somewhere: the RT thread cannot wake
// anyone, but the sink thread that reads every block it writes can.
// Thread: the control thread.
inline CaptureSink& add_capture_sink(Engine& engine) {
  auto capture = std::make_unique<CaptureSink>();
  CaptureSink& sink = *capture;
  engine.add_sink(std::move(capture));
  return sink;
}

// A capture sink and a null sink (pausable, to stand for a stalled one),
// both added to `engine`, which owns them. Thread: the control thread.
struct CaptureAndNullSinks {
  CaptureSink& capture;
  NullSink& stalled;
};
inline CaptureAndNullSinks add_capture_and_null_sinks(Engine& engine) {
  CaptureSink& capture = add_capture_sink(engine);
  auto null = std::make_unique<NullSink>();
  NullSink& stalled = *null;
  engine.add_sink(std::move(null));
  return {capture, stalled};
}

// Renders `frames` frames offline and returns them, interleaved. after_block(k)
// runs after block k (from 0) is rendered; a command it submits applies in
// block k + 1.
inline std::vector<float> render_all(Engine& engine, std::uint64_t frames,
                                     const std::function<void(std::uint64_t block)>& after_block = {}) {
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(frames) * channels);
  std::uint64_t block = 0;
  render(engine, frames, [&](std::span<const float> b) {
    out.insert(out.end(), b.begin(), b.end());
    if (after_block) after_block(block);
    ++block;
  });
  return out;
}

}  // namespace nowait::engine::test
