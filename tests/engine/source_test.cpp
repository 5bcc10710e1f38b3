// Tests of engine/source.hpp: the generators against their documented
// formulas, files through libsndfile (written by the tests themselves into a
// scratch directory), rate conversion, determinism under any chunking, and
// every error message make_source() can give.
#include "engine/source.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <numbers>
#include <samplerate.h>
#include <sndfile.h>
#include <span>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

// Counts every C++ allocation in this test program, so that a test can show
// that render() makes none. (libsndfile and libsamplerate are C and call
// malloc directly; those are not counted.) Kept out of line so that GCC
// does not see new's malloc meet delete's free and warn of a mismatch.
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);  // a plain tally: no ordering needed
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using nowait::engine::make_source;
using nowait::engine::Source;
using nowait::engine::SourceError;
using nowait::engine::SourceOptions;
using nowait::engine::StreamFormat;

constexpr StreamFormat format48k{48000, 128};
constexpr StreamFormat format44k{44100, 128};
using Samples = std::vector<float>;

// ---------------------------------------------------------------------------
// Helpers

// Renders `frames` frames in calls of `chunk` frames (the last may be
// shorter) and returns them; stops early if the source ends.
Samples render(Source& source, std::size_t frames, std::size_t chunk) {
  Samples out(frames * 2, 0.0f);
  std::size_t done = 0;
  while (done < frames) {
    const std::size_t n = std::min(chunk, frames - done);
    const std::size_t got = source.render(std::span<float>(out).subspan(done * 2, n * 2));
    done += got;
    if (got < n) break;
  }
  out.resize(done * 2);
  return out;
}

Samples render(const std::string& spec, const StreamFormat& format, std::size_t frames, std::size_t chunk,
               const SourceOptions& options = {}) {
  auto source = make_source(spec, format, options);
  return render(*source, frames, chunk);
}

Samples channel(const Samples& interleaved, std::size_t which, std::size_t count = 2) {
  Samples out;
  for (std::size_t i = which; i < interleaved.size(); i += count) out.push_back(interleaved[i]);
  return out;
}

bool bit_identical(const Samples& a, const Samples& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double rms(std::span<const float> x) {
  double sum = 0.0;
  for (float v : x) sum += static_cast<double>(v) * v;
  return std::sqrt(sum / static_cast<double>(x.size()));
}

double mean(std::span<const float> x) {
  double sum = 0.0;
  for (float v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double to_db(double ratio) { return 20.0 * std::log10(ratio); }
double level(double db) { return std::pow(10.0, db / 20.0); }

// The tone formula as documented in source.hpp, written out independently.
float tone_value(double hz, double level_db, int sample_rate, std::uint64_t n) {
  const double amplitude = std::pow(10.0, level_db / 20.0);
  return static_cast<float>(amplitude * std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(n) /
                                                 static_cast<double>(sample_rate)));
}

// A scratch directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        fs::temp_directory_path() / ("nowait-source-test-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Writes interleaved float frames with libsndfile in the given format.
void write_floats(const std::string& path, int sf_format, int channels, int rate, const Samples& data) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = sf_format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  const sf_count_t frames = static_cast<sf_count_t>(data.size()) / channels;
  EXPECT_EQ(sf_writef_float(file, data.data(), frames), frames);
  EXPECT_EQ(sf_close(file), 0);
}

void write_shorts(const std::string& path, int sf_format, int channels, int rate,
                  const std::vector<short>& data) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = sf_format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  const sf_count_t frames = static_cast<sf_count_t>(data.size()) / channels;
  EXPECT_EQ(sf_writef_short(file, data.data(), frames), frames);
  EXPECT_EQ(sf_close(file), 0);
}

// Distinct, exactly representable samples: frame i of channel c.
Samples ramp(std::size_t frames, int channels) {
  Samples out;
  for (std::size_t i = 0; i < frames; ++i) {
    for (int c = 0; c < channels; ++c) out.push_back(static_cast<float>(i) / 4096.0f - 0.25f * (c + 1));
  }
  return out;
}

// A tone in every channel of an interleaved buffer.
Samples sine(double hz, double amplitude, int rate, std::size_t frames, int channels) {
  Samples out;
  for (std::size_t i = 0; i < frames; ++i) {
    const auto v =
        static_cast<float>(amplitude * std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(i) /
                                                static_cast<double>(rate)));
    for (int c = 0; c < channels; ++c) out.push_back(v);
  }
  return out;
}

