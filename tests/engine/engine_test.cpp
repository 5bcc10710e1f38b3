// The engine, rendered offline: every figure here is exact because the offline
// render calls the same process() as a real-time run, with no clock and no
// threads between the sources and the mixer. Real-time runs on the virtual
// clock are in engine_stress_test.cpp.
#include "engine/engine.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <numbers>
#include <sndfile.h>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/driver.hpp"
#include "engine/feeder.hpp"
#include "engine/null_sink.hpp"
#include "engine_test_support.hpp"

namespace {

using namespace nowait::engine;
using namespace nowait::engine::test;
namespace fs = std::filesystem;

EngineOptions offline(TestSources& sources) {
  EngineOptions o;
  o.feed = FeedMode::pull;
  o.source_factory = sources.factory();
  return o;
}

CommandResult result_of(Engine& engine, Ticket t) {
  std::optional<CommandResult> r = engine.result(t);
  EXPECT_TRUE(r.has_value()) << "no result for ticket " << t;
  return r.value_or(CommandResult{});
}

double sample_value(const nowait::RegistrySnapshot& snap, std::string_view name, nowait::Labels labels = {}) {
  const nowait::Sample* s = snap.sample(name, std::move(labels));
  EXPECT_NE(s, nullptr) << name;
  return s == nullptr ? -1.0 : nowait::as_double(s->value);
}

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("nowait_engine_test_" + name + "_" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  return dir;
}

// ---------------------------------------------------------------------------
// Exact mixing

TEST(EngineMix, RenderedOutputIsExactlyTheDocumentedMixOfKnownSources) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  sources.functions["dc"] = constant(0.25f, -0.5f);
  sources.functions["loud"] = constant(0.9f, 0.9f);
  EngineConfig cfg = config_of({input("A", "test:ramp", -6.0, -0.5), input("B", "test:dc", 3.0, 0.75),
                                input("C", "test:loud", 0.0, 0.0, true), input("D", "tone:440", -2.0, 0.2)},
                               -1.0);
  cfg.inputs[3].level_db = -12.0;
  Engine engine;
  engine.prepare(cfg, offline(sources));
  const std::uint64_t frames = 1300;  // ten blocks and a part
  const std::vector<float> out = render_all(engine, frames);
  ASSERT_EQ(out.size(), frames * 2);

  const auto [al, ar] = expected_gains(-6.0, -0.5, false);
  const auto [bl, br] = expected_gains(3.0, 0.75, false);
  const auto [cl, cr] = expected_gains(0.0, 0.0, true);
  const auto [dl, dr] = expected_gains(-2.0, 0.2, false);
  const float master = expected_master(-1.0);
  for (std::uint64_t n = 0; n < frames; ++n) {
    const float tone = tone_sample(440.0, -12.0, 48000, n);
    const float xl[] = {ramp_left(n), 0.25f, 0.9f, tone};
    const float xr[] = {ramp_right(n), -0.5f, 0.9f, tone};
    const float gl[] = {al, bl, cl, dl};
    const float gr[] = {ar, br, cr, dr};
    float left = 0.0f;
    float right = 0.0f;
    for (int i = 0; i < 4; ++i) {
      const float pl = xl[i] * gl[i];
      const float pr = xr[i] * gr[i];
      left += pl;
      right += pr;
    }
    left *= master;
    right *= master;
    ASSERT_EQ(out[2 * n], left) << "frame " << n;
    ASSERT_EQ(out[2 * n + 1], right) << "frame " << n;
  }
  EXPECT_EQ(engine.blocks_processed(), 11u);
}

TEST(EngineMix, ClippedSamplesAreCountedAndPassedOnUnchanged) {
  TestSources sources;
  sources.functions["hot"] = constant(0.75f, 0.25f);
  Engine engine;
  engine.prepare(config_of({input("hot", "test:hot", 6.0, -1.0)}), offline(sources));
  const std::vector<float> out = render_all(engine, 256);
  const float g = expected_gains(6.0, -1.0, false).first;
  EXPECT_GT(0.75f * g, 1.0f);
  EXPECT_EQ(out[0], 0.75f * g);
  EXPECT_EQ(sample_value(engine.registry().snapshot(), "nowait_clipped_samples_total"), 256.0);
  EXPECT_EQ(engine.status().clipped_samples, 256u);
}

