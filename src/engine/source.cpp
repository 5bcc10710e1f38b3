// nowait engine: the generators and make_source's spec parser. The exact
// formulas are documented in source.hpp; file sources live in source_file.cpp.
#include "engine/source.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <system_error>

#include "engine/source_file.hpp"

namespace nowait::engine {
namespace {

// Shortest text that reads back as the same double: "440", "-12", "440.5".
std::string number_text(double value) {
  std::array<char, 64> text{};
  const auto result = std::to_chars(text.data(), text.data() + text.size(), value);
  return std::string(text.data(), result.ptr);
}

double db_to_level(double db) { return std::pow(10.0, db / 20.0); }

// splitmix64 (Vigna): spreads one 64-bit seed over xoshiro's 256-bit state,
// as the xoshiro authors recommend, so that seeds 0, 1, 2 ... give unrelated
// streams and the state is never all zero.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// xoshiro256** 1.0 (Blackman and Vigna): fast, 2^256 - 1 period, passes
// BigCrush; its exact sequence is fixed by the published reference code.
class Xoshiro256StarStar {
 public:
  explicit Xoshiro256StarStar(std::uint64_t seed) {
    SplitMix64 mix(seed);
    for (auto& word : s_) word = mix.next();
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform on [-1, 1): the top 53 bits as u in [0, 1), then 2u - 1 (exact).
  double next_bipolar() {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return 2.0 * u - 1.0;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

// Writes `value` to both channels of frame i.
inline void put_frame(std::span<float> out, std::size_t i, float value) {
  out[2 * i] = value;
  out[2 * i + 1] = value;
}

class ToneSource final : public Source {
 public:
  ToneSource(double hz, double level_db, int sample_rate)
      : hz_(hz), level_db_(level_db), level_(db_to_level(level_db)), sample_rate_(sample_rate) {}

  std::size_t render(std::span<float> out) override {
    const std::size_t frames = out.size() / channels;
    for (std::size_t i = 0; i < frames; ++i, ++n_) {
      // Written exactly as documented in source.hpp: the exact-mixing tests
      // recompute it and compare bit for bit.
      const double x = level_ * std::sin(2.0 * std::numbers::pi * hz_ * static_cast<double>(n_) /
                                         static_cast<double>(sample_rate_));
      put_frame(out, i, static_cast<float>(x));
    }
    return frames;
  }

  std::string describe() const override {
    return "tone " + number_text(hz_) + " Hz at " + number_text(level_db_) + " dBFS";
  }

 private:
  double hz_;
  double level_db_;
  double level_;
  int sample_rate_;
  std::uint64_t n_ = 0;  // frames rendered: the phase, exactly
};

class WhiteNoiseSource final : public Source {
 public:
  WhiteNoiseSource(double level_db, std::uint64_t seed)
      : level_db_(level_db), amplitude_(db_to_level(level_db) * std::sqrt(3.0)), rng_(seed) {}

  std::size_t render(std::span<float> out) override {
    const std::size_t frames = out.size() / channels;
    for (std::size_t i = 0; i < frames; ++i) {
      put_frame(out, i, static_cast<float>(rng_.next_bipolar() * amplitude_));
    }
    return frames;
  }

  std::string describe() const override { return "white noise at " + number_text(level_db_) + " dBFS RMS"; }

 private:
  double level_db_;
  double amplitude_;  // level * sqrt(3): the bound of a uniform variable whose RMS is level
  Xoshiro256StarStar rng_;
};

// Paul Kellet's refined pink filter (music-dsp, 1999): six one-pole lowpass
// sections whose poles are spread so that their sum, plus a direct and a
// one-sample-delayed term, falls at -3 dB/octave within +-0.05 dB above
// 9.2 Hz at 44.1 kHz. Its output for y = filter(w) is
//   b_i = p_i b_i + g_i w  (i = 0..5);  y = sum b_i + b6 + d0 w;  b6 = d1 w.
class KelletPinkFilter {
 public:
  static constexpr std::array<double, 6> pole{0.99886, 0.99332, 0.96900, 0.86650, 0.55000, -0.7616};
  static constexpr std::array<double, 6> gain{0.0555179, 0.0750759, 0.1538520,
                                              0.3104856, 0.5329522, -0.0168980};
  static constexpr double direct = 0.5362;     // d0
  static constexpr double delayed = 0.115926;  // d1

  double process(double white) {
    double sum = 0.0;
    for (std::size_t i = 0; i < state_.size(); ++i) {
      state_[i] = pole[i] * state_[i] + gain[i] * white;
      sum += state_[i];
    }
    const double pink = sum + delayed_ + direct * white;
    delayed_ = delayed * white;
    return pink;
  }

  // The sum of the squared impulse response h: the output variance for
  // unit-variance white input. With s(k) = sum_i g_i p_i^k,
  //   h(0) = s(0) + d0,  h(1) = s(1) + d1,  h(k) = s(k) for k >= 2,
  // and sum_k s(k)^2 = sum_ij g_i g_j / (1 - p_i p_j), a geometric series.
  static double noise_gain() {
    double sum = 0.0;
    double s0 = 0.0;
    double s1 = 0.0;
    for (std::size_t i = 0; i < pole.size(); ++i) {
      s0 += gain[i];
      s1 += gain[i] * pole[i];
      for (std::size_t j = 0; j < pole.size(); ++j) sum += gain[i] * gain[j] / (1.0 - pole[i] * pole[j]);
    }
    return sum + 2.0 * direct * s0 + direct * direct + 2.0 * delayed * s1 + delayed * delayed;
  }

 private:
  std::array<double, 6> state_{};
  double delayed_ = 0.0;  // b6
};

class PinkNoiseSource final : public Source {
 public:
  PinkNoiseSource(double level_db, std::uint64_t seed)
      : level_db_(level_db),
        // The white input is uniform on [-1, 1): variance 1/3.
        scale_(db_to_level(level_db) / std::sqrt(KelletPinkFilter::noise_gain() / 3.0)),
        rng_(seed) {}

  std::size_t render(std::span<float> out) override {
    const std::size_t frames = out.size() / channels;
    for (std::size_t i = 0; i < frames; ++i) {
      put_frame(out, i, static_cast<float>(filter_.process(rng_.next_bipolar()) * scale_));
    }
    return frames;
  }

  std::string describe() const override { return "pink noise at " + number_text(level_db_) + " dBFS RMS"; }

 private:
  double level_db_;
  double scale_;
  Xoshiro256StarStar rng_;
  KelletPinkFilter filter_;
};

class SilenceSource final : public Source {
 public:
  std::size_t render(std::span<float> out) override {
    const std::size_t frames = out.size() / channels;
    std::fill_n(out.begin(), frames * channels, 0.0f);
    return frames;
  }
  std::string describe() const override { return "silence"; }
};

constexpr const char* kinds_text = "tone:<hz>, noise:white, noise:pink, silence or file:<path>";

}  // namespace

std::unique_ptr<Source> make_source(const std::string& spec, const StreamFormat& format,
                                    const SourceOptions& options) {
  const auto error = [&spec](const std::string& problem) {
    return SourceError("source '" + spec + "': " + problem);
  };
  if (spec.empty()) throw error("the spec is empty; expected " + std::string(kinds_text));

  const std::size_t colon = spec.find(':');
  const bool has_argument = colon != std::string::npos;
  const std::string kind = spec.substr(0, colon);
  const std::string argument = has_argument ? spec.substr(colon + 1) : std::string();

  const bool generator = kind == "tone" || kind == "noise" || kind == "silence";
  if (generator && !std::isfinite(options.level_db)) {
    throw error("level " + number_text(options.level_db) + " dBFS is not a finite number");
  }

  if (kind == "tone") {
    if (argument.empty()) throw error("a tone needs a frequency in Hz, e.g. tone:440");
    double hz = 0.0;
    const char* const first = argument.data();
    const char* const last = first + argument.size();
    const auto [end, status] = std::from_chars(first, last, hz);
    if (status != std::errc() || end != last || !std::isfinite(hz)) {
      throw error("frequency '" + argument + "' is not a number of Hz, e.g. tone:440");
    }
    const double nyquist = format.sample_rate / 2.0;
    if (!(hz > 0.0 && hz < nyquist)) {
      throw error("frequency " + number_text(hz) + " Hz is out of range: it must be above 0 and below " +
                  number_text(nyquist) + " Hz (half the sample rate, " + std::to_string(format.sample_rate) +
                  " Hz)");
    }
    return std::make_unique<ToneSource>(hz, options.level_db, format.sample_rate);
  }
  if (kind == "noise") {
    if (argument == "white") return std::make_unique<WhiteNoiseSource>(options.level_db, options.seed);
    if (argument == "pink") return std::make_unique<PinkNoiseSource>(options.level_db, options.seed);
    if (argument.empty()) throw error("noise needs a colour: noise:white or noise:pink");
    throw error("unknown noise colour '" + argument + "': expected noise:white or noise:pink");
  }
  if (kind == "silence") {
    if (has_argument) throw error("silence takes no argument: write just 'silence'");
    return std::make_unique<SilenceSource>();
  }
  if (kind == "file") {
    if (argument.empty()) throw error("a file source needs a path, e.g. file:music.wav");
    return detail::make_file_source(spec, argument, format, options.loop);
  }
  throw error("unknown source kind '" + kind + "'; expected " + std::string(kinds_text));
}

}  // namespace nowait::engine
