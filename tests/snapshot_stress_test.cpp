// Concurrent behaviour of nowait/snapshot.hpp under writer storms: SeqlockCell
// readers never see a value that was never written, concurrent try_update
// calls never lose or repeat an increment, a TripleBuffer reader sees only
// whole values in publish order, and SharedSnapshot readers see only whole
// values while every old value is deleted exactly once, never on a reader.
//
// Every value carries an invariant between its fields (or a checksum over its
// body), so a copy stitched from two writes, or a read of a freed value, fails
// the check. The per-item work of writers and readers runs inside
// NOWAIT_NONBLOCKING functions, so the rtsan build (-fsanitize=realtime,
// -Werror=function-effects) checks the real-time paths under contention.
// gtest macros stay outside those functions; tallies are asserted after the
// threads are joined. Threads are synchronised with std::latch and atomics
// only, never with sleeps.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/rt.hpp"
#include "nowait/snapshot.hpp"
#include "support/lifetime_counter.hpp"
#include "support/stress.hpp"

namespace {

using nowait::SeqlockCell;
using nowait::SharedSnapshot;
using nowait::TripleBuffer;
using nowait::test::Counted;
using nowait::test::LifetimeStats;
using nowait::test::stress_count;

// Readers do this many reads before the writers start, so that every reader
// thread is running when the storm begins rather than scheduled after it.
constexpr std::uint64_t warm_up_reads = 100;

// ---------------------------------------------------------------------------
// SeqlockCell

// 64 bytes, eight payload words, every one derived from `a`: a copy that
// mixes two writes breaks at least one relation.
struct Reading {
  std::uint64_t a;
  std::uint64_t not_a;
  std::uint64_t a_times_3;
  std::array<std::uint64_t, 5> spread;

