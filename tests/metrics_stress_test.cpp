// Multi-threaded stress tests of nowait/metrics.hpp: several writer threads
// update one metric while the test thread reads or resets it, and the totals
// are checked exactly afterwards, so a lost, duplicated or torn update fails
// the test. Run under TSan these also check the memory orders. Counts scale
// with the build (support/stress.hpp).
//
// The writers' loops are NOWAIT_NONBLOCKING functions, so the rtsan build
// checks every write path at compile time and at run time while it races.
// Threads start together on a std::latch; nothing sleeps. The reading thread
// reads as fast as it can until the last writer has finished.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/metrics.hpp"
#include "nowait/rt.hpp"
#include "support/stress.hpp"

namespace {

using nowait::Counter;
using nowait::Gauge;
using nowait::Histogram;
using nowait::HistogramSnapshot;
using nowait::MaxGauge;
using nowait::ShardedCounter;
using nowait::StageTimer;
using nowait::test::stress_count;

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
constexpr int writers = 3;

// Starts `writer_count` threads running write(index), releases them together,
// and calls read() on this thread until they have all finished (at least
// once). Returns how many reads ran.
template <class Write, class Read>
std::uint64_t race(int writer_count, Write write, Read read) {
  std::latch start(writer_count + 1);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writer_count; ++w) {
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      write(w);
      // relaxed: only tells the reader when to stop; join() orders the totals.
      finished.fetch_add(1, std::memory_order_relaxed);
    });
  }
  start.arrive_and_wait();
  std::uint64_t reads = 0;
  do {
    read();
    ++reads;
  } while (finished.load(std::memory_order_relaxed) < writer_count);  // relaxed: see the add above
  for (auto& t : threads) t.join();
  return reads;
}

// race() with nothing to read: only the writers' totals are checked.
template <class Write>
void run_writers(int writer_count, Write write) {
  race(writer_count, write, [] {});
}

void report_reads(const char* what, std::uint64_t reads) {
  std::printf("[ info     ] %s: %llu reads raced with the writers\n", what,
              static_cast<unsigned long long>(reads));
}

// ---------------------------------------------------------------------------
// The writers' loops: real-time code, checked by the rtsan build.

void rt_add_ones(Counter& c, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) c.add();
}

void rt_add_saturating_ones(Counter& c, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) c.add_saturating(1);
}

void rt_shard_add_ones(ShardedCounter::Shard s, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) s.add();
}

void rt_gauge_add_halves(Gauge<double>& g, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) g.add(0.5);
}

// Observes first, first + stride, ... : interleaved writers raise the maximum
// in turn, so their CAS loops collide.
void rt_observe_rising(MaxGauge<>& m, std::uint64_t first, std::uint64_t stride,
                       std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) m.observe(first + i * stride);
}

// The duration recorded at step i: 1..1000, so the expected totals are known.
constexpr std::uint64_t duration_at(std::uint64_t i) noexcept { return i % 1000 + 1; }

void rt_record_durations(StageTimer& t, std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) t.record(duration_at(i));
}

// ---------------------------------------------------------------------------
// Counters: N threads x M increments sum exactly.

TEST(CounterStress, AddsFromManyThreadsSumExactly) {
  const std::uint64_t per_writer = stress_count(2'000'000, 200'000);
  Counter c;
  run_writers(writers, [&](int) { rt_add_ones(c, per_writer); });
  EXPECT_EQ(c.value(), writers * per_writer);
}

TEST(CounterStress, SaturatingAddsFromManyThreadsSumExactlyBelowTheMaximum) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  Counter c;
  run_writers(writers, [&](int) { rt_add_saturating_ones(c, per_writer); });
  EXPECT_EQ(c.value(), writers * per_writer);
}

TEST(CounterStress, SaturatingAddsFromManyThreadsStopAtTheMaximumAndNeverWrap) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  const std::uint64_t start = u64_max - per_writer;  // the writers overshoot by (writers - 1) * per_writer
  Counter c(start);
  std::uint64_t previous = start;
  std::uint64_t went_back = 0;
  const auto reads = race(
      writers, [&](int) { rt_add_saturating_ones(c, per_writer); },
      [&] {
        const std::uint64_t now = c.value();
        if (now < previous) ++went_back;
        previous = now;
      });
  report_reads("saturating Counter", reads);
  EXPECT_EQ(c.value(), u64_max);
  EXPECT_EQ(went_back, 0u) << "the counter wrapped";
}

