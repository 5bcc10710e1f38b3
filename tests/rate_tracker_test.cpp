// Tests of nowait/rate_tracker.hpp. A fake clock makes every rate exact: the
// intervals are multiples of 1/8 s and the count differences small integers,
// so each expected rate is a double computed without rounding, and the tests
// compare with ==. The last tests call one tracker from 100 threads at once;
// each thread's clock is its own fake (a thread_local timestamp), chosen so
// that every rate a call can legitimately return is known exactly. No sleeps.
#include "nowait/rate_tracker.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.hpp"

namespace {

using nowait::RateTracker;

constexpr std::int64_t ms = 1'000'000;  // nanoseconds
constexpr std::int64_t s = 1'000 * ms;

// A clock the test sets by hand.
struct FakeClock {
  std::int64_t now = 0;
  RateTracker<2>::Clock clock() {
    return [this] { return now; };
  }
};

template <std::size_t N>
void expect_all_zero(const typename RateTracker<N>::Rates& r) {
  for (std::size_t i = 0; i < N; ++i) {
    EXPECT_EQ(r.instant[i], 0.0) << "counter " << i;
    EXPECT_EQ(r.average[i], 0.0) << "counter " << i;
  }
  EXPECT_EQ(r.interval_seconds, 0.0);
  EXPECT_EQ(r.elapsed_seconds, 0.0);
}

TEST(RateTracker, FirstCallReturnsZeroRates) {
  FakeClock fake{5 * s};
  RateTracker<2> tracker(fake.clock());
  expect_all_zero<2>(tracker.update({1000, 7}));
}

TEST(RateTracker, SecondCallReturnsTheCountDifferencesPerSecondOverTheInterval) {
  FakeClock fake{1 * s};
  RateTracker<2> tracker(fake.clock());
  tracker.update({100, 40});
  fake.now += 250 * ms;
  const auto r = tracker.update({600, 40});
  EXPECT_EQ(r.interval_seconds, 0.25);
  EXPECT_EQ(r.elapsed_seconds, 0.25);
  EXPECT_EQ(r.instant[0], 2000.0);  // 500 in 0.25 s
  EXPECT_EQ(r.instant[1], 0.0);
  EXPECT_EQ(r.average[0], 2000.0);
  EXPECT_EQ(r.average[1], 0.0);
}

TEST(RateTracker, InstantRatesUseThePreviousCallAndAveragesTheFirst) {
  FakeClock fake{0};
  RateTracker<2> tracker(fake.clock());
  tracker.update({0, 0});
  fake.now = 500 * ms;
  auto r = tracker.update({1000, 10});
  EXPECT_EQ(r.instant[0], 2000.0);
  EXPECT_EQ(r.instant[1], 20.0);
  fake.now = 2 * s;  // 1.5 s later, 2 s since the start
  r = tracker.update({1600, 70});
  EXPECT_EQ(r.interval_seconds, 1.5);
  EXPECT_EQ(r.elapsed_seconds, 2.0);
  EXPECT_EQ(r.instant[0], 400.0);  // 600 in 1.5 s
  EXPECT_EQ(r.instant[1], 40.0);   // 60 in 1.5 s
  EXPECT_EQ(r.average[0], 800.0);  // 1600 in 2 s
  EXPECT_EQ(r.average[1], 35.0);   // 70 in 2 s
  fake.now = 2 * s + 125 * ms;
  r = tracker.update({1601, 70});
  EXPECT_EQ(r.interval_seconds, 0.125);
  EXPECT_EQ(r.instant[0], 8.0);
  EXPECT_EQ(r.instant[1], 0.0);
  EXPECT_EQ(r.average[0], 1601.0 / 2.125);
}

TEST(RateTracker, ZeroElapsedTimeGivesZeroInstantRateNeverInfinityOrNaN) {
  FakeClock fake{3 * s};
  RateTracker<1> tracker([&fake] { return fake.now; });
  tracker.update({10});
  const auto same_instant = tracker.update({20});
  EXPECT_EQ(same_instant.instant[0], 0.0);
  EXPECT_EQ(same_instant.average[0], 0.0);
  EXPECT_EQ(same_instant.interval_seconds, 0.0);
  // That call stored its counts: the next interval starts from 20.
  fake.now += 1 * s;
  const auto next = tracker.update({50});
  EXPECT_EQ(next.instant[0], 30.0);
  EXPECT_EQ(next.average[0], 40.0);
}

TEST(RateTracker, CounterThatGoesBackwardsGivesZeroForThatIntervalAndRestartsFromItsNewValue) {
  FakeClock fake{0};
  RateTracker<2> tracker(fake.clock());
  tracker.update({1000, 0});
  fake.now = 1 * s;
  tracker.update({3000, 100});
  fake.now = 2 * s;
  auto r = tracker.update({50, 300});  // counter 0 was reset
  EXPECT_EQ(r.instant[0], 0.0);
  EXPECT_EQ(r.average[0], 0.0);  // below the first snapshot's count
  EXPECT_EQ(r.instant[1], 200.0);
  EXPECT_EQ(r.average[1], 150.0);
  fake.now = 2 * s + 500 * ms;
  r = tracker.update({150, 300});
  EXPECT_EQ(r.instant[0], 200.0);  // 100 in 0.5 s, measured from the reset value
  EXPECT_EQ(r.average[0], 0.0);
}

TEST(RateTracker, CallWithAnOlderTimestampReturnsZeroRatesAndDoesNotReplaceTheStoredSnapshot) {
  FakeClock fake{10 * s};
  RateTracker<1> tracker([&fake] { return fake.now; });
  tracker.update({0});
  fake.now = 12 * s;
  tracker.update({200});
  fake.now = 11 * s;  // a caller that read the clock before the previous one
  const auto late = tracker.update({100});
  EXPECT_EQ(late.instant[0], 0.0);
  EXPECT_EQ(late.interval_seconds, 0.0);
  EXPECT_EQ(late.average[0], 100.0);  // 100 in 1 s since the first call
  fake.now = 14 * s;
  const auto r = tracker.update({600});
  EXPECT_EQ(r.interval_seconds, 2.0);  // from the 12 s snapshot, not the 11 s call
  EXPECT_EQ(r.instant[0], 200.0);
}

TEST(RateTracker, ExtremeClockValuesDoNotOverflow) {
  FakeClock fake{std::numeric_limits<std::int64_t>::min()};
  RateTracker<1> tracker([&fake] { return fake.now; });
  tracker.update({0});
  fake.now = std::numeric_limits<std::int64_t>::max();
  const auto r = tracker.update({std::numeric_limits<std::uint64_t>::max()});
  EXPECT_TRUE(std::isfinite(r.instant[0]));
  EXPECT_GT(r.instant[0], 0.0);
  EXPECT_EQ(r.interval_seconds, static_cast<double>(std::numeric_limits<std::uint64_t>::max()) / 1e9);
}

TEST(RateTracker, EmptyClockIsRejected) {
  EXPECT_THROW(static_cast<void>(RateTracker<1>(RateTracker<1>::Clock())), std::invalid_argument);
}

TEST(RateTracker, DefaultClockIsMonotonicAndGivesFiniteNonNegativeRates) {
  RateTracker<3> tracker;
  EXPECT_EQ(tracker.size(), 3u);
  expect_all_zero<3>(tracker.update({1, 2, 3}));
  const auto r = tracker.update({5, 2, 9});
  EXPECT_GE(r.interval_seconds, 0.0);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isfinite(r.instant[i]));
    EXPECT_GE(r.instant[i], 0.0);
  }
}

