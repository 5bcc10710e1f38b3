// The engine in real time: the virtual clock driver calls process() on its own
// thread while feeder threads fill the inputs and sink threads read the master.
// What these tests assert holds whatever the timing (samples, losses counted
// exactly, threads that free things); what depends on the machine (deadline
// misses, drift) is reported, not asserted. Named *_stress_test so CTest runs
// them alone: they measure time.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sndfile.h>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "engine/null_sink.hpp"
#include "engine_test_support.hpp"
#include "support/clock_stall.hpp"

namespace {

using namespace nowait::engine;
using namespace nowait::engine::test;
using Clock = std::chrono::steady_clock;

EngineConfig mixed_config() {
  EngineConfig cfg = config_of({input("tone", "tone:440", -3.0, -0.3), input("pink", "noise:pink", 0.0, 0.4),
                                input("ramp", "test:ramp", -12.0, 0.0)},
                               -2.0);
  cfg.inputs[1].level_db = -20.0;
  return cfg;
}

std::vector<float> offline_render(const EngineConfig& cfg, TestSources& sources, std::uint64_t frames) {
  Engine engine;
  EngineOptions options;
  options.feed = FeedMode::pull;
  options.source_factory = sources.factory();
  engine.prepare(cfg, options);
  return render_all(engine, frames);
}

void report(const char* what, const VirtualClockDriver& driver, const EngineStatus& s) {
  std::printf(
      "%s: %llu blocks, deadline misses %llu, drift %.3f ms (max %.3f), RTF %.4f (max %.4f), SCHED_FIFO %s\n",
      what, static_cast<unsigned long long>(s.blocks),
      static_cast<unsigned long long>(driver.deadline_misses()), driver.drift_ms(), driver.max_drift_ms(),
      s.rtf, s.max_rtf, driver.realtime() ? "yes" : "no");
  ::testing::Test::RecordProperty("deadline_misses", std::to_string(driver.deadline_misses()));
  ::testing::Test::RecordProperty("drift_ms", std::to_string(driver.drift_ms()));
}

std::uint64_t total_underruns(const EngineStatus& s) {
  std::uint64_t n = 0;
  for (const InputStatus& in : s.inputs) n += in.underrun_blocks;
  return n;
}

TEST(VirtualClock, ARealTimeRunGivesTheSameSamplesAsTheOfflineRenderOfTheSameConfig) {
  for (int run = 1;; ++run) {
    TestSources sources;
    sources.functions["ramp"] = ramp;
    const EngineConfig cfg = mixed_config();

    Engine engine;
    EngineOptions options;
    options.source_factory = sources.factory();
    engine.prepare(cfg, options);
    CaptureSink& capture = add_capture_sink(engine);

    VirtualClockDriver driver;
    const auto started = Clock::now();
    driver.start(engine);
    ASSERT_TRUE(capture.wait_for_blocks(2 * 48000 / 128));
    driver.stop();
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const EngineStatus status = engine.status();
    report("2 s on the virtual clock", driver, status);
    engine.shutdown();  // the capture sink reads everything written, then stops
    if (nowait::test::run_again_after_stall(driver, engine, run)) continue;

    const std::uint64_t frames = driver.frames();
    // The clock's own duration (t0 to its last wake-up): no thread start-up or
    // join in it, so within one block unless a wake-up came a block late.
    EXPECT_NEAR(static_cast<double>(frames), 48000.0 * driver.elapsed_seconds(), 128.0)
        << "clock ran " << driver.elapsed_seconds() << " s";
    std::printf("  %llu frames in %.4f s on the clock, %.4f s from start() to stop()\n",
                static_cast<unsigned long long>(frames), driver.elapsed_seconds(), elapsed);
    EXPECT_EQ(status.blocks * 128, frames);
    EXPECT_EQ(total_underruns(status), 0u) << "an input ran dry: its later samples would be delayed";
    EXPECT_EQ(status.drop_percent, 0.0);

    const std::vector<float> live = capture.samples();
    ASSERT_EQ(live.size(), frames * 2);
    EXPECT_TRUE(capture.contiguous());
    TestSources offline_sources;
    offline_sources.functions["ramp"] = ramp;
    const std::vector<float> rendered = offline_render(cfg, offline_sources, frames);
    ASSERT_EQ(rendered.size(), live.size());
    for (std::size_t i = 0; i < live.size(); ++i) ASSERT_EQ(live[i], rendered[i]) << "sample " << i;
    break;
  }
}

TEST(VirtualClock, InputsAddedAndRemovedWhileRunningLoseNoSamplesAndAreFreedOnTheControlThread) {
  for (int run = 1;; ++run) {
    TestSources sources;
    sources.functions["ramp"] = ramp;
    sources.functions["b"] = constant(0.0f, 0.5f);
    Engine engine;
    EngineOptions options;
    options.source_factory = sources.factory();
    // A only on the left (gains exactly 1 and 0), B only on the right.
    engine.prepare(config_of({input("A", "test:ramp", 0.0, -1.0)}), options);
    CaptureSink& capture = add_capture_sink(engine);

    VirtualClockDriver driver(VirtualClockOptions{false, 0});
    driver.start(engine);
    for (int round = 0; round < 4; ++round) {
      const std::string key = "b" + std::to_string(round);
      sources.functions[key] = constant(0.0f, 0.5f);
      auto probe = std::make_shared<SourceProbe>();
      sources.probes[key] = probe;
      const CommandResult added = engine.add_input(input("B", "test:" + key, 0.0, 1.0));
      ASSERT_TRUE(added.ok) << added.error;
      ASSERT_TRUE(capture.wait_for_blocks(added.block + 10));
      const CommandResult removed = engine.remove_input("B");
      ASSERT_TRUE(removed.ok) << removed.error;
      EXPECT_GT(removed.block, added.block);
      EXPECT_GT(probe->frames_rendered.load(), 0u);
      EXPECT_TRUE(probe->was_destroyed());
      EXPECT_EQ(probe->destroyed_on_thread(), std::this_thread::get_id());
    }
    driver.stop();
    const EngineStatus status = engine.status();
    report("add/remove while running", driver, status);
    engine.shutdown();
    if (nowait::test::run_again_after_stall(driver, engine, run)) continue;
    EXPECT_EQ(total_underruns(status), 0u);

    const std::vector<float> live = capture.samples();
    ASSERT_FALSE(live.empty());
    for (std::size_t f = 0; f < live.size() / 2; ++f) {
      ASSERT_EQ(live[2 * f], ramp_left(f)) << "A lost or repeated a sample at frame " << f;
      ASSERT_TRUE(live[2 * f + 1] == 0.0f || live[2 * f + 1] == 0.5f) << "frame " << f;
    }
    break;
  }
}

TEST(VirtualClock, AStalledSinkLosesExactlyTheBlocksItMissedWhileAnotherSinkGetsEveryBlock) {
  for (int run = 1;; ++run) {
    TestSources sources;
    sources.functions["ramp"] = ramp;
    const EngineConfig cfg = config_of({input("A", "test:ramp", -1.0, 0.25)});
    Engine engine;
    EngineOptions options;
    options.source_factory = sources.factory();
    options.master_ring_seconds = 0.0;  // 64 blocks, 171 ms
    engine.prepare(cfg, options);
    auto [capture, stalled] = add_capture_and_null_sinks(engine);

    VirtualClockDriver driver;
    driver.start(engine);
    ASSERT_TRUE(capture.wait_for_blocks(20));
    stalled.pause();
    const std::uint64_t paused_at = engine.blocks_processed();
    ASSERT_TRUE(capture.wait_for_blocks(paused_at + 150));
    stalled.resume();
    ASSERT_TRUE(capture.wait_for_blocks(paused_at + 200));
    driver.stop();
    const EngineStatus status = engine.status();
    report("stalled sink", driver, status);
    engine.shutdown();
    if (nowait::test::run_again_after_stall(driver, engine, run)) continue;

    const std::uint64_t written = status.blocks;
    const SinkStatus s = stalled.status();
    EXPECT_GE(s.dropouts, 1u);
    EXPECT_GE(s.blocks_lost, 150u - 64u);
    EXPECT_EQ(s.blocks_written + s.blocks_lost, written - s.start_block);

    EXPECT_TRUE(capture.contiguous());
    EXPECT_EQ(capture.first_sequence(), 0u);
    EXPECT_EQ(capture.blocks(), written);
    EXPECT_EQ(total_underruns(status), 0u);
    TestSources offline_sources;
    offline_sources.functions["ramp"] = ramp;
    EXPECT_EQ(capture.samples(), offline_render(cfg, offline_sources, written * 128));
    break;
  }
}

TEST(VirtualClock, AGainChangeDuringARecordingShowsTheDocumentedRampInTheFile) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  EngineOptions options;
  options.source_factory = sources.factory();
  engine.prepare(config_of({input("dc", "test:dc", 0.0, 0.0)}), options);
  CaptureSink& capture = add_capture_sink(engine);  // to wait on
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("nowait_engine_stress_" + std::to_string(Clock::now().time_since_epoch().count()));
  const std::string path = (dir / "ramp.wav").string();

