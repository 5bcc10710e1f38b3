// Single-threaded tests of nowait/metrics.hpp. With one thread every value is
// exact, so these tests pin arithmetic, wrap and saturation at the u64
// maximum, snapshot-and-reset, the histogram's bucket boundaries, its
// underflow and overflow buckets and its percentiles against hand-computed
// values. The functions marked NOWAIT_NONBLOCKING near the end are checked by
// the rtsan build, at compile time and at run time. Concurrency is in
// metrics_stress_test.cpp.
#include "nowait/metrics.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/rt.hpp"

namespace {

using nowait::Counter;
using nowait::Gauge;
using nowait::Histogram;
using nowait::HistogramLayout;
using nowait::HistogramSnapshot;
using nowait::MaxGauge;
using nowait::ScopedTimer;
using nowait::ShardedCounter;
using nowait::StageTimer;

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

using Bounds = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

Bounds bounds_of(const HistogramLayout& layout) {
  Bounds out;
  for (std::size_t i = 0; i < layout.bucket_count(); ++i)
    out.emplace_back(layout.lower_bound(i), layout.upper_bound(i));
  return out;
}

// ---------------------------------------------------------------------------
// Counter

TEST(Counter, StartsAtZeroAndAddsExactly) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.add();
  c.add(5);
  c.add(0);
  EXPECT_EQ(c.value(), 6u);
}

TEST(Counter, PlainAddWrapsModuloTwoToThe64) {
  Counter c(u64_max - 1);
  c.add(3);
  EXPECT_EQ(c.value(), 1u);
}

TEST(Counter, SaturatingAddStopsAtTheU64MaximumInsteadOfWrapping) {
  Counter c(u64_max - 2);
  c.add_saturating(1);
  EXPECT_EQ(c.value(), u64_max - 1);
  c.add_saturating(1);
  EXPECT_EQ(c.value(), u64_max);
  c.add_saturating(1);
  EXPECT_EQ(c.value(), u64_max);
  c.add_saturating(u64_max);
  EXPECT_EQ(c.value(), u64_max);
  c.add_saturating(0);
  EXPECT_EQ(c.value(), u64_max);
}

TEST(Counter, SaturatingAddThatOvershootsInOneStepLandsOnTheMaximum) {
  Counter c(u64_max - 2);
  c.add_saturating(5);
  EXPECT_EQ(c.value(), u64_max);
  Counter d;
  d.add_saturating(u64_max);
  EXPECT_EQ(d.value(), u64_max);
}

TEST(Counter, SaturatingAddBelowTheMaximumIsAnOrdinaryAdd) {
  Counter c(40);
  c.add_saturating(2);
  EXPECT_EQ(c.value(), 42u);
}

TEST(Counter, SnapshotAndResetReturnsTheCountAndRestartsFromZero) {
  Counter c;
  c.add(7);
  EXPECT_EQ(c.snapshot_and_reset(), 7u);
  EXPECT_EQ(c.value(), 0u);
  c.add(2);
  EXPECT_EQ(c.snapshot_and_reset(), 2u);
  EXPECT_EQ(c.snapshot_and_reset(), 0u);
}

TEST(Counter, ASaturatedCounterReportsTheMaximumOnceAndThenCountsAgain) {
  Counter c(u64_max - 1);
  c.add_saturating(10);
  EXPECT_EQ(c.snapshot_and_reset(), u64_max);
  c.add_saturating(3);
  EXPECT_EQ(c.value(), 3u);
}

// ---------------------------------------------------------------------------
// Gauge