// ---------------------------------------------------------------------------
// Many threads on one tracker.
//
// Every call draws a fresh tick t from a shared counter, sets its own thread's
// fake clock to t * 250 ms and passes counts {t, 3t, 1000t}: the counts and the
// clock advance together at 4, 12 and 4000 per second. So relative to any
// snapshot, a call's rates are exactly {4, 12, 4000} when its timestamp is
// later, and exactly 0 when it is not (same tick, or a snapshot stored by a
// call that drew a later tick but got to the cell first). The average has the
// same property relative to the first snapshot.

thread_local std::int64_t thread_now = 0;

constexpr std::int64_t tick_ns = 250 * ms;
constexpr std::array<double, 3> per_second{4.0, 12.0, 4000.0};

struct CallTally {
  std::uint64_t calls = 0;
  std::uint64_t instant_exact = 0;  // all three rates exact, interval > 0
  std::uint64_t instant_zero = 0;   // all three 0, interval == 0
  std::uint64_t average_exact = 0;
  std::uint64_t average_zero = 0;
  std::uint64_t bad = 0;  // anything else: a wrong, negative, infinite or NaN rate, or mixed
};

RateTracker<3>::Counts counts_at(std::uint64_t tick) { return {tick, 3 * tick, 1000 * tick}; }

