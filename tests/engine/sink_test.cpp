// Sinks on the master ring: the Sink base's read loop (drain on stop, exact
// dropout counts, failure isolation), the recorder's files (exact content in
// every format, valid after SIGKILL, errors for unwritable paths and full
// disks) and the null sink's pause hook.
//
// The test thread plays the engine: it is the ring's only writer, and every
// write happens inside a NOWAIT_NONBLOCKING function, so the rtsan build checks
// that writing the master never blocks however the sinks behave. Tests
// synchronise through the sinks' status() and stop(), never by sleeping.
#include "engine/sink.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <ostream>
#include <signal.h>
#include <sndfile.h>
#include <span>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "engine/null_sink.hpp"
#include "engine/recorder.hpp"
#include "nowait/rt.hpp"

namespace {

namespace fs = std::filesystem;
using nowait::engine::make_sink;
using nowait::engine::MasterRing;
using nowait::engine::NullSink;
using nowait::engine::RecorderSink;
using nowait::engine::Sink;
using nowait::engine::SinkConfig;
using nowait::engine::SinkState;
using nowait::engine::SinkStatus;
using nowait::engine::StreamFormat;

constexpr StreamFormat format{48000, 128};
constexpr std::size_t block_frames = 128;
constexpr std::size_t block_samples = block_frames * 2;

// Sample `index` of block `sequence`: a different value for every sample of
// the stream, spread over [-1, 1) on a 2^-23 grid (exact in float, between
// the 16-bit steps).
float pattern(std::uint64_t sequence, std::size_t index) noexcept NOWAIT_NONBLOCKING {
  const std::uint64_t n = sequence * block_samples + index;
  const std::uint64_t mixed = ((n * 2654435761u) >> 8) & 0xFFFFFF;
  return static_cast<float>(mixed) / 8388608.0f - 1.0f;
}

// The engine's side: publishes `count` pattern blocks. Real-time context, as
// the RT thread's broadcast step is.
void write_blocks(MasterRing::Writer& writer, std::span<float> scratch,
                  std::uint64_t count) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t sequence = writer.written();
    for (std::size_t s = 0; s < scratch.size(); ++s) scratch[s] = pattern(sequence, s);
    writer.write(scratch);
  }
}

// A sink's reader position, from its status: every block it has consumed or lost.
std::uint64_t position(const SinkStatus& status) {
  return status.start_block + status.blocks_written + status.blocks_lost;
}

// A master ring plus the scratch block its writer fills.
struct Master {
  explicit Master(std::size_t ring_slots) : slots(ring_slots) {
    auto [w, h] = MasterRing::create(slots, block_samples);
    writer = std::make_unique<MasterRing::Writer>(std::move(w));
    hub = std::make_unique<MasterRing>(std::move(h));
  }

  // Writes `count` blocks at once, keeping up with nobody.
  void write(std::uint64_t count) { write_blocks(*writer, scratch, count); }

  // Writes `count` blocks one at a time, first waiting (polling status, as a
  // test must not sleep) until every running sink in `keep_up` has read far
  // enough that the write cannot overwrite a block it has not read.
  void write_paced(std::uint64_t count, std::initializer_list<const Sink*> keep_up) {
    for (std::uint64_t i = 0; i < count; ++i) {
      for (const Sink* sink : keep_up) {
        for (;;) {
          const SinkStatus status = sink->status();
          if (status.state != SinkState::running) break;
          // The next write overwrites block written - slots; keep one more
          // slot of margin for the block being copied.
          if (writer->written() + 2 <= position(status) + slots) break;
          std::this_thread::yield();
        }
      }
      write(1);
    }
  }

  std::size_t slots;
  std::unique_ptr<MasterRing::Writer> writer;
  std::unique_ptr<MasterRing> hub;
  std::vector<float> scratch = std::vector<float>(block_samples);
};

// A fresh directory per test (tests run in parallel processes under CTest).
fs::path scratch_dir() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  const fs::path dir = fs::path(testing::TempDir()) / "nowait_sink_test" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