TEST(Gauge, SignedGaugeSetsAddsAndSubtractsThroughNegativeValues) {
  Gauge<std::int64_t> g;
  EXPECT_EQ(g.value(), 0);
  g.set(-5);
  EXPECT_EQ(g.value(), -5);
  g.add(3);
  EXPECT_EQ(g.value(), -2);
  g.sub(10);
  EXPECT_EQ(g.value(), -12);
  g.set(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(g.value(), std::numeric_limits<std::int64_t>::min());
}

TEST(Gauge, UnsignedGaugeSetsAddsAndSubtractsAndWrapsBelowZero) {
  Gauge<std::uint64_t> g(10);
  g.add(5);
  g.sub(3);
  EXPECT_EQ(g.value(), 12u);
  g.set(0);
  g.sub(1);
  EXPECT_EQ(g.value(), u64_max);
  g.set(u64_max);
  EXPECT_EQ(g.value(), u64_max);
}

TEST(Gauge, DoubleGaugeSetsAddsAndSubtractsExactDyadicValues) {
  Gauge<double> g;
  EXPECT_EQ(g.value(), 0.0);
  g.set(1.5);
  g.add(0.25);
  EXPECT_EQ(g.value(), 1.75);
  g.sub(2.0);
  EXPECT_EQ(g.value(), -0.25);
}

// ---------------------------------------------------------------------------
// MaxGauge

TEST(MaxGauge, KeepsTheLargestObservedValue) {
  MaxGauge<> m;
  EXPECT_EQ(m.value(), 0u);
  m.observe(3);
  m.observe(9);
  m.observe(4);
  EXPECT_EQ(m.value(), 9u);
}

TEST(MaxGauge, TakeAndResetReturnsTheMaximumAndStartsAgainEmpty) {
  MaxGauge<> m;
  m.observe(9);
  EXPECT_EQ(m.take_and_reset(), 9u);
  EXPECT_EQ(m.value(), 0u);
  m.observe(2);
  EXPECT_EQ(m.take_and_reset(), 2u);
  EXPECT_EQ(m.take_and_reset(), 0u);
}

TEST(MaxGauge, HoldsTheU64Maximum) {
  MaxGauge<> m;
  m.observe(u64_max);
  m.observe(1);
  EXPECT_EQ(m.value(), u64_max);
}

TEST(MaxGauge, SignedMaxGaugeStartsAtTheLowestValueAndTracksNegatives) {
  MaxGauge<std::int64_t> m;
  EXPECT_EQ(m.value(), std::numeric_limits<std::int64_t>::lowest());
  m.observe(-7);
  m.observe(-5);
  m.observe(-6);
  EXPECT_EQ(m.value(), -5);
  EXPECT_EQ(m.take_and_reset(), -5);
  EXPECT_EQ(m.value(), std::numeric_limits<std::int64_t>::lowest());
}

TEST(MaxGauge, DoubleMaxGaugeIgnoresNaN) {
  MaxGauge<double> m;
  m.observe(2.5);
  m.observe(std::nan(""));
  m.observe(1.0);
  EXPECT_EQ(m.value(), 2.5);
}

// ---------------------------------------------------------------------------
// ShardedCounter

TEST(ShardedCounter, SumsTheAddsOfEveryShard) {
  ShardedCounter c(3);
  EXPECT_EQ(c.shard_count(), 3u);
  auto a = c.shard();
  auto b = c.shard();
  auto d = c.shard();
  a.add();
  b.add(2);
  d.add(3);
  a.add(4);
  EXPECT_EQ(c.value(), 10u);
}

TEST(ShardedCounter, ShardsAreHandedOutRoundRobinAndWrapWhenWritersOutnumberSlots) {
  ShardedCounter c(3);
  std::vector<std::size_t> indices;
  for (int i = 0; i < 7; ++i) indices.push_back(c.shard().index());
  EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0}));
  auto first = c.shard();   // slot 1
  auto second = c.shard();  // slot 2
  auto shared = c.shard();  // slot 0 again
  first.add(1);
  second.add(10);
  shared.add(100);
  EXPECT_EQ(c.value(), 111u);
}

TEST(ShardedCounter, SnapshotAndResetReturnsTheSumAndZeroesEverySlot) {
  ShardedCounter c(4);
  auto a = c.shard();
  auto b = c.shard();
  a.add(5);
  b.add(6);
  EXPECT_EQ(c.snapshot_and_reset(), 11u);
  EXPECT_EQ(c.value(), 0u);
  b.add(1);
  EXPECT_EQ(c.snapshot_and_reset(), 1u);
}

TEST(ShardedCounter, RejectsZeroShardsAndDefaultsToAtLeastOne) {
  EXPECT_THROW(ShardedCounter(0), std::invalid_argument);
  EXPECT_GE(ShardedCounter::default_shard_count(), 1u);
  ShardedCounter c;
  EXPECT_EQ(c.shard_count(), ShardedCounter::default_shard_count());
}

// ---------------------------------------------------------------------------
// HistogramLayout

