// The mixer's arithmetic on its own: the pan law, the gain ramp, the mix and
// clip count, the meters and the scope tap, each against figures computed
// here from the documented definitions.
#include "engine/mixer.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include <gtest/gtest.h>

#include "engine/meters.hpp"
#include "engine/scope.hpp"
#include "nowait/metrics.hpp"

namespace {

using namespace nowait::engine;

TEST(PanLaw, IsMinusThreeDecibelsPerSideAtTheCentre) {
  const StereoGain g = pan_gains(0.0, 0.0, false);
  EXPECT_EQ(g.left, static_cast<float>(std::cos(std::numbers::pi / 4)));
  EXPECT_EQ(g.left, g.right);
  EXPECT_NEAR(20 * std::log10(g.left), -3.0103, 1e-4);
}

TEST(PanLaw, SendsEverythingToOneSideAtTheExtremes) {
  EXPECT_EQ(pan_gains(0.0, -1.0, false), (StereoGain{1.0f, 0.0f}));
  const StereoGain right = pan_gains(0.0, 1.0, false);
  EXPECT_EQ(right.right, 1.0f);
  EXPECT_LT(right.left, 1e-16f);
}

TEST(PanLaw, KeepsThePowerConstantAcrossPositions) {
  for (double pan = -1.0; pan <= 1.0; pan += 0.125) {
    const StereoGain g = pan_gains(-6.0, pan, false);
    const double power = static_cast<double>(g.left) * g.left + static_cast<double>(g.right) * g.right;
    EXPECT_NEAR(power, std::pow(10.0, -6.0 / 10.0), 1e-6) << "pan " << pan;
  }
}

TEST(PanLaw, MuteIsZeroGainOnBothSides) { EXPECT_EQ(pan_gains(12.0, 0.3, true), (StereoGain{0.0f, 0.0f})); }

TEST(GainRamp, LastsTenMillisecondsAtAnyRate) {
  EXPECT_EQ(ramp_frames(48000), 480u);
  EXPECT_EQ(ramp_frames(44100), 441u);
  EXPECT_EQ(ramp_frames(8000), 80u);
  EXPECT_EQ(ramp_frames(192000), 1920u);
}

TEST(GainRamp, MovesLinearlyAndReachesTheTargetExactly) {
  GainRamp ramp(0.25f);
  ramp.set_target(0.75f, 4);
  EXPECT_TRUE(ramp.ramping());
  EXPECT_EQ(ramp.next(), 0.375f);
  EXPECT_EQ(ramp.next(), 0.5f);
  EXPECT_EQ(ramp.next(), 0.625f);
  EXPECT_EQ(ramp.next(), 0.75f);
  EXPECT_FALSE(ramp.ramping());
  EXPECT_EQ(ramp.next(), 0.75f);
}

TEST(GainRamp, ANewTargetMidRampStartsFromTheGainReached) {
  GainRamp ramp(0.0f);
  ramp.set_target(1.0f, 4);
  ramp.next();
  ramp.next();  // 0.5
  ramp.set_target(0.0f, 2);
  EXPECT_EQ(ramp.next(), 0.25f);
  EXPECT_EQ(ramp.next(), 0.0f);
  EXPECT_FALSE(ramp.ramping());
}

TEST(GainRamp, RepeatingTheTargetMidRampLeavesTheRampAsItIs) {
  GainRamp ramp(0.0f);
  ramp.set_target(1.0f, 4);
  EXPECT_EQ(ramp.next(), 0.25f);
  ramp.set_target(1.0f, 4);
  EXPECT_EQ(ramp.next(), 0.5f);
  EXPECT_EQ(ramp.next(), 0.75f);
  EXPECT_EQ(ramp.next(), 1.0f);
}

TEST(GainRamp, ResetJumpsWithoutARamp) {
  GainRamp ramp(1.0f);
  ramp.set_target(0.0f, 100);
  ramp.reset(0.5f);
  EXPECT_FALSE(ramp.ramping());
  EXPECT_EQ(ramp.next(), 0.5f);
}

TEST(Mix, AppliesStereoGainsThenSumsThenTheMasterAndCountsClips) {
  std::vector<float> a{0.5f, -0.5f, 1.0f, 1.0f};
  std::vector<float> b{0.75f, 0.25f, 0.5f, -2.0f};
  GainRamp al(1.0f), ar(0.5f), bl(2.0f), br(1.0f), master(1.0f);
  apply_stereo_gain(a, al, ar);
  apply_stereo_gain(b, bl, br);
  std::vector<float> acc(4, 0.0f);
  accumulate(acc, a);
  accumulate(acc, b);
  EXPECT_EQ(acc, (std::vector<float>{2.0f, 0.0f, 2.0f, -1.5f}));
  const std::uint64_t clipped = apply_master_gain(acc, master);
  EXPECT_EQ(clipped, 3u);  // 2.0, 2.0 and -1.5; exactly 1.0 would not count
  EXPECT_EQ(acc, (std::vector<float>{2.0f, 0.0f, 2.0f, -1.5f}));
}

TEST(Mix, DoesNotCountFullScaleOrNaNAsClipped) {
  std::vector<float> block{1.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f};
  GainRamp master(1.0f);
  EXPECT_EQ(apply_master_gain(block, master), 0u);
}

TEST(Meters, MeasurePeakAndMeanSquarePerChannel) {
  StreamFormat format;
  format.block_frames = 4;
  LevelMeter meter(format);
  const std::vector<float> block{0.5f, -0.25f, -1.0f, 0.25f, 0.0f, 0.0f, 0.5f, 0.25f};
  const StereoLevel level = meter.measure(block);
  EXPECT_EQ(level.channel[0].peak, 1.0f);
  EXPECT_EQ(level.channel[1].peak, 0.25f);
  EXPECT_FLOAT_EQ(level.channel[0].mean_square, (0.25f + 1.0f + 0.0f + 0.25f) / 4);
  EXPECT_FLOAT_EQ(level.channel[1].rms(), 0.25f * std::sqrt(3.0f / 4.0f));
  EXPECT_EQ(level.peak(), 1.0f);
}

TEST(Meters, PeakHoldHoldsForOnePointFiveSecondsThenFallsTwentyDecibelsPerSecond) {
  StreamFormat format;  // 48 kHz, 128 frames: 2.667 ms per block
  PeakHold hold(format);
  const auto hold_blocks = static_cast<int>(std::ceil(1.5 / format.block_seconds()));
  ASSERT_EQ(hold_blocks, 563);
  EXPECT_EQ(hold.update(0.8f), 0.8f);
  for (int i = 0; i < hold_blocks; ++i) ASSERT_EQ(hold.update(0.1f), 0.8f) << "block " << i;
  const double decay = std::pow(10.0, -20.0 * format.block_seconds() / 20.0);
  float expected = 0.8f;
  // Then it falls by the same factor every block...
  for (int i = 0; i < 50; ++i) {
    expected *= static_cast<float>(decay);
    ASSERT_FLOAT_EQ(hold.update(0.1f), expected) << "block " << i;
  }
  // ...until it meets the current peak (0.8 to 0.1 is 18 dB: under a second).
  float value = expected;
  for (int i = 0; i < 400; ++i) value = hold.update(0.1f);
  EXPECT_EQ(value, 0.1f);
  EXPECT_EQ(hold.update(0.9f), 0.9f);
}

TEST(ScopeTap, KeepsEveryDthFrameAcrossBlocksAndCountsWhatDoesNotFit) {
  auto [tx, rx] = ScopeRing::create(4);
  nowait::Counter dropped;
  ScopeTap tap(std::move(tx), 3, dropped);
  std::vector<float> block(2 * 4);
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 4; ++i) {
      block[2 * i] = static_cast<float>(b * 4 + i);
      block[2 * i + 1] = -static_cast<float>(b * 4 + i);
    }
    tap.push(block);
  }
  // Frames 0, 3 and 6 of the 8 were kept.
  ScopeReader reader(std::move(rx), 8);
  EXPECT_EQ(reader.update(), 3u);
  EXPECT_EQ(reader.samples(8), (std::vector<XyPair>{{0, -0}, {3, -3}, {6, -6}}));
  EXPECT_EQ(dropped.value(), 0u);
  for (int b = 0; b < 4; ++b) tap.push(block);  // 16 frames more: frames 9, 12, 15, 18, 21 of the stream
  EXPECT_EQ(dropped.value(), 1u);               // the ring holds 4
}