struct Audio {
  SF_INFO info{};
  std::vector<float> samples;  // interleaved stereo, every frame libsndfile could decode
};

// Reads a whole file with libsndfile, also one whose length is unknown.
Audio read_audio(const fs::path& path) {
  Audio audio;
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &audio.info);
  if (file == nullptr) throw std::runtime_error("sf_open " + path.string() + ": " + sf_strerror(nullptr));
  std::vector<float> chunk(4096 * 2);
  for (;;) {
    const sf_count_t got = sf_readf_float(file, chunk.data(), 4096);
    if (got <= 0) break;
    audio.samples.insert(audio.samples.end(), chunk.begin(), chunk.begin() + got * 2);
  }
  sf_close(file);
  return audio;
}

std::vector<int> read_ints(const fs::path& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr) throw std::runtime_error("sf_open " + path.string() + ": " + sf_strerror(nullptr));
  std::vector<int> samples(static_cast<std::size_t>(info.frames) * 2);
  samples.resize(static_cast<std::size_t>(sf_readf_int(file, samples.data(), info.frames)) * 2);
  sf_close(file);
  return samples;
}

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Expects `samples` to be the pattern from block 0 on, each within `tolerance`.
void expect_pattern(std::span<const float> samples, double tolerance) {
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const float expected = pattern(i / block_samples, i % block_samples);
    if (std::fabs(static_cast<double>(samples[i]) - expected) > tolerance && ++mismatches <= 5)
      ADD_FAILURE() << "sample " << i << ": " << samples[i] << " != " << expected << " within " << tolerance;
  }
  EXPECT_EQ(mismatches, 0u);
}

SinkConfig sink_config(std::string type, std::string path = "", std::string container = "wav",
                       std::string sample_format = "pcm24") {
  SinkConfig config;
  config.type = std::move(type);
  config.path = std::move(path);
  config.format = std::move(container);
  config.sample_format = std::move(sample_format);
  return config;
}

// A sink that throws from open() or from consume() of one chosen block.
class ThrowingSink final : public Sink {
 public:
  ThrowingSink(bool throw_in_open, std::uint64_t throw_at)
      : Sink("throwing", "test"), throw_in_open_(throw_in_open), throw_at_(throw_at) {}
  ~ThrowingSink() override { stop(); }

  int closes() const { return closes_.load(); }

 private:
  void open(const StreamFormat& /*format*/) override {
    if (throw_in_open_) throw std::runtime_error("cannot open the test device");
  }
  void consume(std::span<const float> /*block*/, std::uint64_t sequence) override {
    if (sequence == throw_at_) throw std::runtime_error("disk on fire at block " + std::to_string(sequence));
  }
  void close() noexcept override { closes_.fetch_add(1); }

  bool throw_in_open_;
  std::uint64_t throw_at_;
  std::atomic<int> closes_{0};
};

// ---------------------------------------------------------------------------
// make_sink

TEST(MakeSink, BuildsARecorderOrANullSinkFromItsConfig) {
  const fs::path dir = scratch_dir();
  const auto sink = make_sink(sink_config("recorder", (dir / "take.flac").string(), "flac", "pcm16"), format);
  const SinkStatus status = sink->status();
  EXPECT_EQ(status.type, "recorder");
  EXPECT_EQ(status.name, "recorder");
  EXPECT_EQ(status.path, (dir / "take.flac").string());
  EXPECT_EQ(status.state, SinkState::idle);
  EXPECT_NE(dynamic_cast<RecorderSink*>(sink.get()), nullptr);

  const auto null = make_sink(sink_config("null"), format);
  EXPECT_EQ(null->status().type, "null");
  EXPECT_NE(dynamic_cast<NullSink*>(null.get()), nullptr);
}

