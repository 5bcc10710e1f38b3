#include "engine/mixer.hpp"

#include <cmath>
#include <limits>
#include <numbers>

namespace nowait::engine {

double db_to_linear(double db) noexcept { return std::pow(10.0, db / 20.0); }

double linear_to_db(double linear) noexcept {
  if (!(linear > 0.0)) return -std::numeric_limits<double>::infinity();
  return 20.0 * std::log10(linear);
}

std::uint32_t ramp_frames(int sample_rate) noexcept {
  const double frames = std::round(gain_ramp_ms * sample_rate / 1000.0);
  return frames < 1.0 ? 1u : static_cast<std::uint32_t>(frames);
}

StereoGain pan_gains(double gain_db, double pan, bool mute) noexcept {
  if (mute) return {};
  const double g = db_to_linear(gain_db);
  const double theta = (pan + 1.0) * std::numbers::pi / 4.0;
  return {static_cast<float>(g * std::cos(theta)), static_cast<float>(g * std::sin(theta))};
}

void apply_stereo_gain(std::span<float> block, GainRamp& left, GainRamp& right) noexcept NOWAIT_NONBLOCKING {
  const std::size_t frames = block.size() / 2;
  if (!left.ramping() && !right.ramping()) {
    const float gl = left.current();
    const float gr = right.current();
    for (std::size_t i = 0; i < frames; ++i) {
      block[2 * i] *= gl;
      block[2 * i + 1] *= gr;
    }
    return;
  }
  for (std::size_t i = 0; i < frames; ++i) {
    block[2 * i] *= left.next();
    block[2 * i + 1] *= right.next();
  }
}

void accumulate(std::span<float> acc, std::span<const float> in) noexcept NOWAIT_NONBLOCKING {
  NOWAIT_PRECONDITION(acc.size() == in.size(), "accumulate: blocks of different sizes");
  for (std::size_t i = 0; i < acc.size(); ++i) acc[i] += in[i];
}

std::uint64_t apply_master_gain(std::span<float> block, GainRamp& master) noexcept NOWAIT_NONBLOCKING {
  const std::size_t frames = block.size() / 2;
  std::uint64_t clipped = 0;
  for (std::size_t i = 0; i < frames; ++i) {
    const float g = master.next();
    for (std::size_t c = 0; c < 2; ++c) {
      float& x = block[2 * i + c];
      x *= g;
      // NaN compares false, so a NaN is not counted: it is not a clip.
      if (x > 1.0f || x < -1.0f) ++clipped;
    }
  }
  return clipped;
}

}  // namespace nowait::engine
