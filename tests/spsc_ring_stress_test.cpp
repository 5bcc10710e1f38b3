// Two-thread stress tests of nowait/spsc_ring.hpp: a producer thread and a
// consumer thread move long numbered sequences through the ring, and the
// consumer checks every value against the next one it expects, so a lost,
// duplicated, reordered or torn item fails the test. Run under TSan these also
// check the memory orders. Counts scale with the build (support/stress.hpp);
// throughput is printed for information only.
//
// Threads start together on a std::latch and never sleep. A thread that finds
// the ring full or empty polls again at once, and yields only now and then:
// the other side is usually running on another core, and the yield keeps a
// machine with fewer free cores than threads from starving it.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/spsc_ring.hpp"
#include "support/lifetime_counter.hpp"
#include "support/stress.hpp"

namespace {

using nowait::SpscRing;
using nowait::test::Counted;
using nowait::test::LifetimeStats;
using nowait::test::stress_count;
using U64Ring = SpscRing<std::uint64_t>;
using CountedRing = SpscRing<Counted>;
using Clock = std::chrono::steady_clock;

void back_off() {
  thread_local std::uint32_t failed_polls = 0;
  if (++failed_polls % 64 == 0) {
    std::this_thread::yield();
  } else {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();  // eases the spin on the sibling hyperthread
#endif
  }
}

// Knuth's MMIX LCG: each thread draws its own deterministic sizes.
class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed) {}
  std::size_t below(std::size_t bound) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state_ >> 33) % bound);
  }

 private:
  std::uint64_t state_;
};

// What the consumer saw, checked on the main thread after the join.
struct SequenceCheck {
  std::uint64_t received = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t first_bad_position = 0;
  std::uint64_t first_bad_value = 0;

  void see(std::uint64_t value) {
    if (value != received && mismatches++ == 0) {
      first_bad_position = received;
      first_bad_value = value;
    }
    ++received;
  }
};

void expect_exact_sequence(const SequenceCheck& check, std::uint64_t count) {
  EXPECT_EQ(check.received, count);
  EXPECT_EQ(check.mismatches, 0u) << "first wrong item: position " << check.first_bad_position << " held "
                                  << check.first_bad_value;
}

void report_throughput(const char* what, std::uint64_t items, Clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::printf("[ perf     ] SpscRing %s: %llu items in %.3f s = %.1f M items/s\n", what,
              static_cast<unsigned long long>(items), seconds, static_cast<double>(items) / seconds / 1e6);
}

// Starts the two threads, releases them together and returns the time from the
// release to the end of both.
template <class ProducerBody, class ConsumerBody>
Clock::duration run_pair(ProducerBody produce, ConsumerBody consume) {
  std::latch start(3);
  std::thread producer([&] {
    start.arrive_and_wait();
    produce();
  });
  std::thread consumer([&] {
    start.arrive_and_wait();
    consume();
  });
  start.arrive_and_wait();
  const Clock::time_point begin = Clock::now();
  producer.join();
  consumer.join();
  return Clock::now() - begin;
}

TEST(SpscRingStress, SingleItemsArriveInStrictOrderWithNothingLostOrDuplicated) {
  const std::uint64_t count = stress_count(100'000'000, 1'000'000);
  auto [tx, rx] = U64Ring::create(1024);
  SequenceCheck check;
  std::uint64_t sum = 0;

  const auto elapsed = run_pair(
      [&] {
        for (std::uint64_t i = 0; i < count; ++i) {
          while (!tx.try_push(i)) back_off();
        }
      },
      [&] {
        while (check.received < count) {
          if (const auto value = rx.try_pop()) {
            check.see(*value);
            sum += *value;
          } else {
            back_off();
          }
        }
      });

  expect_exact_sequence(check, count);
  EXPECT_EQ(sum, count * (count - 1) / 2);
  EXPECT_EQ(rx.try_pop(), std::nullopt);
  EXPECT_EQ(tx.slots(), 1024u);
  report_throughput("single items, capacity 1024", count, elapsed);
}