TEST(MakeSink, RejectsAnUnknownTypeNamingTheAllowedTypes) {
  try {
    static_cast<void>(make_sink(sink_config("icecast"), format));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown sink type 'icecast' (allowed: \"recorder\", \"null\")");
  }
}

TEST(MakeSink, RejectsRecorderOptionsItCannotWrite) {
  auto config = [](const char* path, const char* container, const char* samples) {
    return sink_config("recorder", path, container, samples);
  };
  EXPECT_THROW(make_sink(config("", "wav", "pcm16"), format), std::invalid_argument);
  EXPECT_THROW(make_sink(config("a.ogg", "ogg", "pcm16"), format), std::invalid_argument);
  EXPECT_THROW(make_sink(config("a.wav", "wav", "pcm8"), format), std::invalid_argument);
  try {
    static_cast<void>(make_sink(config("a.flac", "flac", "float"), format));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "recorder: FLAC cannot hold float samples (allowed with flac: \"pcm16\", \"pcm24\")");
  }
}

// ---------------------------------------------------------------------------
// The Sink base

TEST(Sink, StoppingDrainsEveryBlockWrittenBeforeStop) {
  Master master(64);
  NullSink sink;
  sink.start(master.hub->subscribe(), format);
  master.write(63);  // all at once: the sink may not have read any yet
  sink.stop();
  const SinkStatus status = sink.status();
  EXPECT_EQ(status.state, SinkState::stopped);
  EXPECT_EQ(status.blocks_written, 63u);
  EXPECT_EQ(status.frames_written, 63u * block_frames);
  EXPECT_EQ(status.dropouts, 0u);
  EXPECT_EQ(status.blocks_lost, 0u);
}

TEST(Sink, StartsAtTheReadersPositionAndCountsOnlyWhatFollows) {
  Master master(8);
  master.write(5);
  NullSink sink;
  sink.start(master.hub->subscribe(), format);
  master.write_paced(20, {&sink});
  sink.stop();
  const SinkStatus status = sink.status();
  EXPECT_EQ(status.start_block, 5u);
  EXPECT_EQ(status.blocks_written, 20u);
  EXPECT_EQ(status.dropouts, 0u);
}

TEST(Sink, StopIsIdempotentAndDoesNothingToASinkNeverStarted) {
  NullSink never_started;
  never_started.stop();
  EXPECT_EQ(never_started.status().state, SinkState::idle);

  Master master(4);
  NullSink sink;
  sink.start(master.hub->subscribe(), format);
  sink.stop();
  sink.stop();
  EXPECT_EQ(sink.status().state, SinkState::stopped);
}

TEST(Sink, StartingTwiceThrowsLogicError) {
  Master master(4);
  NullSink sink;
  sink.start(master.hub->subscribe(), format);
  EXPECT_THROW(sink.start(master.hub->subscribe(), format), std::logic_error);
  sink.stop();
}

TEST(Sink, ASinkWhoseConsumeThrowsFailsWithTheExceptionTextWhileAnotherSinkRunsOn) {
  Master master(8);
  ThrowingSink failing(false, 3);
  NullSink healthy;
  failing.start(master.hub->subscribe(), format);
  healthy.start(master.hub->subscribe(), format);
  master.write_paced(40, {&failing, &healthy});
  failing.stop();
  healthy.stop();

  const SinkStatus failed = failing.status();
  EXPECT_EQ(failed.state, SinkState::failed);
  EXPECT_EQ(failed.error, "disk on fire at block 3");
  EXPECT_EQ(failed.blocks_written, 3u);  // blocks 0, 1 and 2
  EXPECT_EQ(failing.closes(), 1);

  const SinkStatus ok = healthy.status();
  EXPECT_EQ(ok.state, SinkState::stopped);
  EXPECT_EQ(ok.blocks_written, 40u);
  EXPECT_EQ(ok.dropouts, 0u);
}