TEST(ShardedCounterStress, AddsFromManyThreadsSumExactly) {
  const std::uint64_t per_writer = stress_count(5'000'000, 200'000);
  ShardedCounter c(writers);
  run_writers(writers, [&](int) { rt_shard_add_ones(c.shard(), per_writer); });
  EXPECT_EQ(c.value(), writers * per_writer);
}

TEST(ShardedCounterStress, MoreWritersThanSlotsStillSumExactly) {
  const std::uint64_t per_writer = stress_count(2'000'000, 200'000);
  ShardedCounter c(2);
  run_writers(writers + 1, [&](int) { rt_shard_add_ones(c.shard(), per_writer); });
  EXPECT_EQ(c.value(), (writers + 1) * per_writer);
}

TEST(GaugeStress, DoubleAddsFromManyThreadsSumExactly) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  Gauge<double> g;
  run_writers(writers, [&](int) { rt_gauge_add_halves(g, per_writer); });
  EXPECT_EQ(g.value(), 0.5 * static_cast<double>(writers * per_writer));  // exact: halves below 2^53
}

TEST(MaxGaugeStress, InterleavedRisingObservationsEndAtTheLargest) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  MaxGauge<> m;
  run_writers(writers,
              [&](int w) { rt_observe_rising(m, static_cast<std::uint64_t>(w), writers, per_writer); });
  EXPECT_EQ(m.value(), writers * per_writer - 1);
}

TEST(MaxGaugeStress, TakeAndResetRacingWithObserversLosesNoMaximum) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  MaxGauge<> m;
  std::uint64_t largest_taken = 0;
  const auto reads = race(
      writers, [&](int w) { rt_observe_rising(m, static_cast<std::uint64_t>(w), writers, per_writer); },
      [&] { largest_taken = std::max(largest_taken, m.take_and_reset()); });
  report_reads("MaxGauge take_and_reset", reads);
  EXPECT_EQ(std::max(largest_taken, m.value()), writers * per_writer - 1);
}

// ---------------------------------------------------------------------------
// Snapshot-and-reset racing with writers: the sum of every reset snapshot plus
// the final value equals the total recorded.