// ---------------------------------------------------------------------------
// Ramps

// The gain of frame k (1-based) of an N-frame ramp from g0 to g1.
float ramp_gain(float g0, float g1, std::uint64_t k, std::uint64_t n) {
  if (k >= n) return g1;
  return static_cast<float>(static_cast<double>(g0) + (static_cast<double>(g1) - static_cast<double>(g0)) *
                                                          static_cast<double>(k) / static_cast<double>(n));
}

TEST(EngineRamp, AGainChangeRampsLinearlyOverTenMillisecondsFromTheBlockItIsAppliedIn) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("dc", "test:dc", 0.0, 0.0)}), offline(sources));
  Ticket ticket = 0;
  const std::vector<float> out = render_all(engine, 12 * 128, [&](std::uint64_t block) {
    if (block == 3) ticket = engine.submit(request::SetGain{"dc", -6.0});
  });
  const CommandResult r = result_of(engine, ticket);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.block, 4u);

  const float g0 = expected_gains(0.0, 0.0, false).first;
  const float g1 = expected_gains(-6.0, 0.0, false).first;
  const std::uint64_t start = 4 * 128;
  const std::uint64_t n = 480;
  for (std::uint64_t f = 0; f < 12 * 128; ++f) {
    const float g = f < start ? g0 : ramp_gain(g0, g1, f - start + 1, n);
    ASSERT_NEAR(out[2 * f], 0.5f * g, 1e-6) << "frame " << f;
    ASSERT_NEAR(out[2 * f + 1], 0.5f * g, 1e-6) << "frame " << f;
  }
  // Sample-exact before the ramp and once it has reached the target.
  EXPECT_EQ(out[2 * (start - 1)], 0.5f * g0);
  EXPECT_EQ(out[2 * (start + n - 1)], 0.5f * g1);
  EXPECT_NE(out[2 * (start + n - 2)], 0.5f * g1);
}

TEST(EngineRamp, MuteRampsToSilenceAndUnmuteRampsBackThePanFollowsTheSameRamp) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, -0.5f);
  Engine engine;
  engine.prepare(config_of({input("dc", "test:dc", -3.0, 0.5)}), offline(sources));
  const std::vector<float> out = render_all(engine, 20 * 128, [&](std::uint64_t block) {
    if (block == 0) engine.submit(request::SetMute{"dc", true});
    if (block == 9) engine.submit(request::SetMute{"dc", false});
    if (block == 14) engine.submit(request::SetPan{"dc", -0.25});
  });
  const auto [l0, r0] = expected_gains(-3.0, 0.5, false);
  const auto [l2, r2] = expected_gains(-3.0, -0.25, false);
  for (std::uint64_t f = 0; f < 20 * 128; ++f) {
    float gl = l0;
    float gr = r0;
    if (f >= 128 && f < 10 * 128) {
      gl = ramp_gain(l0, 0.0f, f - 128 + 1, 480);
      gr = ramp_gain(r0, 0.0f, f - 128 + 1, 480);
    } else if (f >= 10 * 128 && f < 15 * 128) {
      gl = ramp_gain(0.0f, l0, f - 10 * 128 + 1, 480);
      gr = ramp_gain(0.0f, r0, f - 10 * 128 + 1, 480);
    } else if (f >= 15 * 128) {
      gl = ramp_gain(l0, l2, f - 15 * 128 + 1, 480);
      gr = ramp_gain(r0, r2, f - 15 * 128 + 1, 480);
    }
    ASSERT_NEAR(out[2 * f], 0.5f * gl, 1e-6) << "frame " << f;
    ASSERT_NEAR(out[2 * f + 1], -0.5f * gr, 1e-6) << "frame " << f;
  }
  // Muted means exactly zero once the ramp is done.
  EXPECT_EQ(out[2 * (128 + 480)], 0.0f);
}