TEST(Sink, ASinkWhoseOpenThrowsFailsAndIsClosedOnce) {
  Master master(4);
  ThrowingSink failing(true, 0);
  failing.start(master.hub->subscribe(), format);
  master.write(2);
  failing.stop();
  const SinkStatus status = failing.status();
  EXPECT_EQ(status.state, SinkState::failed);
  EXPECT_EQ(status.error, "cannot open the test device");
  EXPECT_EQ(status.blocks_written, 0u);
  EXPECT_EQ(failing.closes(), 1);
}

// The backpressure contract: a sink that stalls loses exactly the blocks the
// writer overwrote while it was stalled, and nobody else notices.
TEST(Sink, AStalledSinkLosesExactlyTheBlocksItMissedWhileTheRecorderBesideItLosesNone) {
  const fs::path dir = scratch_dir();
  constexpr std::size_t slots = 32;
  constexpr std::uint64_t total = 200;

  // What the recorder writes when nobody stalls.
  {
    Master master(slots);
    RecorderSink reference((dir / "reference.wav").string(), "wav", "pcm24");
    reference.start(master.hub->subscribe(), format);
    master.write_paced(total, {&reference});
    reference.stop();
    ASSERT_EQ(reference.status().blocks_written, total);
  }

  Master master(slots);
  RecorderSink recorder((dir / "take.wav").string(), "wav", "pcm24");
  NullSink stalled;
  recorder.start(master.hub->subscribe(), format);
  stalled.start(master.hub->subscribe(), format);
  master.write_paced(10, {&recorder, &stalled});
  stalled.pause();
  const SinkStatus at_pause = stalled.status();
  ASSERT_EQ(at_pause.dropouts, 0u);
  const std::uint64_t parked_at = at_pause.blocks_written;  // its reader position
  master.write_paced(total - 10, {&recorder});              // laps the parked sink several times

  testing::internal::CaptureStderr();
  stalled.resume();
  recorder.stop();
  stalled.stop();
  const std::string log = testing::internal::GetCapturedStderr();

  // Its next read found block parked_at overwritten and resumed at the oldest
  // block the writer's next write would not touch: total - (slots - 1).
  const std::uint64_t resumed_at = total - (slots - 1);
  const SinkStatus null = stalled.status();
  EXPECT_EQ(null.state, SinkState::stopped);
  EXPECT_EQ(null.dropouts, 1u);
  EXPECT_EQ(null.blocks_lost, resumed_at - parked_at);
  EXPECT_EQ(null.first_lost_block, parked_at);
  EXPECT_EQ(null.last_lost_block, parked_at);
  EXPECT_EQ(null.blocks_written, parked_at + (total - resumed_at));
  EXPECT_EQ(null.blocks_written + null.blocks_lost, total);

  char expected_line[128];
  std::snprintf(expected_line, sizeof expected_line, "null: lost %" PRIu64 " blocks (%.3f s) at %.3f s\n",
                resumed_at - parked_at, static_cast<double>(resumed_at - parked_at) * block_frames / 48000,
                static_cast<double>(parked_at) * block_frames / 48000);
  EXPECT_EQ(log, expected_line);

  const SinkStatus rec = recorder.status();
  EXPECT_EQ(rec.blocks_written, total);
  EXPECT_EQ(rec.dropouts, 0u);
  EXPECT_EQ(rec.blocks_lost, 0u);
  const std::vector<char> take = read_bytes(dir / "take.wav");
  ASSERT_FALSE(take.empty());
  EXPECT_TRUE(take == read_bytes(dir / "reference.wav"))
      << "the stalled sink changed what the recorder wrote";
}

// ---------------------------------------------------------------------------
// RecorderSink

struct RecordingCase {
  const char* format;
  const char* sample_format;
  int sf_format;
  int bits;  // PCM depth; 0 for float
};