TEST(CounterStress, SnapshotAndResetRacingWithWritersLosesNoIncrement) {
  const std::uint64_t per_writer = stress_count(2'000'000, 200'000);
  Counter c;
  std::uint64_t taken = 0;
  const auto reads = race(
      writers, [&](int) { rt_add_ones(c, per_writer); }, [&] { taken += c.snapshot_and_reset(); });
  report_reads("Counter snapshot_and_reset", reads);
  EXPECT_EQ(taken + c.value(), writers * per_writer);
}

TEST(ShardedCounterStress, SnapshotAndResetRacingWithWritersLosesNoIncrement) {
  const std::uint64_t per_writer = stress_count(5'000'000, 200'000);
  ShardedCounter c(writers);
  std::uint64_t taken = 0;
  const auto reads = race(
      writers, [&](int) { rt_shard_add_ones(c.shard(), per_writer); },
      [&] { taken += c.snapshot_and_reset(); });
  report_reads("ShardedCounter snapshot_and_reset", reads);
  EXPECT_EQ(taken + c.value(), writers * per_writer);
}

TEST(StageTimerStress, SnapshotAndResetRacingWithWritersLosesNoCountDurationOrMaximum) {
  const std::uint64_t per_writer = stress_count(1'000'000, 100'000);
  StageTimer t("stress");
  StageTimer::Snapshot taken;
  const auto reads = race(
      writers, [&](int) { rt_record_durations(t, per_writer); },
      [&] {
        const StageTimer::Snapshot s = t.snapshot_and_reset();
        taken.count += s.count;
        taken.total_ns += s.total_ns;
        taken.max_ns = std::max(taken.max_ns, s.max_ns);
      });
  report_reads("StageTimer snapshot_and_reset", reads);
  std::uint64_t expected_total = 0;
  for (std::uint64_t i = 0; i < per_writer; ++i) expected_total += duration_at(i);
  const StageTimer::Snapshot rest = t.snapshot();
  EXPECT_EQ(taken.count + rest.count, writers * per_writer);
  EXPECT_EQ(taken.total_ns + rest.total_ns, writers * expected_total);
  EXPECT_EQ(std::max(taken.max_ns, rest.max_ns), std::min<std::uint64_t>(per_writer, 1000));
}

// ---------------------------------------------------------------------------
// Histogram

// The histogram the tests race on, and the values they record: each in-range
// value is the lower bound of its own bucket, plus one value below and one
// above the range. Since every bucket holds a single distinct value, a
// snapshot's sum, min and max follow from its bucket counts, so any snapshot
// that mixed two moments (a count without its sum, say) is caught.
struct HistogramFixture {
  static constexpr std::uint64_t below = 3;
  static constexpr std::uint64_t above = 5'000'000;
  Histogram histogram{16, 1'000'000, 4};
  std::vector<std::uint64_t> values;  // in recording order, cycled

  HistogramFixture() {
    values.push_back(below);
    const auto& layout = histogram.layout();
    for (std::size_t i = 0; i < layout.bucket_count(); i += 3) values.push_back(layout.lower_bound(i));
    values.push_back(above);
  }

  // What a snapshot must hold given its own bucket counts; empty when consistent.
  std::string inconsistency(const HistogramSnapshot& s) const {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    std::uint64_t low = u64_max;
    std::uint64_t high = 0;
    auto add = [&](std::uint64_t c, std::uint64_t value) {
      if (c == 0) return;
      count += c;
      sum += c * value;
      low = std::min(low, value);
      high = std::max(high, value);
    };
    add(s.underflow(), below);
    add(s.overflow(), above);
    for (std::size_t i = 0; i < s.bucket_count(); ++i)
      add(s.bucket_value_count(i), s.layout().lower_bound(i));
    if (count != s.count())
      return "count " + std::to_string(s.count()) + " != buckets " + std::to_string(count);
    if (sum != s.sum()) return "sum " + std::to_string(s.sum()) + " != from buckets " + std::to_string(sum);
    if (count > 0 && (low != s.min() || high != s.max()))
      return "min/max " + std::to_string(s.min()) + "/" + std::to_string(s.max()) + " != from buckets " +
             std::to_string(low) + "/" + std::to_string(high) + " (count " + std::to_string(count) + ")";
    return {};
  }
};

void rt_record_cycle(Histogram& h, const std::uint64_t* values, std::size_t value_count, std::size_t offset,
                     std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
  for (std::uint64_t i = 0; i < n; ++i) h.record(values[(offset + i) % value_count]);
}

// Per-bucket totals of everything the writers record, computed on one thread.
std::vector<std::uint64_t> expected_slots(const HistogramFixture& f, std::uint64_t per_writer) {
  const auto& layout = f.histogram.layout();
  std::vector<std::uint64_t> slots(layout.bucket_count() + 2, 0);  // buckets, underflow, overflow
  for (int w = 0; w < writers; ++w) {
    for (std::uint64_t i = 0; i < per_writer; ++i) {
      const std::uint64_t v = f.values[(static_cast<std::size_t>(w) + i) % f.values.size()];
      if (v < layout.lowest()) {
        ++slots[layout.bucket_count()];
      } else if (v > layout.highest()) {
        ++slots[layout.bucket_count() + 1];
      } else {
        ++slots[layout.bucket_index(v)];
      }
    }
  }
  return slots;
}

std::vector<std::uint64_t> slots_of(const HistogramSnapshot& s) {
  std::vector<std::uint64_t> slots;
  for (std::size_t i = 0; i < s.bucket_count(); ++i) slots.push_back(s.bucket_value_count(i));
  slots.push_back(s.underflow());
  slots.push_back(s.overflow());
  return slots;
}

TEST(HistogramStress, SnapshotsTakenWhileWritersRunAreConsistentAndGrowUntilTheyHoldEverything) {
  const std::uint64_t per_writer = stress_count(500'000, 50'000);
  HistogramFixture f;
  std::uint64_t previous_count = 0;
  std::vector<std::uint64_t> previous_slots(f.histogram.layout().bucket_count() + 2, 0);
  std::uint64_t inconsistent = 0;
  std::uint64_t shrank = 0;
  std::string first_problem;
  const auto reads = race(
      writers,
      [&](int w) {
        rt_record_cycle(f.histogram, f.values.data(), f.values.size(), static_cast<std::size_t>(w),
                        per_writer);
      },
      [&] {
        const HistogramSnapshot s = f.histogram.snapshot();
        if (const std::string problem = f.inconsistency(s); !problem.empty() && inconsistent++ == 0)
          first_problem = problem;
        const std::vector<std::uint64_t> slots = slots_of(s);
        for (std::size_t i = 0; i < slots.size(); ++i)
          if (slots[i] < previous_slots[i]) ++shrank;
        if (s.count() < previous_count) ++shrank;
        previous_count = s.count();
        previous_slots = slots;
      });
  report_reads("Histogram snapshot", reads);
  EXPECT_EQ(inconsistent, 0u) << first_problem;
  EXPECT_EQ(shrank, 0u);
  const HistogramSnapshot final_snapshot = f.histogram.snapshot();
  EXPECT_EQ(f.inconsistency(final_snapshot), "");
  EXPECT_EQ(final_snapshot.count(), writers * per_writer);
  EXPECT_EQ(slots_of(final_snapshot), expected_slots(f, per_writer));
}

TEST(HistogramStress, SnapshotAndResetFromTwoReadersRacingWithWritersLosesAndDuplicatesNothing) {
  const std::uint64_t per_writer = stress_count(500'000, 50'000);
  HistogramFixture f;
  const std::size_t slot_count = f.histogram.layout().bucket_count() + 2;
  // One tally per reader thread; merged after the join.
  struct Tally {
    std::vector<std::uint64_t> slots;
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    std::uint64_t inconsistent = 0;
    std::string first_problem;
  };
  std::vector<Tally> tallies(2);
  for (Tally& tally : tallies) tally.slots.assign(slot_count, 0);
  auto take = [&](Tally& tally) {
    const HistogramSnapshot s = f.histogram.snapshot_and_reset();
    if (const std::string problem = f.inconsistency(s); !problem.empty() && tally.inconsistent++ == 0)
      tally.first_problem = problem;
    const std::vector<std::uint64_t> slots = slots_of(s);
    for (std::size_t i = 0; i < slot_count; ++i) tally.slots[i] += slots[i];
    tally.count += s.count();
    tally.sum += s.sum();
  };

  // The writers, plus a second reader thread that resets alongside race()'s
  // reader until every writer has finished.
  std::atomic<int> writers_finished{0};
  const auto reads = race(
      writers + 1,
      [&](int w) {
        if (w == writers) {
          do {
            take(tallies[1]);
          } while (writers_finished.load(std::memory_order_relaxed) < writers);  // relaxed: as in race()
          return;
        }
        rt_record_cycle(f.histogram, f.values.data(), f.values.size(), static_cast<std::size_t>(w),
                        per_writer);
        writers_finished.fetch_add(1, std::memory_order_relaxed);  // relaxed: as in race()
      },
      [&] { take(tallies[0]); });
  report_reads("Histogram snapshot_and_reset (first of two readers)", reads);
  const HistogramSnapshot rest = f.histogram.snapshot();
  std::vector<std::uint64_t> slots = slots_of(rest);
  std::uint64_t count = rest.count();
  std::uint64_t sum = rest.sum();
  for (const Tally& tally : tallies) {
    EXPECT_EQ(tally.inconsistent, 0u) << tally.first_problem;
    for (std::size_t i = 0; i < slot_count; ++i) slots[i] += tally.slots[i];
    count += tally.count;
    sum += tally.sum;
  }
  EXPECT_EQ(count, writers * per_writer);
  EXPECT_EQ(slots, expected_slots(f, per_writer));
  std::uint64_t expected_sum = 0;
  for (int w = 0; w < writers; ++w)
    for (std::uint64_t i = 0; i < per_writer; ++i)
      expected_sum += f.values[(static_cast<std::size_t>(w) + i) % f.values.size()];
  EXPECT_EQ(sum, expected_sum);
}

}  // namespace