TEST(EngineRamp, AMasterGainChangeRampsTheSameWay) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("dc", "test:dc", 0.0, -1.0)}, 0.0), offline(sources));
  const std::vector<float> out = render_all(engine, 8 * 128, [&](std::uint64_t block) {
    if (block == 1) engine.submit(request::SetMasterGain{-20.0});
  });
  const float m1 = expected_master(-20.0);
  for (std::uint64_t f = 0; f < 8 * 128; ++f) {
    const float m = f < 256 ? 1.0f : ramp_gain(1.0f, m1, f - 256 + 1, 480);
    ASSERT_NEAR(out[2 * f], 0.5f * m, 1e-6) << "frame " << f;
  }
  EXPECT_EQ(engine.status().master_gain_db, -20.0);
}

// ---------------------------------------------------------------------------
// Commands

TEST(EngineCommands, UnknownInputsAndOutOfRangeValuesAreRejectedWithAReasonBeforeTheyAreSent) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("A", "test:dc")}), offline(sources));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto rejected = [&](Request r) {
    const Ticket t = engine.submit(std::move(r));
    const CommandResult res = result_of(engine, t);
    EXPECT_FALSE(res.ok);
    return res.error;
  };
  EXPECT_EQ(rejected(request::SetGain{"nope", -6.0}), "unknown input 'nope'");
  EXPECT_EQ(rejected(request::SetGain{"A", nan}), "input 'A': gain nan dB is out of range -120..24 dB");
  EXPECT_EQ(rejected(request::SetGain{"A", 24.5}), "input 'A': gain 24.5 dB is out of range -120..24 dB");
  EXPECT_EQ(rejected(request::SetGain{"A", -120.5}), "input 'A': gain -120.5 dB is out of range -120..24 dB");
  EXPECT_EQ(rejected(request::SetPan{"A", 1.5}), "input 'A': pan 1.5 is out of range -1..1");
  EXPECT_EQ(rejected(request::SetPan{"A", -inf}), "input 'A': pan -inf is out of range -1..1");
  EXPECT_EQ(rejected(request::SetPan{"A", nan}), "input 'A': pan nan is out of range -1..1");
  EXPECT_EQ(rejected(request::SetMute{"a", true}), "unknown input 'a'");
  EXPECT_EQ(rejected(request::SetMasterGain{inf}), "master gain inf dB is out of range -120..24 dB");
  EXPECT_EQ(rejected(request::RemoveInput{"B"}), "unknown input 'B'");
  EXPECT_EQ(rejected(request::AddInput{input("A", "test:dc")}), "an input named 'A' already exists");
  EXPECT_EQ(rejected(request::AddInput{input("", "test:dc")}), "an input needs a name");
  EXPECT_EQ(rejected(request::AddInput{input("X", "test:dc", 30.0)}),
            "input 'X': gain 30 dB is out of range -120..24 dB");
  EXPECT_EQ(rejected(request::AddInput{input(std::string(65, 'x'), "test:dc")}),
            "input name '" + std::string(65, 'x') + "' is longer than 64 characters");
  EXPECT_EQ(rejected(request::AddInput{input("X", "tone:abc")}).rfind("input 'X': ", 0), 0u);
  EXPECT_EQ(rejected(request::StopRecording{}), "not recording");

  // None of them reached the mixer: the input still plays at 0 dB, centre.
  const std::vector<float> out = render_all(engine, 128);
  EXPECT_EQ(out[0], 0.5f * expected_gains(0.0, 0.0, false).first);
  EXPECT_EQ(engine.input_names(), std::vector<std::string>{"A"});
}

TEST(EngineCommands, ASynchronousCallTimesOutWhenNothingRunsTheEngineAndTakesEffectLater) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("A", "test:dc", 0.0, -1.0)}), offline(sources));
  const CommandResult r = engine.call(request::SetGain{"A", -120.0}, std::chrono::milliseconds(20));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("no reply from the real-time thread"), std::string::npos) << r.error;
  const std::vector<float> out = render_all(engine, 5 * 128);
  EXPECT_EQ(out[2 * (4 * 128)], 0.5f * expected_gains(-120.0, -1.0, false).first);
}