// The recorder's documented PCM law, computed here independently: x * 2^(bits-1)
// rounded to nearest, ties to even, clipped to the integer range.
std::vector<int> expected_pcm(std::uint64_t blocks, int bits) {
  const double full_scale = std::ldexp(1.0, bits - 1);
  std::vector<int> out;
  for (std::uint64_t b = 0; b < blocks; ++b)
    for (std::size_t i = 0; i < block_samples; ++i) {
      const double q = std::nearbyint(static_cast<double>(pattern(b, i)) * full_scale);
      out.push_back(static_cast<int>(std::min(q, full_scale - 1)));
    }
  return out;
}

// libsndfile hands every depth to sf_readf_int in the top bits of an int.
std::vector<int> read_pcm(const fs::path& path, int bits) {
  std::vector<int> samples = read_ints(path);
  for (int& s : samples) s >>= 32 - bits;
  return samples;
}

void PrintTo(const RecordingCase& c, std::ostream* out) { *out << c.format << "/" << c.sample_format; }

class RecorderFormats : public testing::TestWithParam<RecordingCase> {};

TEST_P(RecorderFormats, WritesExactlyTheBlocksWrittenToTheRing) {
  const RecordingCase& c = GetParam();
  const fs::path path = scratch_dir() / (std::string("take.") + c.format);
  constexpr std::uint64_t blocks = 300;
  Master master(16);  // much shorter than the recording: the writer laps the ring many times
  RecorderSink recorder(path.string(), c.format, c.sample_format);
  recorder.start(master.hub->subscribe(), format);
  master.write_paced(blocks, {&recorder});
  recorder.stop();

  const SinkStatus status = recorder.status();
  EXPECT_EQ(status.state, SinkState::stopped) << status.error;
  EXPECT_EQ(status.blocks_written, blocks);
  EXPECT_EQ(status.frames_written, blocks * block_frames);
  EXPECT_EQ(status.dropouts, 0u);
  EXPECT_EQ(status.path, path.string());
  EXPECT_EQ(status.bytes_written, fs::file_size(path));

  const Audio audio = read_audio(path);
  EXPECT_EQ(audio.info.frames, static_cast<sf_count_t>(blocks * block_frames));
  EXPECT_EQ(audio.info.samplerate, 48000);
  EXPECT_EQ(audio.info.channels, 2);
  EXPECT_EQ(audio.info.format, c.sf_format);
  ASSERT_EQ(audio.samples.size(), blocks * block_samples);
  if (c.bits == 0) {
    expect_pattern(audio.samples, 0.0);  // float: bit-exact
  } else {
    EXPECT_TRUE(read_pcm(path, c.bits) == expected_pcm(blocks, c.bits));  // exact integers
    expect_pattern(audio.samples, std::ldexp(1.0, 1 - c.bits));           // within one LSB as floats
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormat, RecorderFormats,
    testing::Values(RecordingCase{"wav", "pcm16", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16},
                    RecordingCase{"wav", "pcm24", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 24},
                    RecordingCase{"wav", "float", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 0},
                    RecordingCase{"flac", "pcm16", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16},
                    RecordingCase{"flac", "pcm24", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 24}),
    [](const testing::TestParamInfo<RecordingCase>& param) {
      return std::string(param.param.format) + "_" + param.param.sample_format;
    });

// FLAC is lossless: decoded, it holds exactly the integers a WAV of the same
// bit depth holds, recorded from the same ring at the same time.
TEST(RecorderSink, FlacHoldsExactlyTheSamplesOfAWavOfTheSameBitDepth) {
  const fs::path dir = scratch_dir();
  for (const char* depth : {"pcm16", "pcm24"}) {
    SCOPED_TRACE(depth);
    const fs::path wav = dir / (std::string(depth) + ".wav");
    const fs::path flac = dir / (std::string(depth) + ".flac");
    Master master(16);
    RecorderSink wav_recorder(wav.string(), "wav", depth);
    RecorderSink flac_recorder(flac.string(), "flac", depth);
    wav_recorder.start(master.hub->subscribe(), format);
    flac_recorder.start(master.hub->subscribe(), format);
    master.write_paced(100, {&wav_recorder, &flac_recorder});
    wav_recorder.stop();
    flac_recorder.stop();
    const std::vector<int> from_wav = read_ints(wav);
    EXPECT_EQ(from_wav.size(), 100u * block_samples);
    EXPECT_TRUE(read_ints(flac) == from_wav);
  }
}

TEST(RecorderSink, CreatesMissingParentDirectories) {
  const fs::path path = scratch_dir() / "a" / "b" / "take.wav";
  Master master(8);
  RecorderSink recorder(path.string(), "wav", "pcm16");
  recorder.start(master.hub->subscribe(), format);
  master.write_paced(3, {&recorder});
  recorder.stop();
  EXPECT_EQ(recorder.status().state, SinkState::stopped) << recorder.status().error;
  EXPECT_EQ(read_audio(path).info.frames, static_cast<sf_count_t>(3 * block_frames));
}

TEST(RecorderSink, ReplacesTimestampInThePathWithTheLocalTime) {
  const fs::path dir = scratch_dir();
  RecorderSink recorder((dir / "nowait-{timestamp}.wav").string(), "wav", "pcm16");
  const std::string name = fs::path(recorder.path()).filename().string();
  // nowait-YYYYMMDD-HHMMSS.wav
  const std::string shape = "nowait-dddddddd-dddddd.wav";
  ASSERT_EQ(name.size(), shape.size()) << name;
  for (std::size_t i = 0; i < shape.size(); ++i)
    EXPECT_TRUE(shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(name[i])) != 0
                                : name[i] == shape[i])
        << name;
  EXPECT_EQ(recorder.status().path, recorder.path());
}