  VirtualClockDriver driver;
  driver.start(engine);
  ASSERT_TRUE(capture.wait_for_blocks(10));
  const CommandResult started = engine.start_recording(path, "wav", "float");
  ASSERT_TRUE(started.ok) << started.error;
  ASSERT_TRUE(capture.wait_for_blocks(started.block + 20));
  const CommandResult changed = engine.set_gain("dc", -12.0);
  ASSERT_TRUE(changed.ok) << changed.error;
  ASSERT_TRUE(capture.wait_for_blocks(changed.block + 20));
  const CommandResult stopped = engine.stop_recording();
  ASSERT_TRUE(stopped.ok) << stopped.error;
  driver.stop();
  report("recording with a gain change", driver, engine.status());
  engine.shutdown();

  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  std::vector<float> recorded(static_cast<std::size_t>(info.frames) * 2);
  EXPECT_EQ(sf_readf_float(file, recorded.data(), info.frames), info.frames);
  sf_close(file);
  std::filesystem::remove_all(dir);
  ASSERT_GE(static_cast<std::uint64_t>(info.frames), (stopped.block - started.block) * 128);

  // File frame f is stream frame started.block * 128 + f.
  const float g0 = expected_gains(0.0, 0.0, false).first;
  const float g1 = expected_gains(-12.0, 0.0, false).first;
  const std::uint64_t ramp_start = changed.block * 128;
  for (std::uint64_t f = 0; f < static_cast<std::uint64_t>(info.frames); ++f) {
    const std::uint64_t frame = started.block * 128 + f;
    float g = g0;
    if (frame >= ramp_start) {
      const std::uint64_t k = frame - ramp_start + 1;
      g = k >= 480 ? g1
                   : static_cast<float>(static_cast<double>(g0) +
                                        (static_cast<double>(g1) - static_cast<double>(g0)) *
                                            static_cast<double>(k) / 480.0);
    }
    ASSERT_NEAR(recorded[2 * f], 0.5f * g, 1e-6) << "file frame " << f;
    ASSERT_NEAR(recorded[2 * f + 1], 0.5f * g, 1e-6) << "file frame " << f;
  }
}

TEST(VirtualClock, TheStatusLineFiguresAreLiveWhileRunning) {
  TestSources sources;
  Engine engine;
  EngineOptions options;
  options.source_factory = sources.factory();
  engine.prepare(config_of({input("tone", "tone:1000", -6.0, 0.0)}), options);
  CaptureSink& capture = add_capture_sink(engine);  // to wait on
  VirtualClockDriver driver;
  driver.start(engine);
  ASSERT_TRUE(capture.wait_for_blocks(100));
  const EngineStatus s = engine.status();
  driver.stop();
  report("status", driver, s);
  EXPECT_GE(s.blocks, 100u);
  EXPECT_NEAR(s.uptime_seconds, static_cast<double>(s.blocks) * 128 / 48000, 1e-9);
  EXPECT_GT(s.latency_ms, 0.0);
  EXPECT_GT(s.rtf, 0.0);
  ASSERT_EQ(s.inputs.size(), 1u);
  // A -12 dBFS tone at -6 dB, centre: -12 - 6 - 3.01 dBFS peak per side, give or take
  // where the block's samples fall on the sine.
  EXPECT_NEAR(s.inputs[0].peak_dbfs, -21.01, 0.5);
}

}  // namespace