TEST(EngineCommands, AddingAndRemovingInputsAtRunTimeLosesNoSamplesOfTheOthers) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  sources.functions["b"] = constant(0.0f, 0.5f);
  sources.probes["b"] = std::make_shared<SourceProbe>();
  Engine engine;
  // A plays only on the left (pan -1: gains exactly 1 and 0), B only on the right.
  engine.prepare(config_of({input("A", "test:ramp", 0.0, -1.0)}), offline(sources));
  Ticket added = 0;
  Ticket removed = 0;
  const std::uint64_t blocks = 40;
  const std::vector<float> out = render_all(engine, blocks * 128, [&](std::uint64_t block) {
    if (block == 9) added = engine.submit(request::AddInput{input("B", "test:b", 0.0, 1.0)});
    if (block == 29) removed = engine.submit(request::RemoveInput{"B"});
  });
  const CommandResult add = result_of(engine, added);
  const CommandResult remove = result_of(engine, removed);
  ASSERT_TRUE(add.ok) << add.error;
  ASSERT_TRUE(remove.ok) << remove.error;
  EXPECT_EQ(add.block, 10u);
  EXPECT_EQ(remove.block, 30u);

  for (std::uint64_t f = 0; f < blocks * 128; ++f) {
    ASSERT_EQ(out[2 * f], ramp_left(f)) << "A lost or repeated a sample at frame " << f;
    const bool b_present = f >= 10 * 128 && f < 30 * 128;
    ASSERT_EQ(out[2 * f + 1], b_present ? 0.5f : 0.0f) << "frame " << f;
  }
  SourceProbe& probe = *sources.probes["b"];
  EXPECT_TRUE(probe.was_destroyed());
  EXPECT_EQ(probe.destroyed_on_thread(), std::this_thread::get_id());
  EXPECT_EQ(engine.input_names(), std::vector<std::string>{"A"});
  // The name is free again.
  const Ticket again = engine.submit(request::AddInput{input("B", "test:b", 0.0, 1.0)});
  render_all(engine, 128);
  EXPECT_TRUE(result_of(engine, again).ok);
}

TEST(EngineCommands, TheMixerTakesNoMoreThanSixtyFourInputs) {
  TestSources sources;
  sources.functions["dc"] = constant(0.0f, 0.0f);
  std::vector<InputConfig> inputs;
  for (int i = 0; i < 64; ++i) inputs.push_back(input("in" + std::to_string(i), "test:dc"));
  Engine engine;
  engine.prepare(config_of(inputs), offline(sources));
  const CommandResult r = result_of(engine, engine.submit(request::AddInput{input("one more", "test:dc")}));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "too many inputs: at most 64");
}

// ---------------------------------------------------------------------------
// Inputs: underruns and ends

TEST(EngineInputs, AnUnderrunBecomesSilenceIsCountedAndTheInputResumesWhereItStopped) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  Engine engine;
  engine.prepare(config_of({input("A", "test:ramp", 0.0, -1.0)}), offline(sources));
  // The ring was prefilled with 4096 frames (32 blocks); process without pulling.
  std::vector<float> left;
  auto run_block = [&] {
    engine.process();
    const std::span<const float> b = engine.last_block();
    for (std::size_t i = 0; i < b.size(); i += 2) left.push_back(b[i]);
  };
  for (int i = 0; i < 33; ++i) run_block();
  engine.pull_inputs();
  run_block();
  for (std::uint64_t f = 0; f < 32 * 128; ++f) ASSERT_EQ(left[f], ramp_left(f)) << f;
  for (std::uint64_t f = 32 * 128; f < 33 * 128; ++f) ASSERT_EQ(left[f], 0.0f) << f;
  for (std::uint64_t f = 0; f < 128; ++f) ASSERT_EQ(left[33 * 128 + f], ramp_left(32 * 128 + f)) << f;

  const auto snap = engine.registry().snapshot();
  EXPECT_EQ(sample_value(snap, "nowait_input_underrun_blocks_total", {{"input", "A"}}), 1.0);
  EXPECT_EQ(sample_value(snap, "nowait_input_underrun_frames_total", {{"input", "A"}}), 128.0);
  EXPECT_EQ(sample_value(snap, "nowait_mix_dropped_chunks_total"), 1.0);
  EXPECT_EQ(sample_value(snap, "nowait_mix_chunks_total"), 34.0);
  const EngineStatus s = engine.status();
  EXPECT_DOUBLE_EQ(s.drop_percent, 100.0 / 34.0);
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_EQ(s.inputs[0].underrun_blocks, 1u);
}