TEST(HistogramLayout, FourSubBucketsFromOneToHundredHaveTheseExactBoundaries) {
  const HistogramLayout layout(1, 100, 4);
  const Bounds expected = {{1, 1},   {2, 2},   {3, 3},   {4, 4},   {5, 5},   {6, 6},   {7, 7},   {8, 9},
                           {10, 11}, {12, 13}, {14, 15}, {16, 19}, {20, 23}, {24, 27}, {28, 31}, {32, 39},
                           {40, 47}, {48, 55}, {56, 63}, {64, 79}, {80, 95}, {96, 100}};
  EXPECT_EQ(layout.bucket_count(), 22u);
  EXPECT_EQ(bounds_of(layout), expected);
  EXPECT_EQ(layout.max_relative_error(), 0.25);
}

TEST(HistogramLayout, TheFirstBucketIsClippedToLowestAndTheLastToHighest) {
  const HistogramLayout layout(10, 70, 4);  // 10 shares [10, 11]; 70 falls in [64, 79]
  const Bounds expected = {{10, 11}, {12, 13}, {14, 15}, {16, 19}, {20, 23}, {24, 27},
                           {28, 31}, {32, 39}, {40, 47}, {48, 55}, {56, 63}, {64, 70}};
  EXPECT_EQ(bounds_of(layout), expected);
  const HistogramLayout odd_start(9, 9, 4);  // inside [8, 9]
  EXPECT_EQ(bounds_of(odd_start), (Bounds{{9, 9}}));
}

TEST(HistogramLayout, OneSubBucketGivesPowerOfTwoBucketsOverTheWholeU64Range) {
  const HistogramLayout layout(0, u64_max, 1);
  ASSERT_EQ(layout.bucket_count(), 65u);
  EXPECT_EQ(layout.lower_bound(0), 0u);
  EXPECT_EQ(layout.upper_bound(0), 0u);
  for (std::size_t i = 1; i < 65; ++i) {
    EXPECT_EQ(layout.lower_bound(i), std::uint64_t{1} << (i - 1)) << i;
    EXPECT_EQ(layout.upper_bound(i), i == 64 ? u64_max : (std::uint64_t{1} << i) - 1) << i;
  }
  EXPECT_EQ(layout.bucket_index(u64_max), 64u);
}

TEST(HistogramLayout, EveryBucketIsAtMostOneOverSubBucketsOfItsLowerBoundWide) {
  for (const std::uint32_t s : {1u, 2u, 4u, 32u, 1024u}) {
    const HistogramLayout layout(0, u64_max, s);
    EXPECT_EQ(layout.upper_bound(layout.bucket_count() - 1), u64_max) << s;
    for (std::size_t i = 0; i < layout.bucket_count(); ++i) {
      const std::uint64_t lower = layout.lower_bound(i);
      const std::uint64_t upper = layout.upper_bound(i);
      const std::uint64_t width = upper - lower + 1;
      if (lower < 2 * std::uint64_t{s}) {
        ASSERT_EQ(width, 1u) << "s=" << s << " bucket " << i;
      } else {
        ASSERT_LE(width, lower / s) << "s=" << s << " bucket " << i;
      }
      ASSERT_EQ(layout.bucket_index(lower), i);
      ASSERT_EQ(layout.bucket_index(upper), i);
      if (i + 1 < layout.bucket_count()) {
        ASSERT_EQ(layout.lower_bound(i + 1), upper + 1) << "gap after " << i;
      }
    }
  }
}

TEST(HistogramLayout, EveryValueInRangeFallsInsideItsBucketsBounds) {
  const HistogramLayout layout(3, 5000, 8);
  for (std::uint64_t v = 3; v <= 5000; ++v) {
    const std::size_t i = layout.bucket_index(v);
    ASSERT_LE(layout.lower_bound(i), v);
    ASSERT_GE(layout.upper_bound(i), v);
  }
}