TEST(ScopeReader, ReturnsTheLatestPairsInOrderWithoutTouchingTheRing) {
  auto [tx, rx] = ScopeRing::create(16);
  ScopeReader reader(std::move(rx), 5);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(tx.try_push(XyPair{static_cast<float>(i), 0.0f}));
  EXPECT_EQ(reader.update(), 7u);
  EXPECT_EQ(reader.size(), 5u);
  EXPECT_EQ(reader.total(), 7u);
  EXPECT_EQ(reader.samples(3), (std::vector<XyPair>{{4, 0}, {5, 0}, {6, 0}}));
  ASSERT_TRUE(tx.try_push(XyPair{7.0f, 0.0f}));
  // Not drained yet: samples() still shows the display buffer.
  EXPECT_EQ(reader.samples(2), (std::vector<XyPair>{{5, 0}, {6, 0}}));
  EXPECT_EQ(reader.samples(100).size(), 5u);
  EXPECT_EQ(reader.update(), 1u);
  EXPECT_EQ(reader.samples(2), (std::vector<XyPair>{{6, 0}, {7, 0}}));
}

TEST(ScopeDecimation, RoundsTheRateRatioAndTurnsOffAtZero) {
  EXPECT_EQ(scope_decimation(48000, 4800), 10u);
  EXPECT_EQ(scope_decimation(44100, 4800), 9u);
  EXPECT_EQ(scope_decimation(48000, 48000), 1u);
  EXPECT_EQ(scope_decimation(48000, 0), 0u);
}

}  // namespace