TEST(EngineInputs, AnInputWhoseSourceEndsFallsSilentWithoutCountingUnderruns) {
  TestSources sources;
  sources.functions["short"] = constant(0.5f, 0.5f);
  sources.lengths["short"] = 300;
  Engine engine;
  engine.prepare(config_of({input("A", "test:short", 0.0, -1.0)}), offline(sources));
  const std::vector<float> out = render_all(engine, 5 * 128);
  for (std::uint64_t f = 0; f < 5 * 128; ++f) ASSERT_EQ(out[2 * f], f < 300 ? 0.5f : 0.0f) << f;
  const EngineStatus s = engine.status();
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_TRUE(s.inputs[0].ended);
  EXPECT_EQ(s.inputs[0].underrun_blocks, 0u);
  EXPECT_EQ(s.drop_percent, 0.0);
}

TEST(EngineInputs, APushPacedFeederCountsTheFramesThatDidNotFitAsOverruns) {
  nowait::Counter overruns;
  StreamFormat format;
  format.block_frames = 32;
  auto [tx, rx] = InputRing::create(100 * channels);
  Feeder feeder("push", std::make_unique<FunctionSource>(constant(0.0f, 0.0f)), std::move(tx), format,
                overruns);
  const std::vector<float> frames(2 * 70, 0.25f);
  EXPECT_EQ(feeder.push(frames), 70u);
  EXPECT_EQ(feeder.push(frames), 30u);
  EXPECT_EQ(overruns.value(), 40u);
  EXPECT_EQ(rx.available(), 200u);
}

// ---------------------------------------------------------------------------
// Meters and scope

TEST(EngineMeters, PublishPeakRmsAndHoldPerInputAfterItsGainAndForTheMaster) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, -0.25f);
  Engine engine;
  engine.prepare(config_of({input("dc", "test:dc", 0.0, 0.0)}, -6.0), offline(sources));
  render_all(engine, 2 * 128);
  const MeterFrame m = engine.meters();
  ASSERT_TRUE(m.valid);
  EXPECT_EQ(m.block, 1u);
  ASSERT_EQ(m.input_count, 1u);
  const float g = expected_gains(0.0, 0.0, false).first;
  EXPECT_EQ(m.inputs[0].channel[0].peak, 0.5f * g);
  EXPECT_EQ(m.inputs[0].channel[1].peak, 0.25f * g);
  EXPECT_FLOAT_EQ(m.inputs[0].channel[0].rms(), 0.5f * g);
  EXPECT_FLOAT_EQ(m.inputs[0].channel[1].rms(), 0.25f * g);
  EXPECT_EQ(m.inputs[0].channel[0].hold, 0.5f * g);
  const float master = expected_master(-6.0);
  EXPECT_EQ(m.master.channel[0].peak, 0.5f * g * master);

  const EngineStatus s = engine.status();
  ASSERT_EQ(s.inputs.size(), 1u);
  EXPECT_NEAR(s.inputs[0].peak_dbfs, 20 * std::log10(0.5 * g), 1e-5);
  EXPECT_NEAR(s.master_peak_dbfs, 20 * std::log10(0.5 * g * master), 1e-5);
}