// Frequency of a tone from its upward zero crossings, located by linear
// interpolation: (crossings - 1) periods between the first and the last.
double zero_crossing_frequency(const Samples& x, int rate) {
  double first = -1.0;
  double last = -1.0;
  int crossings = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (x[i - 1] < 0.0f && x[i] >= 0.0f) {
      const double t = static_cast<double>(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
      if (crossings == 0) first = t;
      last = t;
      ++crossings;
    }
  }
  return (crossings - 1) / (last - first) * rate;
}

// Mean power spectral density over the DFT bins in [lo_hz, hi_hz), averaged
// over consecutive Hann-windowed segments of `size` samples (a naive
// Welch estimate by Goertzel, cheap enough for a few hundred bins).
double band_psd(const Samples& x, int rate, std::size_t size, double lo_hz, double hi_hz) {
  const double bin_hz = static_cast<double>(rate) / static_cast<double>(size);
  const auto lo = static_cast<std::size_t>(std::ceil(lo_hz / bin_hz));
  const auto hi = static_cast<std::size_t>(std::ceil(hi_hz / bin_hz));
  std::vector<double> window(size);
  for (std::size_t i = 0; i < size; ++i) {
    window[i] =
        0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(size));
  }
  double sum = 0.0;
  std::size_t count = 0;
  for (std::size_t start = 0; start + size <= x.size(); start += size) {
    for (std::size_t k = lo; k < hi; ++k) {
      const double coeff =
          2.0 * std::cos(2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(size));
      double s1 = 0.0;
      double s2 = 0.0;
      for (std::size_t i = 0; i < size; ++i) {
        const double s0 = x[start + i] * window[i] + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      sum += s1 * s1 + s2 * s2 - coeff * s1 * s2;
      ++count;
    }
  }
  return sum / static_cast<double>(count);
}

std::string error_of(const std::string& spec, const StreamFormat& format = format48k,
                     const SourceOptions& options = {}) {
  try {
    make_source(spec, format, options);
  } catch (const SourceError& e) {
    return e.what();
  }
  return "(no error)";
}

// What libsndfile itself says when it cannot open `path`.
std::string sndfile_reason(const std::string& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file != nullptr) {
    sf_close(file);
    return "(libsndfile opened it)";
  }
  return sf_strerror(nullptr);
}

// ---------------------------------------------------------------------------
// Tone

TEST(SourceTone, RendersTheDocumentedFormulaBitForBit) {
  const SourceOptions options{.loop = true, .level_db = -6.5, .seed = 1};
  const Samples out = render("tone:440.5", format48k, 96000, 4096, options);
  ASSERT_EQ(out.size(), 96000u * 2);
  for (std::uint64_t n : {0u, 1u, 2u, 3u, 109u, 1000u, 47999u, 48000u, 65537u, 95999u}) {
    const float expected = tone_value(440.5, -6.5, 48000, n);
    EXPECT_EQ(out[2 * n], expected) << "frame " << n;
  }
  for (std::size_t n = 0; n < 96000; ++n) {
    ASSERT_EQ(out[2 * n], tone_value(440.5, -6.5, 48000, n)) << "frame " << n;
  }
}

TEST(SourceTone, WritesTheSameSampleToLeftAndRight) {
  const Samples out = render("tone:1000", format48k, 4800, 128);
  EXPECT_EQ(channel(out, 0), channel(out, 1));
}

TEST(SourceTone, IsPhaseContinuousAcrossRenderCalls) {
  auto source = make_source("tone:997", format44k);
  Samples first(2 * 100);
  Samples second(2 * 1000);
  ASSERT_EQ(source->render(first), 100u);
  ASSERT_EQ(source->render(second), 1000u);
  // The second call carries on at frame 100, not at 0.
  EXPECT_EQ(second[0], tone_value(997, -12, 44100, 100));
  EXPECT_EQ(second[2 * 999], tone_value(997, -12, 44100, 1099));
  EXPECT_EQ(first[2 * 99], tone_value(997, -12, 44100, 99));
}

TEST(SourceTone, PeaksAtTheLevelInDbfs) {
  const Samples out = render("tone:1000", format48k, 48000, 4096, {.loop = true, .level_db = -3, .seed = 1});
  float peak = 0.0f;
  for (float v : out) peak = std::max(peak, std::abs(v));
  // 1000 Hz at 48 kHz hits the crest exactly at frame 12.
  EXPECT_EQ(peak, static_cast<float>(level(-3)));
}