TEST(SpscRingStress, ChunksOfVaryingSizesWithPartialCommitsKeepStrictOrder) {
  const std::uint64_t count = stress_count(50'000'000, 500'000);
  constexpr std::size_t capacity = 1000;  // not a power of two
  auto [tx, rx] = U64Ring::create(capacity);
  SequenceCheck check;
  std::uint64_t wrapped_writes = 0;
  std::uint64_t wrapped_reads = 0;

  const auto elapsed = run_pair(
      [&] {
        Lcg lcg(1);
        std::uint64_t next = 0;
        while (next < count) {
          const std::size_t want = 1 + lcg.below(300);
          auto chunk = tx.write_chunk(static_cast<std::size_t>(std::min<std::uint64_t>(want, count - next)));
          if (chunk.size() == 0) {
            back_off();
            continue;
          }
          if (!chunk.second().empty()) ++wrapped_writes;
          // Every slot is written, but one chunk in four publishes only a
          // prefix: the next chunk overwrites the rest before the consumer
          // may see it.
          std::uint64_t value = next;
          for (auto& slot : chunk.first()) slot = value++;
          for (auto& slot : chunk.second()) slot = value++;
          const std::size_t k = lcg.below(4) == 0 ? lcg.below(chunk.size() + 1) : chunk.size();
          chunk.commit(k);
          next += k;
        }
      },
      [&] {
        Lcg lcg(2);
        while (check.received < count) {
          auto chunk = rx.read_chunk(1 + lcg.below(300));
          if (chunk.size() == 0) {
            back_off();
            continue;
          }
          if (!chunk.second().empty()) ++wrapped_reads;
          // Every item of the chunk is published, so all must be in order,
          // including those this round leaves in the ring.
          const std::uint64_t base = check.received;
          std::uint64_t position = base;
          bool in_order = true;
          for (const auto item : chunk.first()) in_order = in_order && item == position++;
          for (const auto item : chunk.second()) in_order = in_order && item == position++;
          const std::size_t k = lcg.below(4) == 0 ? lcg.below(chunk.size() + 1) : chunk.size();
          if (!in_order && check.mismatches++ == 0) {
            check.first_bad_position = base;
            check.first_bad_value = chunk.first()[0];
          }
          chunk.commit(k);
          check.received += k;
        }
      });

  expect_exact_sequence(check, count);
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(tx.slots(), capacity);
  EXPECT_GT(wrapped_writes, 0u);
  EXPECT_GT(wrapped_reads, 0u);
  report_throughput("chunks of 1..300, capacity 1000", count, elapsed);
}

class SpscRingTinyStress : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SpscRingTinyStress, SlicesThroughATinyRingKeepStrictOrder) {
  const std::size_t capacity = GetParam();
  const std::uint64_t count = stress_count(2'000'000, 100'000);
  auto [tx, rx] = U64Ring::create(capacity);
  SequenceCheck check;

  const auto elapsed = run_pair(
      [&] {
        Lcg lcg(3);
        std::uint64_t next = 0;
        std::uint64_t batch[4];
        while (next < count) {
          const auto length =
              static_cast<std::size_t>(std::min<std::uint64_t>(1 + lcg.below(4), count - next));
          for (std::size_t i = 0; i < length; ++i) batch[i] = next + i;
          const std::size_t pushed = tx.push_slice(std::span<const std::uint64_t>(batch, length));
          if (pushed == 0) back_off();
          next += pushed;
        }
      },
      [&] {
        Lcg lcg(4);
        std::uint64_t out[4];
        while (check.received < count) {
          const std::size_t popped = rx.pop_slice(std::span<std::uint64_t>(out, 1 + lcg.below(4)));
          if (popped == 0) back_off();
          for (std::size_t i = 0; i < popped; ++i) check.see(out[i]);
        }
      });

  expect_exact_sequence(check, count);
  EXPECT_EQ(rx.available(), 0u);
  report_throughput(capacity == 1 ? "slices, capacity 1" : "slices, capacity 2", count, elapsed);
}

INSTANTIATE_TEST_SUITE_P(Capacities, SpscRingTinyStress, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           return "Capacity" + std::to_string(param.param);
                         });

TEST(SpscRingStress, ValuesBouncedThroughTwoTinyRingsComeBackInOrder) {
  // The pinger sends numbered values out through a ring of 2; the ponger sends
  // each one back through a ring of 1. Both ends use slices and never block,
  // so neither can deadlock waiting on the other.
  const std::uint64_t count = stress_count(1'000'000, 50'000);
  auto [out_tx, out_rx] = U64Ring::create(2);
  auto [back_tx, back_rx] = U64Ring::create(1);
  SequenceCheck echoed;     // checked by the pinger
  SequenceCheck forwarded;  // checked by the ponger

  const auto elapsed = run_pair(
      [&] {
        std::uint64_t next = 0;
        std::uint64_t batch[2];
        std::uint64_t in[2];
        while (echoed.received < count) {
          const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(2, count - next));
          for (std::size_t i = 0; i < length; ++i) batch[i] = next + i;
          next += out_tx.push_slice(std::span<const std::uint64_t>(batch, length));
          const std::size_t got = back_rx.pop_slice(in);
          for (std::size_t i = 0; i < got; ++i) echoed.see(in[i]);
          if (got == 0) back_off();
        }
      },
      [&] {
        std::uint64_t held[2];
        std::size_t held_count = 0;
        std::size_t held_sent = 0;
        while (forwarded.received < count || held_sent < held_count) {
          if (held_sent == held_count) {
            held_count = out_rx.pop_slice(held);
            held_sent = 0;
            for (std::size_t i = 0; i < held_count; ++i) forwarded.see(held[i]);
            if (held_count == 0) back_off();
          } else {
            const std::size_t sent =
                back_tx.push_slice(std::span<const std::uint64_t>(held + held_sent, held_count - held_sent));
            held_sent += sent;
            if (sent == 0) back_off();
          }
        }
      });

  expect_exact_sequence(forwarded, count);
  expect_exact_sequence(echoed, count);
  EXPECT_EQ(out_rx.available(), 0u);
  EXPECT_EQ(back_rx.available(), 0u);
  report_throughput("round trips, capacities 2 and 1", count, elapsed);
}