TEST(EngineScope, GetsEveryTenthMasterFrameAndCountsThePairsDroppedWhenFull) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  Engine engine;
  EngineConfig cfg = config_of({input("A", "test:ramp", 0.0, -1.0)});
  cfg.scope_rate = 4800;
  engine.prepare(cfg, offline(sources));
  // 400 blocks = 51200 frames = 5120 pairs; the ring holds one second (4800).
  render_all(engine, 400 * 128);
  EXPECT_EQ(sample_value(engine.registry().snapshot(), "nowait_scope_dropped_pairs_total"), 320.0);
  ScopeReader& scope = engine.scope();
  EXPECT_EQ(scope.update(), 4800u);
  EXPECT_EQ(scope.size(), 4096u);
  // The ring kept the oldest pairs; the display keeps the latest of those.
  const std::vector<XyPair> latest = scope.samples(3);
  ASSERT_EQ(latest.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t frame = 10 * (4797 + i);
    EXPECT_EQ(latest[i].x, ramp_left(frame));
    EXPECT_EQ(latest[i].y, 0.0f);
  }
}

// ---------------------------------------------------------------------------
// Recording and sinks

TEST(EngineRecording, ARecordingStartsExactlyOnTheBlockTheRealTimeSideChose) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  Engine engine;
  engine.prepare(config_of({input("A", "test:ramp", -3.0, 0.3)}), offline(sources));
  const fs::path dir = scratch_dir("recording");
  const std::string path = (dir / "take.wav").string();
  Ticket start = 0;
  std::vector<float> out = render_all(engine, 20 * 128, [&](std::uint64_t block) {
    if (block == 4) start = engine.submit(request::StartRecording{path, "wav", "float"});
  });
  const Ticket stop = engine.submit(request::StopRecording{});
  const std::vector<float> tail = render_all(engine, 128);
  out.insert(out.end(), tail.begin(), tail.end());
  const CommandResult started = result_of(engine, start);
  const CommandResult stopped = result_of(engine, stop);
  ASSERT_TRUE(started.ok) << started.error;
  ASSERT_TRUE(stopped.ok) << stopped.error;
  EXPECT_EQ(started.block, 5u);
  EXPECT_EQ(stopped.block, 20u);

  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  std::vector<float> recorded(static_cast<std::size_t>(info.frames) * 2);
  EXPECT_EQ(sf_readf_float(file, recorded.data(), info.frames), info.frames);
  sf_close(file);
  EXPECT_EQ(info.channels, 2);
  EXPECT_EQ(info.samplerate, 48000);
  // Every block from the chosen one on, up to at least the block before the stop.
  EXPECT_GE(info.frames, (20 - 5) * 128);
  EXPECT_LE(info.frames, (21 - 5) * 128);
  for (std::size_t i = 0; i < recorded.size(); ++i)
    ASSERT_EQ(recorded[i], out[5 * 256 + i]) << "sample " << i;

  const EngineStatus s = engine.status();
  EXPECT_FALSE(s.recording.active);
  EXPECT_EQ(s.recording.path, path);
  EXPECT_DOUBLE_EQ(s.recording.seconds, static_cast<double>(info.frames) / 48000.0);
  EXPECT_GT(s.recording.bytes, 0u);
  fs::remove_all(dir);
}

TEST(EngineRecording, AnUnwritablePathIsThatRecordingsErrorWhileTheEngineRunsOn) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("A", "test:dc")}), offline(sources));
  const fs::path dir = scratch_dir("unwritable");
  fs::create_directories(dir / "file_not_dir");
  // A directory where the file should be cannot be opened for writing.
  Ticket start = 0;
  render_all(engine, 3 * 128, [&](std::uint64_t block) {
    if (block == 0)
      start = engine.submit(request::StartRecording{(dir / "file_not_dir").string(), "wav", "pcm16"});
  });
  EXPECT_TRUE(result_of(engine, start).ok);
  // The sink thread opens the file. Stopping the recording joins that
  // thread, so its verdict is in once the stop's reply has been handled.
  Ticket stop = 0;
  render_all(engine, 2 * 128, [&](std::uint64_t block) {
    if (block == 0) stop = engine.submit(request::StopRecording{});
  });
  EXPECT_TRUE(result_of(engine, stop).ok);
  const EngineStatus s = engine.status();
  EXPECT_NE(s.recording.error.find("cannot open"), std::string::npos) << s.recording.error;
  // Failed, not merely stopped: the stop found the sink already closed.
  ASSERT_FALSE(s.sinks.empty());
  EXPECT_EQ(s.sinks.back().name, "recording");
  EXPECT_EQ(s.sinks.back().state, SinkState::failed);
  const std::vector<float> out = render_all(engine, 128);
  EXPECT_EQ(out[0], 0.5f * expected_gains(0.0, 0.0, false).first);
  EXPECT_EQ(sample_value(engine.registry().snapshot(), "nowait_sink_failed", {{"sink", "recording"}}), 1.0);
  fs::remove_all(dir);
}