TEST(SourceTone, DescribesItsFrequencyAndLevel) {
  EXPECT_EQ(make_source("tone:440", format48k)->describe(), "tone 440 Hz at -12 dBFS");
  EXPECT_EQ(make_source("tone:27.5", format48k, {.loop = true, .level_db = -6.5, .seed = 1})->describe(),
            "tone 27.5 Hz at -6.5 dBFS");
}

// ---------------------------------------------------------------------------
// Noise and silence

TEST(SourceNoise, WhiteNoiseRmsIsWithinATenthOfADbOfTheLevelOverOneSecondAndItsMeanIsNearZero) {
  for (double db : {-12.0, -20.0, -3.0}) {
    for (std::uint64_t seed : {1u, 2u, 12345u}) {
      const Samples left = channel(
          render("noise:white", format48k, 48000, 512, {.loop = true, .level_db = db, .seed = seed}), 0);
      EXPECT_NEAR(to_db(rms(left)), db, 0.1) << "level " << db << " seed " << seed;
      // The mean of 48000 samples has a standard deviation of rms / 219.
      EXPECT_LT(std::abs(mean(left)), 0.02 * level(db)) << "level " << db << " seed " << seed;
    }
  }
}

TEST(SourceNoise, WhiteNoiseIsUniformWithinLevelTimesSqrt3) {
  const Samples out = render("noise:white", format48k, 48000, 4096);
  const double bound = level(-12) * std::sqrt(3.0);
  float peak = 0.0f;
  std::size_t upper_half = 0;  // samples above half the bound: a quarter of them for a uniform variable
  for (float v : channel(out, 0)) {
    peak = std::max(peak, std::abs(v));
    if (v > bound / 2) ++upper_half;
  }
  EXPECT_LE(peak, bound);
  EXPECT_GT(peak, 0.999 * bound);
  EXPECT_NEAR(static_cast<double>(upper_half) / 48000.0, 0.25, 0.01);
}

TEST(SourceNoise, IsReproducibleFromItsSeedAndDiffersBetweenSeeds) {
  for (const char* spec : {"noise:white", "noise:pink"}) {
    const Samples a = render(spec, format48k, 4800, 480, {.loop = true, .level_db = -12, .seed = 7});
    const Samples b = render(spec, format48k, 4800, 480, {.loop = true, .level_db = -12, .seed = 7});
    const Samples c = render(spec, format48k, 4800, 480, {.loop = true, .level_db = -12, .seed = 8});
    EXPECT_TRUE(bit_identical(a, b)) << spec;
    EXPECT_FALSE(bit_identical(a, c)) << spec;
  }
}

TEST(SourceNoise, IsTheSameInLeftAndRight) {
  for (const char* spec : {"noise:white", "noise:pink"}) {
    const Samples out = render(spec, format48k, 4800, 128);
    EXPECT_EQ(channel(out, 0), channel(out, 1)) << spec;
  }
}

// Pink noise holds equal power per octave: its mean spectral density halves
// from one octave to the next (-3.01 dB), where white noise's stays flat.
TEST(SourceNoise, PinkNoiseFallsThreeDbPerOctaveWhereWhiteNoiseIsFlat) {
  constexpr std::size_t segment = 1024;
  constexpr std::size_t frames = 96 * segment;
  const double octaves[] = {375, 750, 1500, 3000, 6000, 12000};
  for (const char* spec : {"noise:pink", "noise:white"}) {
    const bool pink = std::string(spec) == "noise:pink";
    const Samples left = channel(render(spec, format48k, frames, 4096), 0);
    std::vector<double> psd_db;
    for (std::size_t b = 0; b + 1 < std::size(octaves); ++b) {
      psd_db.push_back(10.0 * std::log10(band_psd(left, 48000, segment, octaves[b], octaves[b + 1])));
    }
    const double step = pink ? -10.0 * std::log10(2.0) : 0.0;
    for (std::size_t b = 1; b < psd_db.size(); ++b) {
      EXPECT_NEAR(psd_db[b] - psd_db[b - 1], step, 0.5)
          << spec << ": octave from " << octaves[b] << " Hz against the one below";
    }
    EXPECT_NEAR(psd_db.back() - psd_db.front(), step * static_cast<double>(psd_db.size() - 1), 0.5)
        << spec << ": 375 Hz to 12 kHz";
  }
}