TEST(RecorderSink, AnUnwritablePathFailsThatSinkNamingThePathWhileAnotherSinkWritesEverything) {
  const fs::path dir = scratch_dir();
  std::ofstream(dir / "plain_file") << "not a directory";
  const fs::path bad = dir / "plain_file" / "take.wav";
  const fs::path good = dir / "good.wav";
  Master master(8);
  RecorderSink failing(bad.string(), "wav", "pcm16");
  RecorderSink recorder(good.string(), "wav", "pcm16");
  failing.start(master.hub->subscribe(), format);
  recorder.start(master.hub->subscribe(), format);
  master.write_paced(50, {&failing, &recorder});
  failing.stop();
  recorder.stop();

  const SinkStatus failed = failing.status();
  EXPECT_EQ(failed.state, SinkState::failed);
  EXPECT_EQ(failed.error, "recorder: cannot open '" + bad.string() +
                              "' for writing: cannot create directory '" + (dir / "plain_file").string() +
                              "': Not a directory");
  EXPECT_EQ(failed.blocks_written, 0u);

  EXPECT_EQ(recorder.status().state, SinkState::stopped);
  EXPECT_EQ(recorder.status().blocks_written, 50u);
  EXPECT_EQ(read_audio(good).info.frames, static_cast<sf_count_t>(50 * block_frames));
}

TEST(RecorderSink, ADirectoryAsThePathFailsAtOpenNamingThePath) {
  const fs::path dir = scratch_dir();
  Master master(4);
  RecorderSink failing(dir.string(), "wav", "pcm16");
  failing.start(master.hub->subscribe(), format);
  failing.stop();
  const SinkStatus status = failing.status();
  EXPECT_EQ(status.state, SinkState::failed);
  EXPECT_EQ(status.error, "recorder: cannot open '" + dir.string() + "' for writing: Is a directory");
}

// ---------------------------------------------------------------------------
// Recordings that end badly. Each runs in a child process, re-executed by
// GoogleTest's death-test machinery (style "threadsafe", set for every test
// by tests/CMakeLists.txt), so the child starts with one thread and the
// sanitizers see an ordinary process.