TEST(HistogramLayout, RejectsAnInvertedRangeAndSubBucketCountsThatAreNotPowersOfTwo) {
  EXPECT_THROW(HistogramLayout(10, 9, 4), std::invalid_argument);
  EXPECT_THROW(HistogramLayout(1, 100, 0), std::invalid_argument);
  EXPECT_THROW(HistogramLayout(1, 100, 3), std::invalid_argument);
  EXPECT_THROW(HistogramLayout(1, 100, HistogramLayout::max_sub_buckets * 2), std::invalid_argument);
  EXPECT_NO_THROW(HistogramLayout(5, 5, HistogramLayout::max_sub_buckets));
  EXPECT_THROW(Histogram(10, 9), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Histogram

TEST(Histogram, AnEmptySnapshotIsAllZero) {
  Histogram h(1, 100, 4);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.sum(), 0u);
  EXPECT_EQ(s.min(), 0u);
  EXPECT_EQ(s.max(), 0u);
  EXPECT_EQ(s.mean(), 0.0);
  EXPECT_EQ(s.underflow(), 0u);
  EXPECT_EQ(s.overflow(), 0u);
  EXPECT_EQ(s.p50(), 0u);
  EXPECT_EQ(s.p999(), 0u);
  ASSERT_EQ(s.bucket_count(), 22u);
  for (const auto& b : s.buckets()) EXPECT_EQ(b.count, 0u);
  for (const auto& b : s.cumulative_buckets()) EXPECT_EQ(b.cumulative_count, 0u);
}

TEST(Histogram, RecordedValuesLandInTheirBucketsWithExactCountSumMinMaxAndMean) {
  Histogram h(1, 100, 4);
  for (const std::uint64_t v : {3u, 9u, 9u, 50u, 100u}) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 5u);
  EXPECT_EQ(s.sum(), 171u);
  EXPECT_EQ(s.min(), 3u);
  EXPECT_EQ(s.max(), 100u);
  EXPECT_EQ(s.mean(), 34.2);
  std::vector<std::uint64_t> counts(22, 0);
  counts[2] = 1;   // [3, 3]
  counts[7] = 2;   // [8, 9]
  counts[17] = 1;  // [48, 55]
  counts[21] = 1;  // [96, 100]
  for (std::size_t i = 0; i < 22; ++i) EXPECT_EQ(s.bucket_value_count(i), counts[i]) << i;
  const auto buckets = s.buckets();
  EXPECT_EQ(buckets[17].lower_bound, 48u);
  EXPECT_EQ(buckets[17].upper_bound, 55u);
  EXPECT_EQ(buckets[17].count, 1u);
}

TEST(Histogram, ValuesOutsideTheRangeAreCountedInUnderflowAndOverflowNotDropped) {
  Histogram h(10, 100, 4);
  for (const std::uint64_t v : {0u, 9u, 10u, 100u, 101u, 1'000'000u}) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 6u);
  EXPECT_EQ(s.underflow(), 2u);
  EXPECT_EQ(s.overflow(), 2u);
  EXPECT_EQ(s.sum(), 1'000'220u);
  EXPECT_EQ(s.min(), 0u);
  EXPECT_EQ(s.max(), 1'000'000u);
  std::uint64_t in_range = 0;
  for (const auto& b : s.buckets()) in_range += b.count;
  EXPECT_EQ(in_range, 2u);
}

TEST(Histogram, CumulativeBucketsCountUnderflowInEveryBoundAndEndAtHighest) {
  Histogram h(10, 100, 4);
  for (const std::uint64_t v : {0u, 9u, 10u, 12u, 100u, 101u}) h.record(v);
  const auto cumulative = h.snapshot().cumulative_buckets();
  ASSERT_EQ(cumulative.size(), 14u);
  EXPECT_EQ(cumulative[0].upper_bound, 11u);
  EXPECT_EQ(cumulative[0].cumulative_count, 3u);  // 0, 9 (underflow) and 10
  EXPECT_EQ(cumulative[1].upper_bound, 13u);
  EXPECT_EQ(cumulative[1].cumulative_count, 4u);  // + 12
  EXPECT_EQ(cumulative[12].upper_bound, 95u);
  EXPECT_EQ(cumulative[12].cumulative_count, 4u);
  EXPECT_EQ(cumulative[13].upper_bound, 100u);
  EXPECT_EQ(cumulative[13].cumulative_count, 5u);  // + 100; 101 only in +Inf (count)
}