TEST(SourceNoise, PinkNoiseRmsMatchesTheLevelOverTwentySeconds) {
  // Over 20 s the RMS scatters by about 0.06 dB (see source.hpp).
  for (const auto& [db, seed] : {std::pair{-12.0, 1u}, std::pair{-24.0, 2u}}) {
    const Samples out = channel(
        render("noise:pink", format48k, 20 * 48000, 4096, {.loop = true, .level_db = db, .seed = seed}), 0);
    EXPECT_NEAR(to_db(rms(out)), db, 0.25) << "level " << db;
  }
}

TEST(SourceNoise, DescribesItsColourAndLevel) {
  EXPECT_EQ(make_source("noise:white", format48k)->describe(), "white noise at -12 dBFS RMS");
  EXPECT_EQ(make_source("noise:pink", format48k, {.loop = true, .level_db = -30, .seed = 1})->describe(),
            "pink noise at -30 dBFS RMS");
}

TEST(SourceSilence, RendersZerosForever) {
  auto source = make_source("silence", format48k);
  Samples out(2 * 1000, 0.5f);
  for (int call = 0; call < 3; ++call) {
    std::fill(out.begin(), out.end(), 0.5f);
    ASSERT_EQ(source->render(out), 1000u);
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f && !std::signbit(v); }));
  }
  EXPECT_EQ(source->describe(), "silence");
}

TEST(SourceGenerators, LeaveATrailingOddSampleUntouched) {
  for (const char* spec : {"tone:440", "noise:white", "noise:pink", "silence"}) {
    auto source = make_source(spec, format48k);
    Samples out(7, 9.0f);
    EXPECT_EQ(source->render(out), 3u) << spec;
    EXPECT_EQ(out[6], 9.0f) << spec;
  }
}

// ---------------------------------------------------------------------------
// Files

TEST(SourceFile, FloatWavRoundTripsExactly) {
  ScratchDir dir;
  const std::string path = dir.file("float.wav");
  const Samples data = ramp(3000, 2);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 48000, data);
  EXPECT_TRUE(bit_identical(render("file:" + path, format48k, 3000, 256, {.loop = false}), data));
}

TEST(SourceFile, Pcm16WavReadsEachSampleAsItsValueOver32768) {
  ScratchDir dir;
  const std::string path = dir.file("pcm16.wav");
  std::vector<short> data;
  Samples expected;
  for (int i = 0; i < 2000; ++i) {
    const auto s = static_cast<short>((i * 37) % 65536 - 32768);
    data.push_back(s);
    expected.push_back(static_cast<float>(s) / 32768.0f);
  }
  write_shorts(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2, 48000, data);
  EXPECT_EQ(render("file:" + path, format48k, 1000, 100, {.loop = false}), expected);
}

TEST(SourceFile, Pcm16WavOfAFloatSignalIsWithinQuantisation) {
  ScratchDir dir;
  const std::string path = dir.file("pcm16-tone.wav");
  const Samples data = sine(440, 0.5, 48000, 4800, 2);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2, 48000, data);
  const Samples out = render("file:" + path, format48k, 4800, 333, {.loop = false});
  ASSERT_EQ(out.size(), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    // libsndfile writes round(x * 32767) and reads s / 32768: at |x| <= 0.5
    // the two differ by at most half a step plus half a step.
    ASSERT_NEAR(out[i], data[i], 1.0 / 32768.0) << "sample " << i;
  }
}

TEST(SourceFile, Flac16BitRoundTripsExactly) {
  ScratchDir dir;
  const std::string path = dir.file("pcm16.flac");
  std::vector<short> data;
  Samples expected;
  for (int i = 0; i < 6000; ++i) {
    const auto s = static_cast<short>(std::lround(20000.0 * std::sin(i * 0.01)) + (i % 2 ? 3 : -3));
    data.push_back(s);
    expected.push_back(static_cast<float>(s) / 32768.0f);
  }
  write_shorts(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 2, 48000, data);
  EXPECT_EQ(render("file:" + path, format48k, 3000, 4096, {.loop = false}), expected);
}