// Classifies one result against the exact rates it may legitimately take.
void classify(const RateTracker<3>::Rates& r, CallTally& tally) {
  ++tally.calls;
  bool instant_exact = r.interval_seconds > 0.0;
  bool instant_zero = r.interval_seconds == 0.0;
  bool average_exact = r.elapsed_seconds > 0.0;
  bool average_zero = r.elapsed_seconds == 0.0;
  for (std::size_t i = 0; i < 3; ++i) {
    instant_exact = instant_exact && r.instant[i] == per_second[i];
    instant_zero = instant_zero && r.instant[i] == 0.0;
    average_exact = average_exact && r.average[i] == per_second[i];
    average_zero = average_zero && r.average[i] == 0.0;
  }
  tally.instant_exact += instant_exact ? 1 : 0;
  tally.instant_zero += instant_zero ? 1 : 0;
  tally.average_exact += average_exact ? 1 : 0;
  tally.average_zero += average_zero ? 1 : 0;
  if (!(instant_exact || instant_zero) || !(average_exact || average_zero)) ++tally.bad;
}

TEST(RateTrackerStress, HundredThreadsCallingAHundredTimesEachGetOnlyExactOrZeroRates) {
  constexpr std::size_t threads = 100;
  constexpr std::uint64_t calls_per_thread = 100;
  std::atomic<std::uint64_t> next_tick{1};
  RateTracker<3> tracker([] { return thread_now; });
  std::vector<CallTally> tallies(threads);
  std::latch start(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < calls_per_thread; ++i) {
        // Relaxed: the tick only needs to be unique; the tracker orders the snapshots.
        const std::uint64_t tick = next_tick.fetch_add(1, std::memory_order_relaxed);
        thread_now = static_cast<std::int64_t>(tick) * tick_ns;
        classify(tracker.update(counts_at(tick)), tallies[t]);
      }
    });
  }
  for (auto& thread : pool) thread.join();

  CallTally total;
  for (const auto& t : tallies) {
    total.calls += t.calls;
    total.instant_exact += t.instant_exact;
    total.instant_zero += t.instant_zero;
    total.average_exact += t.average_exact;
    total.average_zero += t.average_zero;
    total.bad += t.bad;
  }
  EXPECT_EQ(total.calls, threads * calls_per_thread);
  EXPECT_EQ(total.bad, 0u);
  EXPECT_EQ(total.instant_exact + total.instant_zero, total.calls);
  EXPECT_EQ(total.average_exact + total.average_zero, total.calls);
  EXPECT_GE(total.instant_zero, 1u);  // at least the first call
  EXPECT_GE(total.instant_exact, 1u);
  std::printf("RateTracker 100x100: %llu exact instant, %llu zero instant, %llu exact average\n",
              static_cast<unsigned long long>(total.instant_exact),
              static_cast<unsigned long long>(total.instant_zero),
              static_cast<unsigned long long>(total.average_exact));

  // Whatever snapshot the storm left, a later call measures exactly against it.
  const std::uint64_t last = next_tick.load() + 1;
  thread_now = static_cast<std::int64_t>(last) * tick_ns;
  const auto r = tracker.update(counts_at(last));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.instant[i], per_second[i]);
    EXPECT_EQ(r.average[i], per_second[i]);
  }
  EXPECT_GT(r.interval_seconds, 0.0);
}

TEST(RateTrackerStress, ConcurrentCallersWithTheRealClockGetFiniteNonNegativeConsistentRates) {
  const std::size_t threads = 8;
  const std::uint64_t calls_per_thread = nowait::test::stress_count(20'000, 2'000);
  std::atomic<std::uint64_t> events{0};
  RateTracker<1> tracker;
  std::atomic<std::uint64_t> bad{0};
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      start.arrive_and_wait();
      std::uint64_t local_bad = 0;
      for (std::uint64_t i = 0; i < calls_per_thread; ++i) {
        // Relaxed: a counter that only grows; the tracker only needs its values.
        events.fetch_add(1, std::memory_order_relaxed);
        const auto r = tracker.update({events.load(std::memory_order_relaxed)});
        const bool ok = std::isfinite(r.instant[0]) && r.instant[0] >= 0.0 && std::isfinite(r.average[0]) &&
                        r.average[0] >= 0.0 && r.interval_seconds >= 0.0 &&
                        r.elapsed_seconds >= r.interval_seconds &&
                        (r.interval_seconds > 0.0 || r.instant[0] == 0.0);
        if (!ok) ++local_bad;
      }
      bad.fetch_add(local_bad, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
  for (auto& thread : pool) thread.join();
  EXPECT_EQ(bad.load(), 0u);
}

}  // namespace