TEST(EngineSinks, TwoSinksOfOneTypeGetDistinctNamesInTheirStatus) {
  const fs::path dir = scratch_dir("two_recorders");
  EngineConfig config = config_of({input("A", "silence")});
  for (const char* file : {"a.wav", "b.wav"}) {
    SinkConfig sink;
    sink.type = "recorder";
    sink.path = (dir / file).string();
    config.sinks.push_back(sink);
  }
  SinkConfig null_sink;
  null_sink.type = "null";
  config.sinks.push_back(null_sink);
  Engine engine;
  engine.prepare(config);
  const EngineStatus s = engine.status();
  ASSERT_EQ(s.sinks.size(), 3u);
  EXPECT_EQ(s.sinks[0].name, "recorder");
  EXPECT_EQ(s.sinks[0].path, (dir / "a.wav").string());
  EXPECT_EQ(s.sinks[1].name, "recorder-2");
  EXPECT_EQ(s.sinks[1].path, (dir / "b.wav").string());
  EXPECT_EQ(s.sinks[2].name, "null");
  engine.shutdown();
}

TEST(EngineSinks, AStalledSinkDoesNotChangeWhatAnotherSeesAndLosesExactlyTheBlocksItMissed) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  Engine engine;
  EngineOptions options = offline(sources);
  options.master_ring_seconds = 0.0;       // the 64-block minimum
  options.render_waits_for_sinks = false;  // the render must lap the stalled sink
  engine.prepare(config_of({input("A", "test:ramp", -1.0, 0.25)}), options);
  ASSERT_EQ(engine.master_ring_slots(), 64u);
  auto [capture, stalled] = add_capture_and_null_sinks(engine);

  std::uint64_t position_at_pause = 0;
  const std::vector<float> out = render_all(engine, 210 * 128, [&](std::uint64_t block) {
    // Keep the capture sink within half the ring of the writer.
    if (block >= 32) {
      ASSERT_TRUE(capture.wait_for_blocks(block - 31)) << "the capture sink did not keep up";
    }
    if (block == 9) {
      stalled.pause();
      const SinkStatus s = stalled.status();
      position_at_pause = s.start_block + s.blocks_written + s.blocks_lost;
    }
  });
  stalled.resume();
  engine.shutdown();  // stops the sinks once each has read what was written

  EXPECT_EQ(capture.first_sequence(), 0u);
  EXPECT_TRUE(capture.contiguous());
  EXPECT_EQ(capture.samples(), out);

  const SinkStatus s = stalled.status();
  EXPECT_EQ(s.start_block, 0u);
  EXPECT_EQ(s.dropouts, 1u);
  // After the stall it resumed at the oldest block the next write would not
  // touch, 210 - 64 + 1; everything from its position to there was lost.
  EXPECT_EQ(s.blocks_lost, 147u - position_at_pause);
  EXPECT_EQ(s.blocks_written + s.blocks_lost, 210u);
}

TEST(EngineSinks, AnOfflineRenderWaitsForASlowSinkSoThatItGetsEveryBlock) {
  TestSources sources;
  sources.functions["ramp"] = ramp;
  Engine engine;
  EngineOptions options = offline(sources);
  options.master_ring_seconds = 0.0;  // 64 blocks: a render would lap the sink many times over
  engine.prepare(config_of({input("A", "test:ramp")}), options);
  auto slow_owned = std::make_unique<CaptureSink>("slow", std::chrono::microseconds(100));
  CaptureSink& slow = *slow_owned;
  engine.add_sink(std::move(slow_owned));
  const std::vector<float> out = render_all(engine, 300 * 128);
  engine.shutdown();
  EXPECT_EQ(slow.blocks(), 300u);
  EXPECT_TRUE(slow.contiguous());
  EXPECT_EQ(slow.samples(), out);
  const EngineStatus s = engine.status();
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].dropouts, 0u);
}