TEST(SourceFile, OggVorbisRoundTripsWithinALooseTolerance) {
  ScratchDir dir;
  const std::string path = dir.file("tone.ogg");
  const Samples data = sine(1000, 0.5, 48000, 48000, 2);
  write_floats(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 2, 48000, data);
  const Samples out = render("file:" + path, format48k, 60000, 1024, {.loop = false});
  ASSERT_EQ(out.size(), data.size());
  // Lossy, so compare the error's energy with the signal's: at least 30 dB down.
  double error = 0.0;
  double signal = 0.0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    error += (out[i] - data[i]) * static_cast<double>(out[i] - data[i]);
    signal += static_cast<double>(data[i]) * data[i];
  }
  EXPECT_LT(10.0 * std::log10(error / signal), -30.0);
}

TEST(SourceFile, MonoIsCopiedToBothChannels) {
  ScratchDir dir;
  const std::string path = dir.file("mono.wav");
  const Samples data = ramp(1500, 1);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 48000, data);
  const Samples out = render("file:" + path, format48k, 1500, 100, {.loop = false});
  EXPECT_EQ(channel(out, 0), data);
  EXPECT_EQ(channel(out, 1), data);
}

TEST(SourceFile, WithMoreThanTwoChannelsTheFirstTwoAreLeftAndRight) {
  ScratchDir dir;
  const std::string path = dir.file("three.wav");
  const Samples data = ramp(1500, 3);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 3, 48000, data);
  const Samples out = render("file:" + path, format48k, 1500, 100, {.loop = false});
  EXPECT_EQ(channel(out, 0), channel(data, 0, 3));
  EXPECT_EQ(channel(out, 1), channel(data, 1, 3));
}

TEST(SourceFile, OneShotReturnsItsExactFrameCountThenZero) {
  ScratchDir dir;
  const std::string path = dir.file("short.wav");
  const Samples data = ramp(1000, 2);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 48000, data);
  auto source = make_source("file:" + path, format48k, {.loop = false});
  Samples buffer(2 * 300, 9.0f);
  Samples all;
  std::vector<std::size_t> counts;
  for (int call = 0; call < 6; ++call) {
    std::fill(buffer.begin(), buffer.end(), 9.0f);
    const std::size_t n = source->render(buffer);
    counts.push_back(n);
    all.insert(all.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(2 * n));
    // Frames past the count are not touched.
    EXPECT_TRUE(std::all_of(buffer.begin() + static_cast<std::ptrdiff_t>(2 * n), buffer.end(),
                            [](float v) { return v == 9.0f; }));
  }
  EXPECT_EQ(counts, (std::vector<std::size_t>{300, 300, 300, 100, 0, 0}));
  EXPECT_EQ(all, data);
}

TEST(SourceFile, LoopingWrapsExactlyBackToFrameZero) {
  ScratchDir dir;
  const std::string path = dir.file("loop.wav");
  constexpr std::size_t file_frames = 1000;
  const Samples data = ramp(file_frames, 2);
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 48000, data);
  const Samples out = render("file:" + path, format48k, 3500, 333, {.loop = true});
  ASSERT_EQ(out.size(), 3500u * 2);
  for (std::size_t f = 0; f < 3500; ++f) {
    ASSERT_EQ(out[2 * f], data[2 * (f % file_frames)]) << "frame " << f;
    ASSERT_EQ(out[2 * f + 1], data[2 * (f % file_frames) + 1]) << "frame " << f;
  }
  EXPECT_EQ(out[2 * file_frames], out[0]);
}

TEST(SourceFile, LoopingAnOggFileWrapsToFrameZeroToo) {
  ScratchDir dir;
  const std::string path = dir.file("loop.ogg");
  write_floats(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 48000, sine(1000, 0.5, 48000, 4800, 1));
  const Samples out = render("file:" + path, format48k, 3 * 4800, 1000, {.loop = true});
  ASSERT_EQ(out.size(), 3u * 4800 * 2);
  for (std::size_t f = 0; f < 4800; ++f) {
    ASSERT_EQ(out[2 * (4800 + f)], out[2 * f]) << "frame " << f;
    ASSERT_EQ(out[2 * (9600 + f)], out[2 * f]) << "frame " << f;
  }
}

TEST(SourceFile, ResamplingOneSecondFrom44100To48000GivesOneSecondOfFrames) {
  ScratchDir dir;
  const std::string path = dir.file("44k.wav");
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 44100, sine(1000, 0.5, 44100, 44100, 2));
  const Samples out = render("file:" + path, format48k, 60000, 1000, {.loop = false});
  EXPECT_NEAR(static_cast<double>(out.size() / 2), 48000.0, 3.0);
}