// Child: records `blocks` pattern blocks, waits until the recorder has written
// all of them, and kills itself without any chance to finalise the file.
void record_then_die(const fs::path& path, const char* container, const char* sample_format,
                     std::uint64_t blocks) {
  Master master(16);
  RecorderSink recorder(path.string(), container, sample_format);
  recorder.start(master.hub->subscribe(), format);
  master.write_paced(blocks, {&recorder});
  while (recorder.status().blocks_written < blocks) std::this_thread::yield();
  raise(SIGKILL);
}

TEST(RecorderDeathTest, AKilledWavRecordingReadsBackWithEveryBlockWrittenBeforeTheKill) {
  const fs::path path = scratch_dir() / "killed.wav";
  constexpr std::uint64_t blocks = 77;
  EXPECT_EXIT(record_then_die(path, "wav", "float", blocks), testing::KilledBySignal(SIGKILL), "");
  const Audio audio = read_audio(path);
  EXPECT_EQ(audio.info.frames, static_cast<sf_count_t>(blocks * block_frames));
  ASSERT_EQ(audio.samples.size(), blocks * block_samples);
  expect_pattern(audio.samples, 0.0);
}

// What FLAC gives: its header (STREAMINFO: length, MD5) is written only by
// sf_close, and libsndfile encodes 4096-frame blocks, so a killed FLAC reads
// back with an unknown length and every complete encoder block; only the last
// partial block (< 4096 frames) is lost.
TEST(RecorderDeathTest, AKilledFlacRecordingReadsBackWithEveryCompleteEncoderBlock) {
  const fs::path path = scratch_dir() / "killed.flac";
  constexpr std::uint64_t blocks = 100;  // 12800 frames: 3 whole encoder blocks and 512 frames
  EXPECT_EXIT(record_then_die(path, "flac", "pcm16", blocks), testing::KilledBySignal(SIGKILL), "");
  const Audio audio = read_audio(path);
  const std::size_t frames = audio.samples.size() / 2;
  const std::size_t written = blocks * block_frames;
  EXPECT_LE(frames, written);
  EXPECT_LT(written - frames, 4096u);
  EXPECT_GT(frames, 0u);
  expect_pattern(audio.samples, 1.0 / (1 << 15));
}

// Child: records under a 64 KiB file size limit (RLIMIT_FSIZE, the same
// short write a full disk gives, without root), next to a null sink. Prints
// the recorder's error and exits 0 if the recorder failed and the null sink
// read every block.
void record_into_a_full_disk(const fs::path& path) {
  signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG instead of killing
  const rlimit limit{64 * 1024, 64 * 1024};
  if (setrlimit(RLIMIT_FSIZE, &limit) != 0) std::exit(2);
  constexpr std::uint64_t blocks = 200;  // 200 KiB of 16-bit stereo
  bool ok = false;
  {
    Master master(16);
    RecorderSink recorder(path.string(), "wav", "pcm16");
    NullSink null;
    recorder.start(master.hub->subscribe(), format);
    null.start(master.hub->subscribe(), format);
    master.write_paced(blocks, {&recorder, &null});
    recorder.stop();
    null.stop();
    const SinkStatus failed = recorder.status();
    std::fprintf(stderr, "state %s, error: %s\n", to_string(failed.state), failed.error.c_str());
    ok = failed.state == SinkState::failed && null.status().blocks_written == blocks;
  }
  std::exit(ok ? 0 : 1);
}

TEST(RecorderDeathTest, AFullDiskFailsTheRecorderWithLibsndfilesReasonAndLeavesAValidFile) {
  const fs::path path = scratch_dir() / "full.wav";
  EXPECT_EXIT(record_into_a_full_disk(path), testing::ExitedWithCode(0),
              "state failed, error: recorder: writing '.*full\\.wav' failed after [0-9]+ frames: .+");
  // sf_close finalised the header over what did fit.
  const Audio audio = read_audio(path);
  EXPECT_GT(audio.info.frames, 0);
  EXPECT_LE(audio.info.frames * 4, 64 * 1024);
  expect_pattern(audio.samples, 1.0 / (1 << 15));
}

}  // namespace
