// Concurrent behaviour of BroadcastRing: one writer that never waits, readers
// of different speeds, readers that join late or come and go, and a check that
// no torn block is ever delivered. Every block carries its sequence number and
// a checksum, and its body differs from that of the item that overwrites it,
// so a block stitched from two writes cannot pass (see BlockCodec).
//
// The per-item work of the writer and of every reader runs inside
// NOWAIT_NONBLOCKING functions, so the rtsan build (-fsanitize=realtime,
// -Werror=function-effects) checks the real-time paths under real contention.
// gtest macros stay outside those functions; the tallies are asserted after
// the threads are joined. Threads are synchronised with std::latch and
// atomics only, never with sleeps.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <span>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/broadcast_ring.hpp"
#include "support/stress.hpp"

namespace {

using nowait::ReadResult;
using nowait::ReadStatus;
using FloatRing = nowait::BroadcastRing<float>;

// Test blocks. Layout: [0], [1] the sequence in two 24-bit halves; [2, n-2) a
// body; [n-2], [n-1] a checksum over everything before it, in two 16-bit
// halves. Every value is an integer below 2^24, so it is an exact float and
// the comparisons are exact. Items in alternate laps of the ring
// ((sequence / slots) % 2) get two bodies that differ in every element, so a
// copy mixing item p with item p + slots (the only item that can overwrite
// it) fails the body check; the header and checksum catch a mix with p + 2 * slots.
// The bodies are precomputed so the writer's per-item cost is little more than
// the write itself: a writer faster than its readers is what makes reads race
// overwrites.
class BlockCodec {
 public:
  BlockCodec(std::size_t block_size, std::size_t slots) : size_(block_size), slots_(slots) {
    for (std::uint64_t lap = 0; lap < 2; ++lap) {
      bodies_[lap].resize(size_);
      for (std::size_t i = 2; i + 2 < size_; ++i) {
        const std::uint64_t mixed = (lap + 1) * 0x9E3779B97F4A7C15u + (i + 1) * 0xBF58476D1CE4E5B9u;
        bodies_[lap][i] = static_cast<float>(low_bits(mixed >> 40, 24) | (lap << 23));
      }
      body_sums_[lap] = weighted_sum(std::span<const float>(bodies_[lap]).subspan(2, size_ - 4), 2);
    }
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t slots() const noexcept { return slots_; }

  void fill(std::uint64_t sequence, std::span<float> block) const noexcept NOWAIT_NONBLOCKING {
    const std::size_t lap = lap_of(sequence);
    std::copy(bodies_[lap].begin() + 2, bodies_[lap].end() - 2, block.begin() + 2);
    block[0] = static_cast<float>(low_bits(sequence, 24));
    block[1] = static_cast<float>(low_bits(sequence >> 24, 24));
    const std::uint32_t sum = body_sums_[lap] + weighted_sum(block.first(2), 0);
    block[size_ - 2] = static_cast<float>(sum & 0xFFFFu);
    block[size_ - 1] = static_cast<float>(sum >> 16);
  }

  // True if `block` is exactly what fill(sequence) wrote.
  bool intact(std::span<const float> block, std::uint64_t sequence) const noexcept NOWAIT_NONBLOCKING {
    const auto decoded = static_cast<std::uint64_t>(block[0]) | (static_cast<std::uint64_t>(block[1]) << 24);
    if (decoded != sequence) return false;
    const std::uint32_t sum = weighted_sum(block.first(size_ - 2), 0);
    if (block[size_ - 2] != static_cast<float>(sum & 0xFFFFu)) return false;
    if (block[size_ - 1] != static_cast<float>(sum >> 16)) return false;
    return std::equal(block.begin() + 2, block.end() - 2, bodies_[lap_of(sequence)].begin() + 2);
  }

 private:
  static constexpr std::uint32_t low_bits(std::uint64_t value, int bits) noexcept {
    return static_cast<std::uint32_t>(value & ((std::uint64_t{1} << bits) - 1));
  }

  // Position-weighted sum of the bit patterns: order-sensitive, and cheap enough to vectorise.
  static std::uint32_t weighted_sum(std::span<const float> values,
                                    std::size_t first_index) noexcept NOWAIT_NONBLOCKING {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      sum += std::bit_cast<std::uint32_t>(values[i]) * static_cast<std::uint32_t>(2 * (first_index + i) + 1);
    }
    return sum;
  }