TEST(Histogram, PercentilesOfOneToThousandReportTheirBucketsUpperBoundClampedToMax) {
  Histogram h(1, 1000, 8);  // above 16, buckets are 1/8 of their power of two wide
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.percentile(0), 1u);       // rank 1: min, exact
  EXPECT_EQ(s.percentile(1), 10u);      // rank 10: width-1 bucket, exact
  EXPECT_EQ(s.percentile(25), 255u);    // rank 250 in [240, 255]
  EXPECT_EQ(s.p50(), 511u);             // rank 500 in [480, 511]
  EXPECT_EQ(s.p90(), 959u);             // rank 900 in [896, 959]
  EXPECT_EQ(s.p99(), 1000u);            // rank 990 in [960, 1000], clipped at highest
  EXPECT_EQ(s.p999(), 1000u);           // rank 999, same bucket
  EXPECT_EQ(s.percentile(100), 1000u);  // max, exact
  EXPECT_EQ(s.mean(), 500.5);
}

TEST(Histogram, EveryPercentileIsAtLeastTheTrueValueAndWithinTheRelativeError) {
  Histogram h(1, 1'000'000, 8);
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 997);  // ranks map to known values
  const HistogramSnapshot s = h.snapshot();
  for (double q = 0.0; q <= 100.0; q += 0.5) {
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * 10.0 - 1e-9)));
    const std::uint64_t truth = rank * 997;
    const std::uint64_t reported = s.percentile(q);
    EXPECT_GE(reported, truth) << q;
    EXPECT_LT(static_cast<double>(reported),
              static_cast<double>(truth) * (1.0 + h.layout().max_relative_error()))
        << q;
  }
}

// Nearest rank is ceil(q/100 * n), computed exactly: 99.9999% of 10,999,999
// values is 10,999,988.000001, so the rank is 10,999,989, the first of the
// eleven 1000s, although only a hair's breadth more than 10,999,988 values are
// needed. A tolerance that grows with n rounded it down to the 1s.
TEST(Histogram, NearestRankHoldsExactlyAtElevenMillionValues) {
  Histogram h(1, 2000, 32);
  for (std::uint64_t i = 0; i < 10'999'988; ++i) h.record(1);
  for (int i = 0; i < 11; ++i) h.record(1000);
  const HistogramSnapshot s = h.snapshot();
  ASSERT_EQ(s.count(), 10'999'999u);
  EXPECT_EQ(s.percentile(99.9999), 1000u);  // 1000's bucket, whose bound is clamped to max()
  EXPECT_EQ(s.percentile(99.9998), 1u);     // rank 10,999,977.000002 rounds up to 10,999,978: a 1
}

// The other side of the same edge: when q/100 * n is a whole number, that
// rank is taken and not the next one, although q = 0.7 is 0.69999999999999996
// in binary and 0.7 / 100 * 1000 computes as 7.000000000000001.
TEST(Histogram, ARankThatIsAWholeNumberIsTakenItselfNotTheNextOne) {
  Histogram exact(0, 4095, 2048);  // every bucket below 4096 is one value wide
  for (std::uint64_t v = 1; v <= 1000; ++v) exact.record(v);
  const HistogramSnapshot s = exact.snapshot();
  for (std::uint64_t k = 1; k <= 1000; ++k) EXPECT_EQ(s.percentile(static_cast<double>(k) / 10.0), k) << k;

  Histogram big(1, 2000, 32);
  for (std::uint64_t i = 0; i < 999'999; ++i) big.record(1);
  big.record(1000);
  const HistogramSnapshot b = big.snapshot();
  EXPECT_EQ(b.percentile(99.9999), 1u);      // rank 999,999 exactly
  EXPECT_EQ(b.percentile(99.99991), 1000u);  // rank 999,999.91 rounds up to the last value
}

TEST(Histogram, PercentilesAreExactWhenEveryValueIsBelowTwiceTheSubBucketCount) {
  Histogram h(0, 4095, 2048);
  for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.p50(), 500u);
  EXPECT_EQ(s.p90(), 900u);
  EXPECT_EQ(s.p99(), 990u);
  EXPECT_EQ(s.p999(), 999u);
}

TEST(Histogram, PercentilesAmongOutOfRangeValuesReportMinOrMax) {
  Histogram h(10, 100, 4);
  for (const std::uint64_t v : {1u, 2u, 50u, 200u, 300u}) h.record(v);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.percentile(40), 1u);    // rank 2: underflow
  EXPECT_EQ(s.percentile(60), 55u);   // rank 3: 50 in [48, 55]
  EXPECT_EQ(s.percentile(80), 300u);  // rank 4: overflow, reported as max
  EXPECT_EQ(s.percentile(100), 300u);
}