TEST(SourceFile, ResamplingPreservesAToneFrequencyAndLevel) {
  ScratchDir dir;
  const std::string path = dir.file("44k-tone.wav");
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 44100, sine(1000, 0.5, 44100, 44100, 1));
  const Samples out = render("file:" + path, format48k, 48000, 4096, {.loop = false});
  ASSERT_GE(out.size(), 47000u * 2);
  // Away from the converter's edges at the start and the end.
  const Samples steady = Samples(out.begin() + 2 * 1000, out.begin() + 2 * 47000);
  const Samples left = channel(steady, 0);
  EXPECT_NEAR(zero_crossing_frequency(left, 48000), 1000.0, 0.01);
  EXPECT_NEAR(to_db(rms(left)), to_db(0.5 / std::sqrt(2.0)), 0.01);
  float peak = 0.0f;
  for (float v : left) peak = std::max(peak, std::abs(v));
  EXPECT_NEAR(to_db(peak), to_db(0.5), 0.01);
  EXPECT_EQ(channel(steady, 1), left);
}

TEST(SourceFile, ResampledLoopFeedsTheConverterAcrossTheWrapSeamlessly) {
  ScratchDir dir;
  const std::string path = dir.file("44k-loop.wav");
  // Exactly 100 periods of 1 kHz, so the looped file is one endless tone.
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 44100, sine(1000, 0.5, 44100, 4410, 1));
  const Samples left = channel(render("file:" + path, format48k, 48000, 1000, {.loop = true}), 0);
  ASSERT_EQ(left.size(), 48000u);
  // libsamplerate adds no delay, so past the converter's first few frames
  // (where its filter still sees the silence before frame 0) the output is
  // that tone at 48 kHz, through all ten wraps: no gap, click or fade.
  for (std::size_t i = 100; i < left.size(); ++i) {
    const double ideal = 0.5 * std::sin(2.0 * std::numbers::pi * 1000.0 * static_cast<double>(i) / 48000.0);
    ASSERT_NEAR(left[i], ideal, 1e-5) << "frame " << i;
  }
}

TEST(SourceFile, DescribesItsFormatRateChannelsAndMode) {
  ScratchDir dir;
  const std::string wav = dir.file("a.wav");
  const std::string flac = dir.file("b.flac");
  write_floats(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 44100, ramp(100, 1));
  write_shorts(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 2, 48000, std::vector<short>(200, 1));
  EXPECT_EQ(make_source("file:" + wav, format48k)->describe(),
            "file '" + wav + "' (WAV, 44100 Hz, mono, resampled to 48000 Hz, looping)");
  EXPECT_EQ(make_source("file:" + flac, format48k, {.loop = false})->describe(),
            "file '" + flac + "' (FLAC, 48000 Hz, stereo, one-shot)");
}

TEST(SourceRender, MakesNoAllocation) {
  ScratchDir dir;
  const std::string wav = dir.file("a.wav");
  const std::string mono44 = dir.file("b.wav");
  write_floats(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 3, 48000, ramp(3000, 3));
  write_floats(mono44, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 44100, ramp(3000, 1));
  const std::vector<std::string> specs{"tone:440", "noise:white", "noise:pink",
                                       "silence",  "file:" + wav, "file:" + mono44};
  for (const std::string& spec : specs) {
    for (bool loop : {true, false}) {
      const std::size_t at_start = allocations.load(std::memory_order_relaxed);
      auto source = make_source(spec, format48k, {.loop = loop});
      ASSERT_GT(allocations.load(std::memory_order_relaxed), at_start)
          << "the counter sees the constructor's";
      Samples buffer(2 * 1000);
      const std::size_t before = allocations.load(std::memory_order_relaxed);
      for (int call = 0; call < 20; ++call) source->render(buffer);
      EXPECT_EQ(allocations.load(std::memory_order_relaxed), before)
          << spec << (loop ? " looping" : " one-shot");
    }
  }
}

// ---------------------------------------------------------------------------
// Determinism under any chunking