// Counted elements: every element built in the ring must be destroyed exactly
// once, whichever thread ends up destroying it.

TEST(SpscRingStress, CountedElementsAreEachDestroyedExactlyOnce) {
  const std::uint64_t count = stress_count(1'000'000, 20'000);
  LifetimeStats stats;
  SequenceCheck check;
  {
    auto [tx, rx] = CountedRing::create(100);
    run_pair(
        [&] {
          for (std::uint64_t i = 0; i < count; ++i) {
            while (!tx.try_emplace(stats, i)) back_off();
          }
        },
        [&] {
          // Alternates single pops with chunk commits of a varying share, so
          // elements are destroyed both ways.
          Lcg lcg(5);
          while (check.received < count) {
            if (lcg.below(2) == 0) {
              if (const auto item = rx.try_pop()) {
                check.see(item->value());
              } else {
                back_off();
              }
              continue;
            }
            auto chunk = rx.read_chunk(1 + lcg.below(20));
            const std::size_t k = lcg.below(chunk.size() + 1);
            std::size_t seen = 0;
            for (const Counted& item : chunk.first()) {
              if (seen++ < k) check.see(item.value());
            }
            for (const Counted& item : chunk.second()) {
              if (seen++ < k) check.see(item.value());
            }
            chunk.commit(k);
            if (k == 0) back_off();
          }
        });
    EXPECT_EQ(rx.try_pop(), std::nullopt);
    EXPECT_EQ(stats.alive(), 0);
  }
  expect_exact_sequence(check, count);
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

TEST(SpscRingStress, ConsumerDrainsEveryCountedElementAfterTheProducerIsDestroyedEarly) {
  const std::uint64_t count = stress_count(1'000'000, 20'000);
  LifetimeStats stats;
  SequenceCheck check;
  bool abandoned_at_end = false;
  {
    auto ends = CountedRing::create(64);
    CountedRing::Consumer rx = std::move(ends.second);
    run_pair(
        [&] {
          // Destroyed at the end of this body, on this thread, while the
          // consumer is still draining the last items.
          CountedRing::Producer tx = std::move(ends.first);
          for (std::uint64_t i = 0; i < count; ++i) {
            while (!tx.try_emplace(stats, i)) back_off();
          }
        },
        [&] {
          for (;;) {
            // Read before the pop: once abandoned, an empty ring stays empty.
            const bool abandoned = rx.is_abandoned();
            if (const auto item = rx.try_pop()) {
              check.see(item->value());
            } else if (abandoned) {
              break;
            } else {
              back_off();
            }
          }
          abandoned_at_end = rx.is_abandoned();
        });
    EXPECT_TRUE(abandoned_at_end);
    EXPECT_EQ(stats.alive(), 0);
  }
  expect_exact_sequence(check, count);
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

TEST(SpscRingStress, ElementsLeftByAConsumerDestroyedEarlyAreDestroyedWithTheProducer) {
  const std::uint64_t count = stress_count(1'000'000, 20'000);
  LifetimeStats stats;
  SequenceCheck check;
  std::uint64_t pushed = 0;
  auto ends = CountedRing::create(64);
  run_pair(
      [&] {
        // The last owner: its destruction at the end of this body destroys
        // what the consumer left behind.
        CountedRing::Producer tx = std::move(ends.first);
        while (pushed < count) {
          if (tx.try_emplace(stats, pushed)) {
            ++pushed;
          } else if (tx.is_abandoned()) {
            break;
          } else {
            back_off();
          }
        }
      },
      [&] {
        CountedRing::Consumer rx = std::move(ends.second);
        while (check.received < count / 2) {
          if (const auto item = rx.try_pop()) {
            check.see(item->value());
          } else {
            back_off();
          }
        }
      });
  EXPECT_EQ(check.received, count / 2);
  EXPECT_EQ(check.mismatches, 0u);
  EXPECT_GE(pushed, count / 2);
  EXPECT_LT(pushed, count);  // it noticed the consumer was gone and stopped
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

}  // namespace
