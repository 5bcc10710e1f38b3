// Tests of nowait/pipeline_status.hpp: exact snapshot values, drop rate and
// real-time factor, the updates run inside NOWAIT_NONBLOCKING functions (so
// the rtsan build checks them), and one short race showing a snapshot never
// counts more dropped chunks than chunks.
#include "nowait/pipeline_status.hpp"

#include <atomic>
#include <cstdint>
#include <latch>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

#include "nowait/rt.hpp"
#include "support/stress.hpp"

namespace {

using nowait::PipelineStatus;
using Snapshot = PipelineStatus::Snapshot;

TEST(PipelineStatus, ANewStatusSnapshotsAsAllZero) {
  const PipelineStatus status;
  const Snapshot s = status.snapshot();
  EXPECT_EQ(s.audio_lag_ms, 0);
  EXPECT_EQ(s.inference_time_ms, 0u);
  EXPECT_EQ(s.dropped_chunks, 0u);
  EXPECT_EQ(s.total_chunks, 0u);
  EXPECT_EQ(s.drop_rate(), 0.0);
  EXPECT_EQ(s.real_time_factor(0.5), 0.0);
}

TEST(PipelineStatus, UpdatesAppearExactlyInTheSnapshot) {
  PipelineStatus status;
  status.set_audio_lag_ms(42);
  status.set_inference_time_ms(250);
  status.add_chunk(false);
  status.add_chunk(true);
  status.add_chunks(10, 3);
  const Snapshot s = status.snapshot();
  EXPECT_EQ(s.audio_lag_ms, 42);
  EXPECT_EQ(s.inference_time_ms, 250u);
  EXPECT_EQ(s.total_chunks, 12u);
  EXPECT_EQ(s.dropped_chunks, 4u);
}

TEST(PipelineStatus, LatestLagAndInferenceTimeReplaceEarlierOnesAndLagMayBeNegative) {
  PipelineStatus status;
  status.set_audio_lag_ms(100);
  status.set_audio_lag_ms(-7);
  status.set_inference_time_ms(900);
  status.set_inference_time_ms(12);
  const Snapshot s = status.snapshot();
  EXPECT_EQ(s.audio_lag_ms, -7);
  EXPECT_EQ(s.inference_time_ms, 12u);
}

TEST(PipelineStatus, DropRateIsDroppedOverTotal) {
  PipelineStatus status;
  status.add_chunks(4, 1);
  EXPECT_EQ(status.snapshot().drop_rate(), 0.25);
  status.add_chunks(4, 3);
  EXPECT_EQ(status.snapshot().drop_rate(), 0.5);
  status.add_chunks(2, 0);
  EXPECT_EQ(status.snapshot().drop_rate(), 0.4);
}

TEST(PipelineStatus, DropRateIsZeroWhenNoChunkWasSeenAndOneWhenAllWereDropped) {
  EXPECT_EQ(Snapshot{}.drop_rate(), 0.0);
  const Snapshot all{0, 0, 3, 3};
  EXPECT_EQ(all.drop_rate(), 1.0);
}

TEST(PipelineStatus, RealTimeFactorIsInferenceSecondsOverChunkSeconds) {
  Snapshot s;
  s.inference_time_ms = 250;
  EXPECT_EQ(s.real_time_factor(0.5), 0.5);  // faster than real time
  EXPECT_EQ(s.real_time_factor(0.25), 1.0);
  EXPECT_EQ(s.real_time_factor(0.125), 2.0);  // falling behind
  s.inference_time_ms = 1500;
  EXPECT_EQ(s.real_time_factor(1.0), 1.5);
  s.inference_time_ms = 0;
  EXPECT_EQ(s.real_time_factor(1.0), 0.0);
}

TEST(PipelineStatus, RealTimeFactorIsZeroForAZeroNegativeOrNaNChunkLength) {
  Snapshot s;
  s.inference_time_ms = 250;
  EXPECT_EQ(s.real_time_factor(0.0), 0.0);
  EXPECT_EQ(s.real_time_factor(-1.0), 0.0);
  EXPECT_EQ(s.real_time_factor(std::numeric_limits<double>::quiet_NaN()), 0.0);
}

// The real-time side of a pipeline: checked by the rtsan build.
void rt_chunk(PipelineStatus& status, std::uint64_t i) noexcept NOWAIT_NONBLOCKING {
  status.set_audio_lag_ms(-static_cast<std::int64_t>(i));
  status.set_inference_time_ms(i * 10);
  status.add_chunk(i % 4 == 0);
}

double rt_drop_rate(const PipelineStatus& status) noexcept NOWAIT_NONBLOCKING {
  return status.snapshot().drop_rate();
}

TEST(PipelineStatus, UpdatesAndSnapshotsRunInsideNonblockingFunctions) {
  PipelineStatus status;
  for (std::uint64_t i = 1; i <= 8; ++i) rt_chunk(status, i);
  const Snapshot s = status.snapshot();
  EXPECT_EQ(s.audio_lag_ms, -8);
  EXPECT_EQ(s.inference_time_ms, 80u);
  EXPECT_EQ(s.total_chunks, 8u);
  EXPECT_EQ(s.dropped_chunks, 2u);
  EXPECT_EQ(rt_drop_rate(status), 0.25);
  EXPECT_EQ(s.real_time_factor(0.16), 0.5);
}

void rt_count_chunks(PipelineStatus& status, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) status.add_chunks(2, 1 + i % 2);
}

TEST(PipelineStatus, SnapshotsTakenWhileChunksAreCountedNeverShowMoreDroppedThanTotal) {
  const std::uint64_t n = nowait::test::stress_count(1'000'000, 20'000);
  PipelineStatus status;
  std::latch start(2);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    start.arrive_and_wait();
    rt_count_chunks(status, n);
    done.store(true, std::memory_order_relaxed);  // relaxed: only stops the reader; join() orders the rest
  });
  start.arrive_and_wait();
  std::uint64_t violations = 0;
  std::uint64_t reads = 0;
  do {
    const Snapshot s = status.snapshot();
    if (s.dropped_chunks > s.total_chunks || s.drop_rate() > 1.0) ++violations;
    ++reads;
  } while (!done.load(std::memory_order_relaxed));  // relaxed: see the store above
  writer.join();
  EXPECT_EQ(violations, 0u) << "over " << reads << " snapshots";
  const Snapshot s = status.snapshot();
  EXPECT_EQ(s.total_chunks, 2 * n);
  EXPECT_EQ(s.dropped_chunks, n + n / 2);  // 1 + i % 2 summed over i < n (n even)
}

#ifndef NDEBUG
TEST(PipelineStatusDeathTest, CountingMoreDroppedThanTotalChunksIsReported) {
  PipelineStatus status;
  EXPECT_DEATH(status.add_chunks(1, 2), "more dropped than total");
}
#endif

}  // namespace