TEST(SourceDeterminism, EverySourceRendersTheSameSamplesWhateverTheChunkSizes) {
  ScratchDir dir;
  const std::string wav = dir.file("stereo.wav");
  const std::string mono44 = dir.file("mono44.wav");
  const std::string ogg = dir.file("tone.ogg");
  const std::string wav48 = dir.file("48k.wav");
  write_floats(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 2, 48000, sine(330, 0.7, 48000, 3001, 2));
  write_floats(mono44, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 44100, sine(1234, 0.4, 44100, 2999, 1));
  write_floats(ogg, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 2, 48000, sine(500, 0.5, 48000, 4000, 2));
  write_floats(wav48, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 48000, ramp(2500, 2));

  struct Case {
    std::string spec;
    StreamFormat format;
    bool loop;
  };
  const std::vector<Case> cases{
      {"tone:440", format48k, true},        {"tone:12345.6", format44k, true},
      {"noise:white", format48k, true},     {"noise:pink", format48k, true},
      {"silence", format48k, true},         {"file:" + wav, format48k, true},
      {"file:" + wav, format48k, false},    {"file:" + mono44, format48k, true},
      {"file:" + mono44, format48k, false}, {"file:" + ogg, format48k, true},
      {"file:" + wav48, format44k, true},   {"file:" + wav48, format44k, false},
  };
  constexpr std::size_t frames = 10000;
  for (const Case& c : cases) {
    const SourceOptions options{.loop = c.loop, .level_db = -9, .seed = 42};
    const Samples reference = render(c.spec, c.format, frames, frames, options);
    if (c.loop) {
      EXPECT_EQ(reference.size(), frames * 2) << c.spec;
    }
    for (std::size_t chunk : {1u, 7u, 128u, 4096u}) {
      EXPECT_TRUE(bit_identical(render(c.spec, c.format, frames, chunk, options), reference))
          << c.spec << (c.loop ? " looping" : " one-shot") << " in chunks of " << chunk;
    }
  }
}

// ---------------------------------------------------------------------------
// Errors

TEST(SourceSpec, AnUnknownKindIsRejectedWithTheKindsThatExist) {
  EXPECT_EQ(error_of("sine:440"),
            "source 'sine:440': unknown source kind 'sine'; expected tone:<hz>, noise:white, noise:pink, "
            "silence or file:<path>");
  EXPECT_EQ(error_of("bogus"),
            "source 'bogus': unknown source kind 'bogus'; expected tone:<hz>, noise:white, noise:pink, "
            "silence or file:<path>");
  EXPECT_EQ(
      error_of(""),
      "source '': the spec is empty; expected tone:<hz>, noise:white, noise:pink, silence or file:<path>");
}

TEST(SourceSpec, AToneFrequencyMustBeANumber) {
  EXPECT_EQ(error_of("tone:abc"), "source 'tone:abc': frequency 'abc' is not a number of Hz, e.g. tone:440");
  EXPECT_EQ(error_of("tone:440Hz"),
            "source 'tone:440Hz': frequency '440Hz' is not a number of Hz, e.g. tone:440");
  EXPECT_EQ(error_of("tone:inf"), "source 'tone:inf': frequency 'inf' is not a number of Hz, e.g. tone:440");
  EXPECT_EQ(error_of("tone:"), "source 'tone:': a tone needs a frequency in Hz, e.g. tone:440");
  EXPECT_EQ(error_of("tone"), "source 'tone': a tone needs a frequency in Hz, e.g. tone:440");
}

TEST(SourceSpec, AToneFrequencyMustBeAboveZeroAndBelowHalfTheSampleRate) {
  EXPECT_EQ(error_of("tone:-5"),
            "source 'tone:-5': frequency -5 Hz is out of range: it must be above 0 and below 24000 Hz (half "
            "the sample rate, 48000 Hz)");
  EXPECT_EQ(error_of("tone:0"),
            "source 'tone:0': frequency 0 Hz is out of range: it must be above 0 and below 24000 Hz (half "
            "the sample rate, 48000 Hz)");
  EXPECT_EQ(error_of("tone:30000"),
            "source 'tone:30000': frequency 30000 Hz is out of range: it must be above 0 and below 24000 Hz "
            "(half the sample rate, 48000 Hz)");
  EXPECT_EQ(error_of("tone:22050", format44k),
            "source 'tone:22050': frequency 22050 Hz is out of range: it must be above 0 and below 22050 Hz "
            "(half the sample rate, 44100 Hz)");
  EXPECT_NO_THROW(make_source("tone:23999.5", format48k));
  EXPECT_NO_THROW(make_source("tone:0.5", format48k));
}

