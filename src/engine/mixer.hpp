// nowait engine: the mixer's arithmetic. The laws are fixed here and documented
// in docs/engine.md; the tests compute the same figures independently.
//
// Pan law (constant power). For pan p in [-1, +1]:
//   theta = (p + 1) * pi / 4,   left = g * cos(theta),   right = g * sin(theta)
// where g = 10^(gain_db / 20), or 0 when muted. At the centre both sides get
// g * cos(pi/4) = g * 0.7071 (-3.01 dB), so the total power g^2 is the same at
// every pan position. A source is always stereo (mono sources render the same
// samples to both channels); the left gain scales its left channel and the
// right gain its right channel, so on a stereo source pan acts as a balance
// control and on a mono one it is a true constant-power pan.
//
// Gain ramp. Every gain change, including mute and unmute, is a per-sample
// linear ramp of the effective left and right gains from where they are to the
// new target over N = round(gain_ramp_ms * rate / 1000) frames (10 ms: 480
// frames at 48 kHz). Frame k = 1 .. N of the ramp, counted from the first frame
// of the block in which the command is applied, gets
//   g_k = g_0 + (g_1 - g_0) * k / N      (in double, then rounded to float)
// and g_N is exactly the target g_1, which holds from then on. A different
// target during a ramp starts a new N-frame ramp from the gain reached so far
// (the same target leaves the ramp as it is). The
// master gain ramps the same way. Inputs present at prepare() and inputs added
// at run time start at their target gain, with no ramp.
//
// Mix. For each output sample, in input order starting from 0.0f:
//   acc += x * gain   (float, one product and one sum per input)
// then out = acc * master. Nothing limits the result: samples with |out| > 1
// are counted as clipped and passed on unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "nowait/rt.hpp"

namespace nowait::engine {

inline constexpr double gain_ramp_ms = 10.0;
// (The gain range, min_gain_db..max_gain_db, is in config.hpp.)
inline constexpr double min_pan = -1.0;
inline constexpr double max_pan = 1.0;

// 10^(db / 20). Thread: any. No allocation.
double db_to_linear(double db) noexcept;

// 20 log10(linear); -infinity for 0. Thread: any. No allocation.
double linear_to_db(double linear) noexcept;

// The frames a ramp of gain_ramp_ms lasts at `sample_rate`: at least 1.
std::uint32_t ramp_frames(int sample_rate) noexcept;

// A pair of effective channel gains.
struct StereoGain {
  float left = 0.0f;
  float right = 0.0f;
  friend bool operator==(const StereoGain&, const StereoGain&) = default;
};

// The pan law above: the effective gains of an input at gain_db, pan, mute.
// Thread: any (it calls cos and sin, so not the RT thread). No allocation.
StereoGain pan_gains(double gain_db, double pan, bool mute) noexcept;

// One gain that moves linearly to a target over a number of frames, advanced
// one frame at a time on the RT thread. All members: thread: the owner (the
// RT thread once the owning object is handed over). Wait-free; no allocation.
class GainRamp {
 public:
  GainRamp() noexcept = default;
  explicit GainRamp(float value) noexcept : current_(value), target_(value) {}

  // Jumps to `value` at once (no ramp).
  void reset(float value) noexcept NOWAIT_NONBLOCKING {
    current_ = value;
    target_ = value;
    position_ = 0;
    length_ = 0;
  }

  // Starts a ramp from the current gain to `target` over `frames` frames
  // (frames 0: jump). Setting the target it already has changes nothing: a
  // ramp under way to it carries on unchanged.
  void set_target(float target, std::uint32_t frames) noexcept NOWAIT_NONBLOCKING {
    if (target == target_) return;
    if (frames == 0) {
      reset(target);
      return;
    }
    start_ = current_;
    target_ = target;
    position_ = 0;
    length_ = frames;
  }

  // The gain for the next frame, after which the ramp has advanced one frame.
  float next() noexcept NOWAIT_NONBLOCKING {
    if (!ramping()) return current_;
    ++position_;
    if (position_ >= length_) {
      current_ = target_;
      length_ = 0;
      position_ = 0;
    } else {
      const double g0 = start_;
      const double g1 = target_;
      current_ = static_cast<float>(g0 + (g1 - g0) * static_cast<double>(position_) / length_);
    }
    return current_;
  }

  bool ramping() const noexcept NOWAIT_NONBLOCKING { return length_ != 0; }
  // The gain of the latest frame (or the initial value).
  float current() const noexcept NOWAIT_NONBLOCKING { return current_; }
  float target() const noexcept NOWAIT_NONBLOCKING { return target_; }

 private:
  float current_ = 1.0f;
  float target_ = 1.0f;
  float start_ = 1.0f;
  std::uint32_t position_ = 0;
  std::uint32_t length_ = 0;  // 0: not ramping
};

// Multiplies an interleaved stereo block in place by the left and right gains,
// advancing both ramps one step per frame. Thread: RT. Wait-free; no allocation.
void apply_stereo_gain(std::span<float> block, GainRamp& left, GainRamp& right) noexcept NOWAIT_NONBLOCKING;

// acc[i] += in[i] for every sample. Precondition: equal sizes.
// Thread: RT. Wait-free; no allocation.
void accumulate(std::span<float> acc, std::span<const float> in) noexcept NOWAIT_NONBLOCKING;

// Multiplies an interleaved stereo block in place by the (ramped) master gain,
// one step per frame, and returns how many samples then have |x| > 1.
// Thread: RT. Wait-free; no allocation.
std::uint64_t apply_master_gain(std::span<float> block, GainRamp& master) noexcept NOWAIT_NONBLOCKING;

}  // namespace nowait::engine