  std::size_t lap_of(std::uint64_t sequence) const noexcept { return (sequence / slots_) % 2; }

  std::size_t size_;
  std::size_t slots_;
  std::array<std::vector<float>, 2> bodies_;
  std::array<std::uint32_t, 2> body_sums_{};
};

// What one reader saw. `expected_next` follows the contract independently of
// the ring: an item must carry exactly it, a dropout must move it by exactly `lost`.
struct ReaderTally {
  std::uint64_t join = 0;
  std::uint64_t expected_next = 0;
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  std::uint64_t skipped = 0;
  std::uint64_t dropouts = 0;
  std::uint64_t close_dropouts =
      0;                   // lost <= 2 * slots: the writer overtook a reader that was nearly caught up
  std::uint64_t torn = 0;  // delivered blocks that failed the content check
  std::uint64_t sequence_errors = 0;  // results that broke the sequence or count contract
  std::uint64_t end_position = 0;
  std::uint64_t busy_sink = 0;  // keeps the slow reader's busy work observable
};

// One read, as a real-time sink would do it.
ReadStatus rt_read_step(FloatRing::Reader& reader, const BlockCodec& codec, std::span<float> scratch,
                        ReaderTally& tally) noexcept NOWAIT_NONBLOCKING {
  const std::uint64_t before = reader.position();
  const ReadResult r = reader.read(scratch);
  switch (r.status) {
    case ReadStatus::item:
      ++tally.delivered;
      if (r.sequence != tally.expected_next || r.sequence != before || r.lost != 0) ++tally.sequence_errors;
      if (!codec.intact(scratch, r.sequence)) ++tally.torn;
      tally.expected_next = r.sequence + 1;
      break;
    case ReadStatus::dropout:
      ++tally.dropouts;
      tally.lost += r.lost;
      if (r.lost == 0 || r.sequence != tally.expected_next + r.lost) ++tally.sequence_errors;
      if (r.lost <= 2 * codec.slots()) ++tally.close_dropouts;
      tally.expected_next = r.sequence;
      break;
    case ReadStatus::empty:
      if (r.sequence != tally.expected_next || r.lost != 0) ++tally.sequence_errors;
      break;
  }
  if (reader.position() != tally.expected_next) ++tally.sequence_errors;
  return r.status;
}

std::uint64_t rt_skip_ahead(FloatRing::Reader& reader, ReaderTally& tally) noexcept NOWAIT_NONBLOCKING {
  const std::uint64_t skipped = reader.skip_ahead();
  tally.skipped += skipped;
  tally.expected_next += skipped;
  if (reader.position() != tally.expected_next) ++tally.sequence_errors;
  return skipped;
}

void rt_write_step(FloatRing::Writer& writer, const BlockCodec& codec, std::span<float> scratch,
                   std::uint64_t sequence) noexcept NOWAIT_NONBLOCKING {
  codec.fill(sequence, scratch);
  writer.write(scratch);
}

// Deliberately slow per-item work: a dependent multiply chain the optimiser
// cannot drop, standing in for an encoder. Never a sleep.
std::uint64_t busy_work(std::uint64_t seed, int rounds) noexcept NOWAIT_NONBLOCKING {
  std::uint64_t x = seed | 1;
  for (int i = 0; i < rounds; ++i) x = (x * 6364136223846793005u + 1442695040888963407u) ^ (x >> 29);
  return x;
}

struct ReaderOptions {
  int busy_rounds_per_item = 0;
  std::uint64_t skip_ahead_every = 0;                    // 0: never
  std::atomic<std::uint64_t>* close_dropouts = nullptr;  // if set, kept up to date for the writer
};

// Reads until the writer has finished and the reader has drained the ring: an
// empty read that started after `writer_done` was seen means nothing is left.
void drain_loop(FloatRing::Reader& reader, const BlockCodec& codec, const std::atomic<bool>& writer_done,
                ReaderTally& tally, ReaderOptions options) {
  std::vector<float> scratch(codec.size());
  tally.join = reader.position();
  tally.expected_next = tally.join;
  for (;;) {
    // Acquire: pairs with the writer's release after its last write, so the read below sees every item.
    const bool finished = writer_done.load(std::memory_order_acquire);
    const ReadStatus status = rt_read_step(reader, codec, scratch, tally);
    if (status == ReadStatus::empty) {
      if (finished) break;
      std::this_thread::yield();  // two cores are shared by all threads; let the writer run
      continue;
    }
    if (status == ReadStatus::dropout && options.close_dropouts != nullptr) {
      // Relaxed: a progress hint for the writer's stopping rule; no data depends on it.
      options.close_dropouts->store(tally.close_dropouts, std::memory_order_relaxed);
    }
    if (status == ReadStatus::item) {
      if (options.busy_rounds_per_item > 0)
        tally.busy_sink += busy_work(tally.delivered, options.busy_rounds_per_item);
      if (options.skip_ahead_every != 0 && tally.delivered % options.skip_ahead_every == 0) {
        rt_skip_ahead(reader, tally);
      }
    }
  }
  tally.end_position = reader.position();
}

std::atomic<std::uint64_t> busy_sink{0};

struct WriterOptions {
  int busy_rounds_per_item = 0;   // stands in for the audio processing between two writes
  std::latch* reached = nullptr;  // counted down once `reached_at` items are written
  std::uint64_t reached_at = 0;
};

// Writes `total` items, never waiting for a reader.
void write_all(FloatRing::Writer& writer, const BlockCodec& codec, std::uint64_t total,
               std::atomic<bool>& writer_done, WriterOptions options) {
  std::vector<float> scratch(codec.size());
  std::uint64_t sink = 0;
  for (std::uint64_t s = 0; s < total; ++s) {
    if (options.busy_rounds_per_item > 0) sink += busy_work(s, options.busy_rounds_per_item);
    rt_write_step(writer, codec, scratch, s);
    if (options.reached != nullptr && s + 1 == options.reached_at) options.reached->count_down();
  }
  // Relaxed: the value only has to escape, so the busy work is not optimised away.
  busy_sink.fetch_add(sink, std::memory_order_relaxed);
  // Release: readers that see the flag see every item.
  writer_done.store(true, std::memory_order_release);
}

void expect_exact_accounting(const ReaderTally& tally, std::uint64_t written, const char* name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(tally.torn, 0u);
  EXPECT_EQ(tally.sequence_errors, 0u);
  EXPECT_EQ(tally.end_position, written);
  EXPECT_LE(tally.join, written);
  EXPECT_EQ(tally.delivered + tally.lost + tally.skipped, written - tally.join);
  // Draining after the writer stops always delivers the items still in the
  // ring, unless the reader joined after the last write.
  if (tally.join < written) {
    EXPECT_GT(tally.delivered, 0u);
  }
  std::printf("  %-10s join %9llu  delivered %9llu  lost %9llu in %8llu dropouts  skipped %8llu\n", name,
              static_cast<unsigned long long>(tally.join), static_cast<unsigned long long>(tally.delivered),
              static_cast<unsigned long long>(tally.lost), static_cast<unsigned long long>(tally.dropouts),
              static_cast<unsigned long long>(tally.skipped));
}

TEST(BroadcastRingStress, FastSlowAndLateReadersAccountForEveryItemAndNeverSeeATornBlock) {
  constexpr std::size_t slots = 8;
  const BlockCodec codec(64, slots);
  const std::uint64_t total = nowait::test::stress_count(2'000'000, 50'000);
  const std::uint64_t late_join_at = total / 4;

  auto [writer, hub] = FloatRing::create(slots, codec.size());
  auto fast = hub.subscribe();
  auto slow = hub.subscribe();
  std::atomic<bool> writer_done{false};
  std::latch start(4);
  std::latch late_join(1);
  ReaderTally fast_tally, slow_tally, late_tally;

  std::thread writer_thread([&, &writer = writer] {
    start.arrive_and_wait();
    write_all(writer, codec, total, writer_done,
              {.busy_rounds_per_item = 150, .reached = &late_join, .reached_at = late_join_at});
  });
  std::thread fast_thread([&] {
    start.arrive_and_wait();
    drain_loop(fast, codec, writer_done, fast_tally, {});
  });
  std::thread slow_thread([&] {
    start.arrive_and_wait();
    drain_loop(slow, codec, writer_done, slow_tally, {.busy_rounds_per_item = 4000});
  });
  std::thread late_thread([&, &hub = hub] {
    start.arrive_and_wait();
    late_join.wait();
    auto late = hub.subscribe();
    drain_loop(late, codec, writer_done, late_tally, {.skip_ahead_every = 1000});
  });
  writer_thread.join();
  fast_thread.join();
  slow_thread.join();
  late_thread.join();

  ASSERT_EQ(writer.written(), total);
  std::printf("  written %llu items of %zu floats into %zu slots\n", static_cast<unsigned long long>(total),
              codec.size(), slots);
  expect_exact_accounting(fast_tally, total, "fast");
  expect_exact_accounting(slow_tally, total, "slow");
  expect_exact_accounting(late_tally, total, "late");
  EXPECT_EQ(fast_tally.join, 0u);
  EXPECT_EQ(slow_tally.join, 0u);
  EXPECT_GE(late_tally.join, late_join_at);
  EXPECT_GT(slow_tally.lost, 0u);
  EXPECT_GT(slow_tally.dropouts, 0u);
}

TEST(BroadcastRingStress, LargeBlocksInATwoSlotRingAreNeverDeliveredTorn) {
  // The writer only copies a precomputed 16 KiB body while the reader copies
  // and then verifies it, so when both run at once the reader trails by about
  // two items and most of its copies race an overwrite of the very slot they
  // read. On a busy 2-core machine the two threads can share one core for a
  // while and then never overlap, so the writer goes on past `total` (up to
  // `cap`) until the reader has been overtaken at close range often enough.
  constexpr std::size_t slots = 2;
  const BlockCodec codec(4096, slots);
  const std::uint64_t total = nowait::test::stress_count(200'000, 10'000);
  const std::uint64_t cap = 10 * total;
  const std::uint64_t wanted_close_dropouts = nowait::test::stress_count(2'000, 200);

  auto [writer, hub] = FloatRing::create(slots, codec.size());
  auto reader = hub.subscribe();
  std::atomic<bool> writer_done{false};
  std::atomic<std::uint64_t> close_dropouts{0};
  std::latch start(2);
  ReaderTally tally;

  std::thread writer_thread([&, &writer = writer] {
    std::vector<float> scratch(codec.size());
    start.arrive_and_wait();
    for (std::uint64_t s = 0;
         s < total ||
         // Relaxed: only decides when to stop writing; the reader's results do not depend on it.
         (s < cap && close_dropouts.load(std::memory_order_relaxed) < wanted_close_dropouts);
         ++s) {
      rt_write_step(writer, codec, scratch, s);
    }
    // Release: the reader that sees the flag sees every item.
    writer_done.store(true, std::memory_order_release);
  });
  std::thread reader_thread([&] {
    start.arrive_and_wait();
    drain_loop(reader, codec, writer_done, tally, {.close_dropouts = &close_dropouts});
  });
  writer_thread.join();
  reader_thread.join();

  const std::uint64_t written = writer.written();
  std::printf("  written %llu items of %zu floats into %zu slots; %llu close-range dropouts%s\n",
              static_cast<unsigned long long>(written), codec.size(), slots,
              static_cast<unsigned long long>(tally.close_dropouts),
              tally.close_dropouts < wanted_close_dropouts
                  ? " (threads rarely overlapped: low torn-read coverage)"
                  : "");
  expect_exact_accounting(tally, written, "reader");
  EXPECT_GE(written, total);
  EXPECT_LE(written, cap);
  EXPECT_GT(tally.dropouts, 0u);
}

TEST(BroadcastRingStress, ReadersThatJoinAndLeaveWhileTheWriterRunsSeeExactSequences) {
  constexpr std::size_t slots = 16;
  const BlockCodec codec(64, slots);
  const std::uint64_t total = nowait::test::stress_count(1'000'000, 30'000);

  auto [writer, hub] = FloatRing::create(slots, codec.size());
  std::atomic<bool> writer_done{false};
  std::latch start(2);
  ReaderTally combined;
  std::uint64_t readers_made = 0;

  std::thread writer_thread([&, &writer = writer] {
    start.arrive_and_wait();
    write_all(writer, codec, total, writer_done, {.busy_rounds_per_item = 150});
  });
  std::thread churn_thread([&, &hub = hub] {
    std::vector<float> scratch(codec.size());
    start.arrive_and_wait();
    for (;;) {
      // Acquire: pairs with the writer's final release, so a reader made after it joins at `total`.
      const bool finished = writer_done.load(std::memory_order_acquire);
      auto reader = hub.subscribe();  // joins at the newest position
      ++readers_made;
      ReaderTally tally;
      tally.join = reader.position();
      tally.expected_next = tally.join;
      for (int i = 0; i < 32 && !(finished && i > 0); ++i) {
        if (rt_read_step(reader, codec, scratch, tally) == ReadStatus::empty) std::this_thread::yield();
      }
      if (reader.position() != tally.join + tally.delivered + tally.lost) ++combined.sequence_errors;
      combined.delivered += tally.delivered;
      combined.lost += tally.lost;
      combined.dropouts += tally.dropouts;
      combined.torn += tally.torn;
      combined.sequence_errors += tally.sequence_errors;
      if (finished) {
        combined.end_position = reader.position();
        break;
      }
    }  // each reader is destroyed here, while the writer may still be running
  });
  writer_thread.join();
  churn_thread.join();

  std::printf("  written %llu; %llu readers came and went; delivered %llu, lost %llu in %llu dropouts\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(readers_made),
              static_cast<unsigned long long>(combined.delivered),
              static_cast<unsigned long long>(combined.lost),
              static_cast<unsigned long long>(combined.dropouts));
  EXPECT_GE(readers_made, 1u);
  EXPECT_EQ(combined.torn, 0u);
  EXPECT_EQ(combined.sequence_errors, 0u);
  EXPECT_EQ(combined.end_position, total);
}

// The write, read and skip_ahead paths called from functions the compiler and
// RealtimeSanitizer treat as real-time code. With -Werror=function-effects the
// build fails if any of them may allocate, lock or throw; under
// -fsanitize=realtime a blocking call at run time aborts the test.
void rt_audio_callback(FloatRing::Writer& writer, const BlockCodec& codec, std::span<float> block,
                       std::uint64_t sequence) noexcept NOWAIT_NONBLOCKING {
  rt_write_step(writer, codec, block, sequence);
}

void rt_scalar_round_trip(nowait::BroadcastRing<double>::Writer& writer,
                          nowait::BroadcastRing<double>::Reader& reader, double value, double& out,
                          ReadResult& result) noexcept NOWAIT_NONBLOCKING {
  writer.write(value);
  result = reader.read(out);
}

struct RtQueries {
  std::uint64_t written, position, behind, skipped;
};

RtQueries rt_queries(const FloatRing::Writer& writer, FloatRing::Reader& reader) noexcept NOWAIT_NONBLOCKING {
  return {writer.written(), reader.position(), reader.approx_behind(), reader.skip_ahead()};
}

TEST(BroadcastRingRealtime, WriteReadAndSkipAheadRunInsideNonblockingFunctions) {
  constexpr std::size_t slots = 32;
  const BlockCodec codec(64, slots);
  const std::uint64_t total = nowait::test::stress_count(200'000, 20'000);
  auto [writer, hub] = FloatRing::create(slots, codec.size());
  auto reader = hub.subscribe();
  std::atomic<bool> writer_done{false};
  std::latch start(2);
  ReaderTally tally;

  std::thread audio_thread([&, &writer = writer] {
    std::vector<float> block(codec.size());
    std::uint64_t sink = 0;
    start.arrive_and_wait();
    for (std::uint64_t s = 0; s < total; ++s) {
      sink += busy_work(s, 150);
      rt_audio_callback(writer, codec, block, s);
    }
    // Relaxed: the value only has to escape, so the busy work is not optimised away.
    busy_sink.fetch_add(sink, std::memory_order_relaxed);
    // Release: the reader that sees the flag sees every item.
    writer_done.store(true, std::memory_order_release);
  });
  std::thread sink_thread([&] {
    start.arrive_and_wait();
    drain_loop(reader, codec, writer_done, tally, {.skip_ahead_every = 500});
  });
  audio_thread.join();
  sink_thread.join();
  expect_exact_accounting(tally, total, "rt reader");

  const RtQueries q = rt_queries(writer, reader);
  EXPECT_EQ(q.written, total);
  EXPECT_EQ(q.position, total);
  EXPECT_EQ(q.behind, 0u);
  EXPECT_EQ(q.skipped, 0u);

  auto [scalar_writer, scalar_hub] = nowait::BroadcastRing<double>::create(4);
  auto scalar_reader = scalar_hub.subscribe();
  double out = 0.0;
  ReadResult result{};
  rt_scalar_round_trip(scalar_writer, scalar_reader, 0.125, out, result);
  EXPECT_EQ(result.status, ReadStatus::item);
  EXPECT_EQ(result.sequence, 0u);
  EXPECT_EQ(out, 0.125);
}

}  // namespace