TEST(Histogram, OutOfRangePercentileArgumentsAreClamped) {
  Histogram h(1, 100, 4);
  h.record(5);
  h.record(60);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.percentile(-3), 5u);
  EXPECT_EQ(s.percentile(std::nan("")), 5u);
  EXPECT_EQ(s.percentile(250), 60u);
}

TEST(Histogram, SnapshotIsCumulativeAcrossCalls) {
  Histogram h(1, 100, 4);
  h.record(5);
  EXPECT_EQ(h.snapshot().count(), 1u);
  h.record(6);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(s.sum(), 11u);
  EXPECT_EQ(s.min(), 5u);
  EXPECT_EQ(s.max(), 6u);
}

TEST(Histogram, SnapshotAndResetReturnsTheIntervalAndTheNextIntervalStartsEmpty) {
  Histogram h(1, 100, 4);
  h.record(5);
  static_cast<void>(h.snapshot());  // folded into the totals, still part of the interval
  h.record(6);
  const HistogramSnapshot first = h.snapshot_and_reset();
  EXPECT_EQ(first.count(), 2u);
  EXPECT_EQ(first.sum(), 11u);
  EXPECT_EQ(first.min(), 5u);
  EXPECT_EQ(first.max(), 6u);

  h.record(7);
  const HistogramSnapshot second = h.snapshot_and_reset();
  EXPECT_EQ(second.count(), 1u);
  EXPECT_EQ(second.sum(), 7u);
  EXPECT_EQ(second.min(), 7u);
  EXPECT_EQ(second.max(), 7u);
  EXPECT_EQ(second.bucket_value_count(6), 1u);
  EXPECT_EQ(second.bucket_value_count(4), 0u);

  const HistogramSnapshot third = h.snapshot();
  EXPECT_EQ(third.count(), 0u);
  EXPECT_EQ(third.min(), 0u);
  EXPECT_EQ(third.max(), 0u);
}

TEST(Histogram, RecordsZeroAndTheU64MaximumOverTheFullRange) {
  Histogram h(0, u64_max, 32);
  h.record(0);
  h.record(u64_max);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(s.underflow() + s.overflow(), 0u);
  EXPECT_EQ(s.min(), 0u);
  EXPECT_EQ(s.max(), u64_max);
  EXPECT_EQ(s.bucket_value_count(0), 1u);
  EXPECT_EQ(s.bucket_value_count(s.bucket_count() - 1), 1u);
  EXPECT_EQ(s.cumulative_buckets().back().upper_bound, u64_max);
  EXPECT_EQ(s.cumulative_buckets().back().cumulative_count, 2u);
}

// ---------------------------------------------------------------------------
// StageTimer and ScopedTimer

TEST(StageTimer, AccumulatesTotalCountAndMaximum) {
  StageTimer t("mix");
  EXPECT_EQ(t.name(), "mix");
  t.record(100);
  t.record(300);
  t.record(200);
  const StageTimer::Snapshot s = t.snapshot();
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.total_ns, 600u);
  EXPECT_EQ(s.max_ns, 300u);
  EXPECT_EQ(s.mean_ns(), 200.0);
}

TEST(StageTimer, SnapshotAndResetReturnsTheFieldsAndZeroesThem) {
  StageTimer t("encode");
  t.record(100);
  t.record(300);
  const StageTimer::Snapshot first = t.snapshot_and_reset();
  EXPECT_EQ(first.count, 2u);
  EXPECT_EQ(first.total_ns, 400u);
  EXPECT_EQ(first.max_ns, 300u);
  const StageTimer::Snapshot empty = t.snapshot();
  EXPECT_EQ(empty.count, 0u);
  EXPECT_EQ(empty.total_ns, 0u);
  EXPECT_EQ(empty.max_ns, 0u);
  EXPECT_EQ(empty.mean_ns(), 0.0);
  t.record(50);
  const StageTimer::Snapshot second = t.snapshot_and_reset();
  EXPECT_EQ(second.count, 1u);
  EXPECT_EQ(second.total_ns, 50u);
  EXPECT_EQ(second.max_ns, 50u);
}

