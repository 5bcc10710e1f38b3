// nowait engine: level meters, measured on the RT thread once per block and
// published to the control side through a TripleBuffer<MeterFrame>.
//
// Per channel of every input (after its gain, pan and mute: what it adds to
// the mix) and of the master (after the master gain):
//   peak        max |x| over the block;
//   mean_square mean of x^2 over the block (rms() = its square root, taken on
//               the reader's side so the RT thread calls no libm function);
//   hold        peak-hold: jumps up to any higher block peak, holds it for
//               peak_hold_seconds, then falls by peak_hold_decay_db_per_second
//               (applied per block as a constant factor) until it meets the
//               current peak again.
// All in linear full-scale units (1.0 = 0 dBFS).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/format.hpp"
#include "nowait/rt.hpp"

namespace nowait::engine {

inline constexpr double peak_hold_seconds = 1.5;
inline constexpr double peak_hold_decay_db_per_second = 20.0;

// The most inputs an engine mixes at once; meter frames have room for all.
inline constexpr std::size_t max_inputs = 64;

struct ChannelLevel {
  float peak = 0.0f;
  float mean_square = 0.0f;
  float hold = 0.0f;
  float rms() const noexcept { return std::sqrt(mean_square); }
};

struct StereoLevel {
  std::array<ChannelLevel, channels> channel{};
  // The larger channel peak / hold.
  float peak() const noexcept {
    return channel[0].peak > channel[1].peak ? channel[0].peak : channel[1].peak;
  }
  float hold() const noexcept {
    return channel[0].hold > channel[1].hold ? channel[0].hold : channel[1].hold;
  }
};

// One block's readings: the inputs in mixing order, identified by the id the
// engine gave each input, and the master.
struct MeterFrame {
  std::uint64_t block = 0;  // the block's sequence number (0 = first block)
  bool valid = false;       // false until the first block is metered
  std::uint32_t input_count = 0;
  std::array<std::uint32_t, max_inputs> input_ids{};
  std::array<StereoLevel, max_inputs> inputs{};
  StereoLevel master;
};

// The peak-hold of one channel. Thread: its owner (RT). Wait-free; no allocation.
class PeakHold {
 public:
  PeakHold() noexcept = default;
  // Thread: control, before the RT thread owns it (calls pow).
  explicit PeakHold(const StreamFormat& format);

  // Folds in one block's peak and returns the held value.
  float update(float peak) noexcept NOWAIT_NONBLOCKING {
    if (peak >= value_) {
      value_ = peak;
      held_for_ = 0;
    } else if (held_for_ < hold_blocks_) {
      ++held_for_;
    } else {
      value_ *= decay_;
      if (value_ < peak) value_ = peak;
    }
    return value_;
  }

 private:
  float value_ = 0.0f;
  std::uint32_t held_for_ = 0;     // blocks since value_ was last raised
  std::uint32_t hold_blocks_ = 0;  // blocks to hold before decaying
  float decay_ = 0.0f;             // per-block factor once decaying
};

// The meter of one interleaved stereo signal. Thread: its owner (RT).
class LevelMeter {
 public:
  LevelMeter() noexcept = default;
  // Thread: control. No allocation.
  explicit LevelMeter(const StreamFormat& format) : hold_{PeakHold(format), PeakHold(format)} {}

  // Measures one block. Wait-free; no allocation.
  StereoLevel measure(std::span<const float> block) noexcept NOWAIT_NONBLOCKING {
    StereoLevel out;
    const std::size_t frames = block.size() / channels;
    for (std::size_t c = 0; c < channels; ++c) {
      float peak = 0.0f;
      double sum_sq = 0.0;
      for (std::size_t i = 0; i < frames; ++i) {
        const float x = block[i * channels + c];
        const float a = x < 0.0f ? -x : x;
        if (a > peak) peak = a;
        sum_sq += static_cast<double>(x) * x;
      }
      out.channel[c].peak = peak;
      out.channel[c].mean_square =
          frames == 0 ? 0.0f : static_cast<float>(sum_sq / static_cast<double>(frames));
      out.channel[c].hold = hold_[c].update(peak);
    }
    return out;
  }

 private:
  std::array<PeakHold, channels> hold_{};
};

}  // namespace nowait::engine