TEST(SourceSpec, NoiseMustBeWhiteOrPink) {
  EXPECT_EQ(error_of("noise:blue"),
            "source 'noise:blue': unknown noise colour 'blue': expected noise:white or noise:pink");
  EXPECT_EQ(error_of("noise"), "source 'noise': noise needs a colour: noise:white or noise:pink");
  EXPECT_EQ(error_of("noise:"), "source 'noise:': noise needs a colour: noise:white or noise:pink");
}

TEST(SourceSpec, SilenceTakesNoArgument) {
  EXPECT_EQ(error_of("silence:5"), "source 'silence:5': silence takes no argument: write just 'silence'");
}

TEST(SourceSpec, AGeneratorLevelMustBeFinite) {
  EXPECT_EQ(error_of("tone:440", format48k, {.loop = true, .level_db = std::nan(""), .seed = 1}),
            "source 'tone:440': level nan dBFS is not a finite number");
  EXPECT_EQ(error_of("noise:pink", format48k, {.loop = true, .level_db = HUGE_VAL, .seed = 1}),
            "source 'noise:pink': level inf dBFS is not a finite number");
}

TEST(SourceSpec, AFileSourceNeedsAPath) {
  EXPECT_EQ(error_of("file:"), "source 'file:': a file source needs a path, e.g. file:music.wav");
  EXPECT_EQ(error_of("file"), "source 'file': a file source needs a path, e.g. file:music.wav");
}

TEST(SourceSpec, AMissingFileNamesThePathAndLibsndfilesReason) {
  ScratchDir dir;
  const std::string path = dir.file("missing.wav");
  const std::string reason = sndfile_reason(path);
  EXPECT_NE(reason.find("No such file"), std::string::npos) << reason;
  EXPECT_EQ(error_of("file:" + path), "source 'file:" + path + "': cannot open '" + path + "': " + reason);
}

TEST(SourceSpec, AFileThatIsNotAudioNamesThePathAndLibsndfilesReason) {
  ScratchDir dir;
  const std::string path = dir.file("notes.wav");
  std::ofstream(path) << "These are not the samples you are looking for.\n";
  const std::string reason = sndfile_reason(path);
  EXPECT_NE(reason, "(libsndfile opened it)");
  EXPECT_EQ(error_of("file:" + path), "source 'file:" + path + "': cannot open '" + path + "': " + reason);
}

TEST(SourceSpec, AWavHeaderWithZeroChannelsIsRejected) {
  ScratchDir dir;
  const std::string path = dir.file("zero-channels.wav");
  {
    // A canonical 44-byte PCM WAV header with its channel count set to 0,
    // followed by a few bytes of "data".
    std::ofstream out(path, std::ios::binary);
    const auto u32 = [&out](std::uint32_t v) {
      for (int i = 0; i < 4; ++i) out.put(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    const auto u16 = [&out](std::uint16_t v) {
      out.put(static_cast<char>(v & 0xff));
      out.put(static_cast<char>(v >> 8));
    };
    out << "RIFF";
    u32(36 + 8);
    out << "WAVEfmt ";
    u32(16);
    u16(1);      // PCM
    u16(0);      // channels
    u32(48000);  // sample rate
    u32(0);      // byte rate
    u16(0);      // block align
    u16(16);     // bits per sample
    out << "data";
    u32(8);
    u32(0);
    u32(0);
  }
  const std::string reason = sndfile_reason(path);
  EXPECT_EQ(error_of("file:" + path), "source 'file:" + path + "': cannot open '" + path + "': " + reason);
  EXPECT_NE(reason.find("hannel"), std::string::npos) << reason;  // "Channel count is zero."
}

TEST(SourceSpec, AFileWithNoFramesIsRejected) {
  ScratchDir dir;
  const std::string path = dir.file("empty.wav");
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2, 48000, {});
  EXPECT_EQ(error_of("file:" + path), "source 'file:" + path + "': '" + path + "' has no audio frames");
}

TEST(SourceSpec, ARateLibsamplerateCannotConvertIsRejected) {
  ScratchDir dir;
  const std::string path = dir.file("slow.wav");
  // 100 Hz to 48 kHz is a ratio of 480, beyond libsamplerate's 256.
  write_floats(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 100, ramp(10, 1));
  ASSERT_EQ(src_is_valid_ratio(480.0), 0);
  EXPECT_EQ(error_of("file:" + path), "source 'file:" + path + "': '" + path +
                                          "' is at 100 Hz, which libsamplerate cannot convert to 48000 Hz");
}

}  // namespace