TEST(ScopedTimer, RecordsOneDurationIntoAStageTimerWithinTheClockReadsAroundIt) {
  StageTimer t("scope");
  const std::int64_t before = nowait::monotonic_ns();
  { ScopedTimer timer(t); }
  const std::int64_t after = nowait::monotonic_ns();
  const StageTimer::Snapshot s = t.snapshot();
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.max_ns, s.total_ns);
  EXPECT_LE(s.total_ns, static_cast<std::uint64_t>(after - before));
}

TEST(ScopedTimer, RecordsOneDurationIntoAHistogram) {
  Histogram h(0, 1'000'000'000'000, 32);
  const std::int64_t before = nowait::monotonic_ns();
  { ScopedTimer timer(h); }
  const std::int64_t after = nowait::monotonic_ns();
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.min(), s.max());
  EXPECT_EQ(s.sum(), s.max());
  EXPECT_LE(s.max(), static_cast<std::uint64_t>(after - before));
}

TEST(ScopedTimer, ElapsedNeverGoesBackwards) {
  StageTimer t;
  ScopedTimer timer(t);
  const std::uint64_t first = timer.elapsed_ns();
  const std::uint64_t second = timer.elapsed_ns();
  EXPECT_LE(first, second);
}

// ---------------------------------------------------------------------------
// Real-time paths. Every write path runs inside a NOWAIT_NONBLOCKING function:
// clang rejects at compile time anything in it that may allocate, lock or
// block (-Werror=function-effects), and RealtimeSanitizer traps it at run time.

struct Metrics {
  Counter counter;
  Gauge<std::int64_t> lag;
  Gauge<std::uint64_t> depth;
  Gauge<double> level;
  MaxGauge<> peak;
  ShardedCounter frames{2};
  Histogram latency{1, 1'000'000'000'000, 32};
  StageTimer stage{"rt"};
};

void rt_update(Metrics& m, ShardedCounter::Shard shard, std::uint64_t i) noexcept NOWAIT_NONBLOCKING {
  nowait::ScopedTimer whole(m.stage);
  m.counter.add();
  m.counter.add_saturating(2);
  m.lag.set(-static_cast<std::int64_t>(i));
  m.lag.add(1);
  m.depth.add(3);
  m.depth.sub(1);
  m.level.add(0.5);
  m.level.sub(0.25);
  m.peak.observe(i);
  shard.add(256);
  m.latency.record(i);
  { nowait::ScopedTimer part(m.latency); }
}

std::uint64_t rt_read(Metrics& m) noexcept NOWAIT_NONBLOCKING {
  const auto stage = m.stage.snapshot();
  return m.counter.value() + m.peak.value() + m.frames.value() + stage.count;
}

TEST(Metrics, EveryWritePathRunsInsideANonblockingFunction) {
  Metrics m;
  const auto shard = m.frames.shard();
  for (std::uint64_t i = 1; i <= 4; ++i) rt_update(m, shard, i);
  EXPECT_EQ(m.counter.value(), 12u);
  EXPECT_EQ(m.lag.value(), -3);
  EXPECT_EQ(m.depth.value(), 8u);
  EXPECT_EQ(m.level.value(), 1.0);
  EXPECT_EQ(m.peak.value(), 4u);
  EXPECT_EQ(m.frames.value(), 1024u);
  EXPECT_EQ(m.stage.snapshot().count, 4u);
  EXPECT_EQ(m.latency.snapshot().count(), 8u);
  EXPECT_EQ(rt_read(m), 12u + 4u + 1024u + 4u);
}

// ---------------------------------------------------------------------------
// Preconditions: checked in builds without NDEBUG (compiled out with NDEBUG).

#ifndef NDEBUG
TEST(MetricsDeathTest, AddingThroughAnUnboundShardIsReported) {
  const ShardedCounter::Shard unbound;
  EXPECT_DEATH(unbound.add(), "unbound shard");
}

TEST(MetricsDeathTest, AskingTheLayoutForTheBucketOfAnOutOfRangeValueIsReported) {
  const HistogramLayout layout(10, 100, 4);
  EXPECT_DEATH(static_cast<void>(layout.bucket_index(9)), "value out of range");
  EXPECT_DEATH(static_cast<void>(layout.upper_bound(layout.bucket_count())), "no such bucket");
}
#endif

}  // namespace