  static Reading of(std::uint64_t a) noexcept NOWAIT_NONBLOCKING {
    Reading r{a, ~a, a * 3, {}};
    for (std::size_t i = 0; i < r.spread.size(); ++i) r.spread[i] = a ^ (0x9E3779B97F4A7C15u * (i + 1));
    return r;
  }
  bool consistent() const noexcept NOWAIT_NONBLOCKING { return *this == of(a); }
  bool operator==(const Reading&) const = default;
};

struct SeqlockTally {
  std::uint64_t loads = 0;
  std::uint64_t failed_try_loads = 0;
  std::uint64_t torn = 0;       // a value that no store wrote
  std::uint64_t went_back = 0;  // a value older than one this reader already saw
  std::uint64_t last_seen = 0;
};

void rt_store(SeqlockCell<Reading>& cell, std::uint64_t a) noexcept NOWAIT_NONBLOCKING {
  cell.store(Reading::of(a));
}

void rt_observe(const Reading& r, SeqlockTally& tally) noexcept NOWAIT_NONBLOCKING {
  ++tally.loads;
  if (!r.consistent()) {
    ++tally.torn;
    return;
  }
  if (r.a < tally.last_seen) ++tally.went_back;
  tally.last_seen = r.a;
}

// Alternates the three ways of reading.
void rt_read(const SeqlockCell<Reading>& cell, std::uint64_t i,
             SeqlockTally& tally) noexcept NOWAIT_NONBLOCKING {
  switch (i % 3) {
    case 0:
      if (const auto r = cell.try_load()) {
        rt_observe(*r, tally);
      } else {
        ++tally.failed_try_loads;
      }
      break;
    case 1:
      if (const auto r = cell.try_load(4)) rt_observe(*r, tally);
      break;
    default:
      rt_observe(cell.load(), tally);
      break;
  }
}

TEST(SeqlockCellStress, ReadersNeverSeeAValueThatWasNeverWrittenWhileTheWriterStores) {
  const std::uint64_t total = stress_count(3'000'000, 300'000);
  constexpr std::size_t readers = 2;
  SeqlockCell<Reading> cell(Reading::of(0));
  std::atomic<bool> done{false};
  std::latch readers_running(readers);
  std::vector<SeqlockTally> tallies(readers);

  std::thread writer([&] {
    readers_running.wait();
    for (std::uint64_t a = 1; a <= total; ++a) rt_store(cell, a);
    // Release: a reader that sees the flag sees the last store.
    done.store(true, std::memory_order_release);
  });
  std::vector<std::thread> pool;
  for (std::size_t r = 0; r < readers; ++r) {
    pool.emplace_back([&, r] {
      std::uint64_t i = 0;
      while (i < warm_up_reads) rt_read(cell, i++, tallies[r]);
      readers_running.count_down();
      // Acquire: pairs with the writer's release of `done`.
      while (!done.load(std::memory_order_acquire)) rt_read(cell, i++, tallies[r]);
      rt_observe(cell.load(), tallies[r]);  // after the writer: exactly the last value
    });
  }
  writer.join();
  for (auto& t : pool) t.join();

  for (const auto& tally : tallies) {
    EXPECT_EQ(tally.torn, 0u);
    EXPECT_EQ(tally.went_back, 0u);
    EXPECT_EQ(tally.last_seen, total);
    std::printf("seqlock reader: %llu loads, %llu single attempts failed\n",
                static_cast<unsigned long long>(tally.loads),
                static_cast<unsigned long long>(tally.failed_try_loads));
  }
}

// Several writers share one cell through try_update. The invariant: the
// per-thread counts sum to `total`, and `check` is ~total.
struct Tallies {
  std::uint64_t total;
  std::uint64_t check;
  std::array<std::uint64_t, 4> per_thread;

  bool consistent() const noexcept NOWAIT_NONBLOCKING {
    std::uint64_t sum = 0;
    for (const std::uint64_t n : per_thread) sum += n;
    return sum == total && check == ~total;
  }
};

bool rt_increment(SeqlockCell<Tallies>& cell, std::size_t thread) noexcept NOWAIT_NONBLOCKING {
  return cell.try_update([thread](Tallies& t) noexcept {
    ++t.total;
    t.check = ~t.total;
    ++t.per_thread[thread];
  });
}

TEST(SeqlockCellStress, ConcurrentTryUpdatesNeverLoseOrRepeatAnIncrement) {
  constexpr std::size_t writers = 4;
  const std::uint64_t per_writer = stress_count(1'000'000, 30'000);
  SeqlockCell<Tallies> cell(Tallies{0, ~std::uint64_t{0}, {}});
  std::atomic<std::size_t> writers_left{writers};
  std::latch start(writers + 1);
  std::array<std::uint64_t, writers> lost_races{};
  std::uint64_t reads = 0;
  std::uint64_t torn = 0;

  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < writers; ++w) {
    pool.emplace_back([&, w] {
      start.arrive_and_wait();
      for (std::uint64_t done = 0; done < per_writer;) {
        if (rt_increment(cell, w)) {
          ++done;
        } else {
          ++lost_races[w];
          // Not a wait for the other writer: it only lets a preempted holder
          // run sooner on a machine with fewer cores than threads.
          std::this_thread::yield();
        }
      }
      // Release: the reader that sees zero sees every increment.
      writers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  std::thread reader([&] {
    start.arrive_and_wait();
    // Acquire: pairs with the writers' release.
    while (writers_left.load(std::memory_order_acquire) != 0) {
      ++reads;
      if (!cell.load().consistent()) ++torn;
    }
  });
  for (auto& t : pool) t.join();
  reader.join();

  const Tallies final_value = cell.load();
  EXPECT_TRUE(final_value.consistent());
  EXPECT_EQ(final_value.total, writers * per_writer);
  for (std::size_t w = 0; w < writers; ++w) EXPECT_EQ(final_value.per_thread[w], per_writer);
  EXPECT_EQ(torn, 0u);
  std::uint64_t races = 0;
  for (const std::uint64_t n : lost_races) races += n;
  std::printf("try_update: %llu increments, %llu lost races, %llu concurrent reads\n",
              static_cast<unsigned long long>(writers * per_writer), static_cast<unsigned long long>(races),
              static_cast<unsigned long long>(reads));
}

TEST(SeqlockCellStress, WriterStalledInsideAnUpdateDoesNotStallReadersOnOtherThreads) {
  constexpr std::size_t readers = 2;
  constexpr std::uint64_t loads_each = 1000;
  SeqlockCell<Reading> cell(Reading::of(1));
  cell.store(Reading::of(2));
  std::latch readers_finished(readers);
  std::latch writer_holds_cell(1);
  std::array<std::uint64_t, readers> good{};

  std::thread writer([&] {
    const bool published = cell.try_update([&](Reading& r) {
      writer_holds_cell.count_down();
      readers_finished.wait();  // the writer stalls mid-update until every reader is done
      r = Reading::of(3);
      return true;
    });
    EXPECT_TRUE(published);
  });
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < readers; ++i) {
    pool.emplace_back([&, i] {
      writer_holds_cell.wait();
      for (std::uint64_t n = 0; n < loads_each; ++n) {
        const auto r = cell.try_load();
        if (r && *r == Reading::of(2) && !cell.try_store(Reading::of(9))) ++good[i];
      }
      readers_finished.count_down();
    });
  }
  for (auto& t : pool) t.join();
  writer.join();
  for (const std::uint64_t g : good) EXPECT_EQ(g, loads_each);
  EXPECT_EQ(cell.load(), Reading::of(3));
}

// ---------------------------------------------------------------------------
// TripleBuffer

// Not trivially copyable: a counted tag (copies would show in the lifetime
// stats) and a pre-sized vector that the writer refills in place.
struct Frame {
  Frame(LifetimeStats& stats, std::size_t size) : tag(stats, 0), body(size, 0) {}
  Counted tag;
  std::uint64_t sequence = 0;
  std::vector<std::uint64_t> body;
  std::uint64_t checksum = 0;
};

constexpr std::uint64_t body_word(std::uint64_t sequence, std::size_t i) noexcept {
  return (sequence * 0x9E3779B97F4A7C15u) ^ (i * 0xBF58476D1CE4E5B9u);
}

void rt_publish_frame(TripleBuffer<Frame>::Writer& writer,
                      std::uint64_t sequence) noexcept NOWAIT_NONBLOCKING {
  Frame& f = writer.back();
  f.sequence = sequence;
  std::uint64_t sum = 0;
  std::uint64_t* const body = f.body.data();
  const std::size_t size = f.body.size();
  for (std::size_t i = 0; i < size; ++i) {
    body[i] = body_word(sequence, i);
    sum += body[i] * (2 * i + 1);
  }
  f.checksum = sum ^ sequence;
  writer.publish();
}

struct FrameTally {
  std::uint64_t updates = 0;
  std::uint64_t torn = 0;
  std::uint64_t not_newer = 0;
  std::uint64_t last = 0;
};

void rt_take_frame(TripleBuffer<Frame>::Reader& reader, FrameTally& tally) noexcept NOWAIT_NONBLOCKING {
  if (!reader.update()) return;
  ++tally.updates;
  const Frame& f = reader.front();
  std::uint64_t sum = 0;
  bool intact = true;
  const std::uint64_t* const body = f.body.data();
  const std::size_t size = f.body.size();
  for (std::size_t i = 0; i < size; ++i) {
    intact = intact && body[i] == body_word(f.sequence, i);
    sum += body[i] * (2 * i + 1);
  }
  if (!intact || f.checksum != (sum ^ f.sequence)) ++tally.torn;
  if (f.sequence <= tally.last) ++tally.not_newer;
  tally.last = f.sequence;
}

TEST(TripleBufferStress, ReaderSeesOnlyIntactValuesInIncreasingOrderUnderAWriterStorm) {
  const std::uint64_t total = stress_count(3'000'000, 150'000);
  LifetimeStats stats;
  {
    auto [writer, reader] = TripleBuffer<Frame>::create(Frame(stats, 64));
    EXPECT_EQ(stats.constructed.load(), 4);
    std::atomic<bool> done{false};
    std::latch reader_running(1);
    FrameTally tally;

    std::thread producer([&, &writer = writer] {
      reader_running.wait();
      for (std::uint64_t s = 1; s <= total; ++s) rt_publish_frame(writer, s);
      // Release: the reader that sees the flag can take the last frame.
      done.store(true, std::memory_order_release);
    });
    std::thread consumer([&, &reader = reader] {
      for (std::uint64_t i = 0; i < warm_up_reads; ++i) rt_take_frame(reader, tally);
      reader_running.count_down();
      // Acquire: pairs with the writer's release of `done`.
      while (!done.load(std::memory_order_acquire)) rt_take_frame(reader, tally);
      rt_take_frame(reader, tally);
    });
    producer.join();
    consumer.join();

    EXPECT_EQ(tally.torn, 0u);
    EXPECT_EQ(tally.not_newer, 0u);
    EXPECT_EQ(tally.last, total);
    EXPECT_EQ(stats.constructed.load(), 4);  // the storm copied no Frame
    std::printf("triple buffer: %llu frames published, %llu taken\n", static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(tally.updates));
  }
  EXPECT_EQ(stats.alive(), 0);
}

// ---------------------------------------------------------------------------
// SharedSnapshot

// Bookkeeping for every Versioned value ever made, indexed by its id.
struct VersionLedger {
  explicit VersionLedger(std::size_t ids) : destroyed(ids) {}
  std::vector<std::atomic<std::uint32_t>> destroyed;
  std::atomic<std::uint64_t> destroyed_on_reader{0};
};

thread_local bool on_reader_thread = false;

// An immutable published value: a publisher, its sequence number, and a body
// and checksum derived from them. The destructor records which value died and
// whether a reader thread ran it, then poisons the body so that a read after
// free fails the check.
struct Versioned {
  Versioned(VersionLedger& ledger, std::uint32_t publisher, std::uint64_t sequence, std::size_t id)
      : ledger_(&ledger), id_(id), publisher_(publisher), sequence_(sequence), body_(16) {
    for (std::size_t i = 0; i < body_.size(); ++i) body_[i] = word(i);
    checksum_ = sum();
  }
  Versioned(const Versioned&) = delete;
  Versioned& operator=(const Versioned&) = delete;
  ~Versioned() {
    // Relaxed: read only after every thread has been joined.
    ledger_->destroyed[id_].fetch_add(1, std::memory_order_relaxed);
    if (on_reader_thread) ledger_->destroyed_on_reader.fetch_add(1, std::memory_order_relaxed);
    std::fill(body_.begin(), body_.end(), 0);
    checksum_ = 1;
  }

  bool intact() const noexcept NOWAIT_NONBLOCKING {
    const std::uint64_t* const body = body_.data();
    for (std::size_t i = 0; i < body_.size(); ++i) {
      if (body[i] != word(i)) return false;
    }
    return checksum_ == sum();
  }
  std::uint32_t publisher() const noexcept NOWAIT_NONBLOCKING { return publisher_; }
  std::uint64_t sequence() const noexcept NOWAIT_NONBLOCKING { return sequence_; }

 private:
  std::uint64_t word(std::size_t i) const noexcept NOWAIT_NONBLOCKING {
    return (sequence_ + 1) * 0x9E3779B97F4A7C15u + (publisher_ + 1) * 0xBF58476D1CE4E5B9u + i;
  }
  std::uint64_t sum() const noexcept NOWAIT_NONBLOCKING {
    std::uint64_t s = 0;
    const std::uint64_t* const body = body_.data();
    for (std::size_t i = 0; i < body_.size(); ++i) s += body[i] * (2 * i + 1);
    return s;
  }

  VersionLedger* ledger_;
  std::size_t id_;
  std::uint32_t publisher_;
  std::uint64_t sequence_;
  std::vector<std::uint64_t> body_;
  std::uint64_t checksum_ = 0;
};

constexpr std::uint32_t publishers = 2;

struct SnapshotReadTally {
  std::uint64_t reads = 0;
  std::uint64_t torn = 0;
  std::uint64_t went_back = 0;  // a publisher's sequence lower than one already seen
  std::array<std::uint64_t, publishers + 1> latest{};
};

void rt_read_snapshot(SharedSnapshot<Versioned>::Reader& reader,
                      SnapshotReadTally& tally) noexcept NOWAIT_NONBLOCKING {
  const auto guard = reader.read();
  ++tally.reads;
  if (!guard->intact() || guard->publisher() > publishers) {
    ++tally.torn;
    return;
  }
  std::uint64_t& latest = tally.latest[guard->publisher()];
  if (guard->sequence() < latest) ++tally.went_back;
  latest = guard->sequence();
}

TEST(SharedSnapshotStress, ReadersSeeWholeValuesAndEveryOldValueIsFreedOnceAndNeverOnAReader) {
  const std::uint64_t per_publisher = stress_count(400'000, 10'000);
  constexpr std::size_t readers = 3;
  // Id 0 is the initial value (publisher `publishers`, sequence 0); publisher
  // p's value s (from 1) has id 1 + p * per_publisher + (s - 1).
  const std::size_t ids = 1 + publishers * per_publisher;
  VersionLedger ledger(ids);
  std::vector<SnapshotReadTally> tallies(readers);
  std::array<std::uint64_t, publishers> reclaimed{};
  const Versioned* last_current = nullptr;
  {
    SharedSnapshot<Versioned> snap(std::make_unique<Versioned>(ledger, publishers, 0, 0), readers);
    std::vector<SharedSnapshot<Versioned>::Reader> handles;
    for (std::size_t r = 0; r < readers; ++r) handles.push_back(snap.make_reader());

    std::atomic<std::uint32_t> publishers_left{publishers};
    std::latch readers_running(readers);
    std::vector<std::thread> pool;
    for (std::uint32_t p = 0; p < publishers; ++p) {
      pool.emplace_back([&, p] {
        readers_running.wait();
        for (std::uint64_t s = 1; s <= per_publisher; ++s) {
          snap.publish(std::make_unique<Versioned>(ledger, p, s, 1 + p * per_publisher + (s - 1)));
          if (s % 64 == 0) reclaimed[p] += snap.reclaim();  // publishers also reclaim, concurrently
        }
        // Release: the reader that sees zero has seen every publish.
        publishers_left.fetch_sub(1, std::memory_order_release);
      });
    }
    for (std::size_t r = 0; r < readers; ++r) {
      pool.emplace_back([&, r] {
        on_reader_thread = true;
        auto reader = std::move(handles[r]);
        for (std::uint64_t i = 0; i < warm_up_reads; ++i) rt_read_snapshot(reader, tallies[r]);
        readers_running.count_down();
        // Acquire: pairs with the publishers' release.
        while (publishers_left.load(std::memory_order_acquire) != 0) rt_read_snapshot(reader, tallies[r]);
        rt_read_snapshot(reader, tallies[r]);
        // The reader is destroyed here, on its thread: releasing a slot never frees a value.
      });
    }
    for (auto& t : pool) t.join();

    snap.reclaim();
    EXPECT_EQ(snap.retired_count(), 0u);
    auto check = snap.make_reader();
    last_current = check.read().get();
    // Every value but the current one is gone, each exactly once.
    std::uint64_t alive = 0;
    std::uint64_t twice = 0;
    for (std::size_t id = 0; id < ids; ++id) {
      // Relaxed: every thread that destroys values has been joined or is this one.
      const std::uint32_t n = ledger.destroyed[id].load(std::memory_order_relaxed);
      alive += n == 0 ? 1 : 0;
      twice += n > 1 ? 1 : 0;
    }
    EXPECT_EQ(alive, 1u);
    EXPECT_EQ(twice, 0u);
  }
  for (std::size_t id = 0; id < ids; ++id) {
    ASSERT_EQ(ledger.destroyed[id].load(std::memory_order_relaxed), 1u) << "value " << id;
  }
  EXPECT_EQ(ledger.destroyed_on_reader.load(), 0u);
  EXPECT_NE(last_current, nullptr);

  for (const auto& tally : tallies) {
    EXPECT_EQ(tally.torn, 0u);
    EXPECT_EQ(tally.went_back, 0u);
    // The last read came after every publish: it saw one publisher's last value.
    EXPECT_TRUE(tally.latest[0] == per_publisher || tally.latest[1] == per_publisher);
  }
  std::printf("shared snapshot: %llu publishes, reads %llu/%llu/%llu, %llu freed by reclaim()\n",
              static_cast<unsigned long long>(publishers * per_publisher),
              static_cast<unsigned long long>(tallies[0].reads),
              static_cast<unsigned long long>(tallies[1].reads),
              static_cast<unsigned long long>(tallies[2].reads),
              static_cast<unsigned long long>(reclaimed[0] + reclaimed[1]));
}

}  // namespace