// ---------------------------------------------------------------------------
// Prepare and telemetry

TEST(EnginePrepare, RejectsAConfigTheEngineCannotRunNamingTheProblem) {
  TestSources sources;
  sources.functions["dc"] = constant(0.0f, 0.0f);
  auto error_of = [&](EngineConfig cfg) -> std::string {
    Engine engine;
    try {
      engine.prepare(cfg, offline(sources));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(error_of(config_of({input("a", "test:dc"), input("a", "test:dc")})),
            "engine config: two inputs are named 'a'");
  EXPECT_EQ(error_of(config_of({}, 0.0, 48000, 16)),
            "engine config: block_frames 16 is out of range 32..4096");
  EXPECT_EQ(error_of(config_of({}, 0.0, 200000)),
            "engine config: sample_rate 200000 is out of range 8000..192000 Hz");
  EXPECT_EQ(error_of(config_of({}, 30.0)), "engine config: master gain 30 dB is out of range -120..24 dB");
  std::vector<InputConfig> many;
  for (int i = 0; i < 65; ++i) many.push_back(input("in" + std::to_string(i), "test:dc"));
  EXPECT_EQ(error_of(config_of(many)), "engine config: 65 inputs; at most 64");
}

TEST(EngineTelemetry, EveryFigureGoesThroughTheOneRegistry) {
  TestSources sources;
  sources.functions["dc"] = constant(0.5f, 0.5f);
  Engine engine;
  engine.prepare(config_of({input("A", "test:dc"), input("B", "test:dc")}), offline(sources));
  render_all(engine, 10 * 128);
  const nowait::RegistrySnapshot snap = engine.registry().snapshot();
  EXPECT_EQ(sample_value(snap, "nowait_blocks_total"), 10.0);
  EXPECT_EQ(sample_value(snap, "nowait_mix_chunks_total"), 10.0);
  EXPECT_EQ(sample_value(snap, "nowait_mix_dropped_chunks_total"), 0.0);
  EXPECT_EQ(sample_value(snap, "nowait_inputs"), 2.0);
  for (const char* stage : {"mix", "meters", "broadcast", "process"})
    EXPECT_EQ(sample_value(snap, "nowait_stage_calls_total", {{"stage", stage}}), 10.0) << stage;
  const nowait::Sample* histogram = snap.sample("nowait_process_duration_seconds");
  ASSERT_NE(histogram, nullptr);
  EXPECT_EQ(histogram->histogram.count, 10u);
  EXPECT_EQ(sample_value(snap, "nowait_input_underrun_blocks_total", {{"input", "B"}}), 0.0);
  EXPECT_EQ(sample_value(snap, "nowait_input_overrun_frames_total", {{"input", "A"}}), 0.0);
  EXPECT_EQ(sample_value(snap, "nowait_deadline_misses_total"), 0.0);
  EXPECT_NE(snap.family("nowait_clock_drift_seconds"), nullptr);
  EXPECT_NE(snap.family("nowait_blocks_per_second"), nullptr);
  // The input rings were full (4096 frames) before each block's read.
  EXPECT_EQ(sample_value(snap, "nowait_input_buffered_frames"), 4096.0);
  EXPECT_EQ(sample_value(snap, "nowait_mix_audio_lag_seconds"), 0.085);
  const std::string text = engine.registry().prometheus();
  EXPECT_NE(text.find("nowait_stage_seconds_total{stage=\"mix\"}"), std::string::npos);

  const EngineStatus s = engine.status();
  EXPECT_EQ(s.blocks, 10u);
  EXPECT_DOUBLE_EQ(s.uptime_seconds, 10 * 128 / 48000.0);
  EXPECT_DOUBLE_EQ(s.latency_ms, 4096 * 1000.0 / 48000.0);
  EXPECT_GT(s.rtf, 0.0);
  EXPECT_EQ(s.inputs.size(), 2u);
}

}  // namespace
