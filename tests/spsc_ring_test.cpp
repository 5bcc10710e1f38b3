// Single-threaded tests of nowait/spsc_ring.hpp. With one thread every count
// the endpoints report is exact, so these tests pin capacities, FIFO order, the
// two-span split of chunks at the end of the storage, the wrap of the 64-bit
// indices, element lifetimes, abandonment, moves and the debug preconditions.
// The functions marked NOWAIT_NONBLOCKING near the end are checked by the rtsan
// build, at compile time and at run time. Concurrency is in
// spsc_ring_stress_test.cpp.
#include "nowait/spsc_ring.hpp"

#include <bit>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/rt.hpp"
#include "support/lifetime_counter.hpp"

namespace {

using nowait::SpscRing;
using nowait::test::Counted;
using nowait::test::LifetimeStats;
using U64Ring = SpscRing<std::uint64_t>;
using CountedRing = SpscRing<Counted>;
using Values = std::vector<std::uint64_t>;

constexpr std::uint64_t max_index = std::numeric_limits<std::uint64_t>::max();

// ---------------------------------------------------------------------------
// Helpers

Values iota_values(std::uint64_t first, std::size_t count) {
  Values out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = first + i;
  return out;
}

// The items of a chunk in ring order: first() then second().
template <class Chunk>
Values chunk_values(const Chunk& chunk) {
  Values out(chunk.first().begin(), chunk.first().end());
  out.insert(out.end(), chunk.second().begin(), chunk.second().end());
  return out;
}

template <class Chunk>
void fill_chunk(const Chunk& chunk, std::uint64_t first_value) {
  for (auto& slot : chunk.first()) slot = first_value++;
  for (auto& slot : chunk.second()) slot = first_value++;
}

// Pops until the ring is empty.
Values drain(U64Ring::Consumer& rx) {
  Values out;
  while (auto value = rx.try_pop()) out.push_back(*value);
  return out;
}

// Pushes and pops n items one at a time, leaving the ring empty with both
// indices n further on: puts the next chunk at a chosen place in the storage.
void advance(U64Ring::Producer& tx, U64Ring::Consumer& rx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(tx.try_push(i));
    ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(i));
  }
}

// The address of slot 0 of a fresh ring, through the only pointer into the
// storage the API gives: peek at the first item pushed.
const std::uint64_t* storage_start(U64Ring::Producer& tx, U64Ring::Consumer& rx) {
  EXPECT_TRUE(tx.try_push(0));
  const std::uint64_t* start = rx.peek();
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(0));
  return start;
}

std::vector<std::uint64_t> counted_values(std::span<const Counted> items) {
  std::vector<std::uint64_t> out;
  for (const Counted& item : items) out.push_back(item.value());
  return out;
}

template <class P>
concept CanWriteChunk = requires(P& producer) {
  producer.write_chunk(std::size_t{1});
};

template <class P>
concept CanWriteChunkUninit = requires(P& producer) {
  producer.write_chunk_uninit(std::size_t{1});
};

// An audio frame as plugins declare it: trivially copyable, but its member
// initialisers make its default constructor non-trivial.
struct StereoFrame {
  float l = 0.0f;
  float r = 0.0f;
  bool operator==(const StereoFrame&) const = default;
};

// Default-constructible and not trivial: counts the objects alive.
struct Tally {
  static inline int alive = 0;
  int v = -7;
  Tally() noexcept { ++alive; }
  explicit Tally(int x) noexcept : v(x) { ++alive; }
  Tally(const Tally& o) noexcept : v(o.v) { ++alive; }
  Tally& operator=(const Tally&) = default;
  ~Tally() { --alive; }
};

// ---------------------------------------------------------------------------
// Compile-time contract

static_assert(!std::is_copy_constructible_v<U64Ring::Producer>);
static_assert(!std::is_copy_assignable_v<U64Ring::Producer>);
static_assert(!std::is_copy_constructible_v<U64Ring::Consumer>);
static_assert(!std::is_copy_assignable_v<U64Ring::Consumer>);
static_assert(std::is_nothrow_move_constructible_v<U64Ring::Producer>);
static_assert(std::is_nothrow_move_assignable_v<U64Ring::Producer>);
static_assert(std::is_nothrow_move_constructible_v<U64Ring::Consumer>);
static_assert(std::is_nothrow_move_assignable_v<U64Ring::Consumer>);
static_assert(!std::is_default_constructible_v<U64Ring::Producer>);
static_assert(!std::is_default_constructible_v<U64Ring::Consumer>);
// A copied chunk could be committed twice and publish the same slots twice.
static_assert(!std::is_copy_constructible_v<U64Ring::WriteChunk>);
static_assert(!std::is_copy_constructible_v<U64Ring::ReadChunk>);
static_assert(std::is_nothrow_move_constructible_v<U64Ring::WriteChunk>);
static_assert(CanWriteChunk<U64Ring::Producer>);
static_assert(CanWriteChunk<SpscRing<float>::Producer>);
static_assert(CanWriteChunk<SpscRing<StereoFrame>::Producer>);
static_assert(CanWriteChunk<SpscRing<std::complex<float>>::Producer>);
static_assert(CanWriteChunk<SpscRing<std::string>::Producer>);
static_assert(!CanWriteChunk<CountedRing::Producer>, "write_chunk needs a default-constructible element");
static_assert(CanWriteChunkUninit<CountedRing::Producer>, "write_chunk_uninit takes any element");
static_assert(noexcept(std::declval<U64Ring::Producer&>().write_chunk_uninit(1)));
static_assert(noexcept(std::declval<U64Ring::Producer&>().write_chunk_exact(1)));
static_assert(noexcept(std::declval<U64Ring::Consumer&>().read_chunk_exact(1)));
static_assert(noexcept(std::declval<U64Ring::Producer&>().try_push(std::uint64_t{1})));
static_assert(noexcept(std::declval<U64Ring::Consumer&>().try_pop()));
static_assert(noexcept(std::declval<U64Ring::Producer&>().write_chunk(1)));
static_assert(noexcept(std::declval<U64Ring::Consumer&>().read_chunk(1)));

// ---------------------------------------------------------------------------
// create()

TEST(SpscRing, CreateWithCapacityZeroThrowsInvalidArgument) {
  EXPECT_THROW(U64Ring::create(0), std::invalid_argument);
  EXPECT_THROW(SpscRing<std::uint8_t>::create(0), std::invalid_argument);
}

TEST(SpscRing, CreateWithACapacityBeyondTheAddressSpaceThrowsLengthError) {
  constexpr std::size_t huge = std::numeric_limits<std::size_t>::max();
  static_assert(sizeof(std::uint64_t) == 8 && sizeof(std::uint8_t) == 1);
  EXPECT_THROW(U64Ring::create(huge), std::length_error);
  EXPECT_THROW(U64Ring::create(huge / 2), std::length_error);
  EXPECT_THROW(SpscRing<std::uint8_t>::create(huge), std::length_error);
  // huge / 2 bytes fits ptrdiff_t, but its power-of-two storage does not.
  EXPECT_THROW(SpscRing<std::uint8_t>::create(huge / 2), std::length_error);
}

TEST(SpscRing, BothEndsReportTheCapacityAskedForAndStartEmpty) {
  auto [tx, rx] = U64Ring::create(1000);
  EXPECT_EQ(tx.capacity(), 1000u);
  EXPECT_EQ(rx.capacity(), 1000u);
  EXPECT_EQ(tx.slots(), 1000u);
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(rx.try_pop(), std::nullopt);
  EXPECT_EQ(rx.peek(), nullptr);
}

// ---------------------------------------------------------------------------
// Exact capacity and FIFO order, over capacities that are and are not powers
// of two.

class SpscRingCapacity : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SpscRingCapacity, ExactlyCapacityItemsFitAndTheNextPushFails) {
  const std::size_t capacity = GetParam();
  auto [tx, rx] = U64Ring::create(capacity);
  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_EQ(tx.slots(), capacity - i);
    ASSERT_EQ(rx.available(), i);
    ASSERT_TRUE(tx.try_push(i));
  }
  EXPECT_EQ(tx.slots(), 0u);
  EXPECT_EQ(rx.available(), capacity);
  EXPECT_FALSE(tx.try_push(std::uint64_t{12345}));
  EXPECT_FALSE(tx.try_emplace(std::uint64_t{12345}));
  EXPECT_EQ(rx.available(), capacity);

  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(i));
    ASSERT_EQ(rx.available(), capacity - i - 1);
    ASSERT_EQ(tx.slots(), i + 1);
  }
  EXPECT_EQ(rx.try_pop(), std::nullopt);
  EXPECT_EQ(tx.slots(), capacity);
}

TEST_P(SpscRingCapacity, OneFreedSlotAdmitsExactlyOneMorePush) {
  const std::size_t capacity = GetParam();
  auto [tx, rx] = U64Ring::create(capacity);
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_TRUE(tx.try_push(i));
  ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(0));
  EXPECT_EQ(tx.slots(), 1u);
  EXPECT_TRUE(tx.try_push(capacity));
  EXPECT_FALSE(tx.try_push(capacity + 1));
  EXPECT_EQ(drain(rx), iota_values(1, capacity));
}

TEST_P(SpscRingCapacity, ItemsComeOutInTheOrderTheyWentInAcrossManyWrapsOfTheStorage) {
  const std::size_t capacity = GetParam();
  auto [tx, rx] = U64Ring::create(capacity);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  // Fill up, then take out a varying share, so the boundary between the two
  // moves through every position of the storage.
  for (std::size_t round = 0; round < 40; ++round) {
    while (tx.try_push(next_in)) ++next_in;
    ASSERT_EQ(next_in - next_out, capacity);
    ASSERT_EQ(rx.available(), capacity);
    const std::size_t take = 1 + (round * 7) % capacity;
    for (std::size_t i = 0; i < take; ++i) ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(next_out++));
    ASSERT_EQ(tx.slots(), take);
  }
  const Values rest = drain(rx);
  EXPECT_EQ(rest, iota_values(next_out, static_cast<std::size_t>(next_in - next_out)));
}

TEST_P(SpscRingCapacity, ChunkRequestsLargerThanTheCapacityAreClampedToIt) {
  const std::size_t capacity = GetParam();
  auto [tx, rx] = U64Ring::create(capacity);
  EXPECT_EQ(tx.write_chunk(std::numeric_limits<std::size_t>::max()).size(), capacity);
  auto write = tx.write_chunk(capacity + 1);
  EXPECT_EQ(write.size(), capacity);
  fill_chunk(write, 0);
  write.commit_all();
  EXPECT_EQ(rx.available(), capacity);
  auto read = rx.read_chunk(std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(read.size(), capacity);
  EXPECT_EQ(chunk_values(read), iota_values(0, capacity));
  read.commit_all();
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(tx.slots(), capacity);
}

INSTANTIATE_TEST_SUITE_P(Capacities, SpscRingCapacity, ::testing::Values(1, 2, 3, 5, 1000, 4096),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           return "Capacity" + std::to_string(param.param);
                         });

// ---------------------------------------------------------------------------
// try_push, try_emplace, try_pop, peek

TEST(SpscRing, PushOnAFullRingFailsAndLeavesTheValueWithTheCaller) {
  auto [tx, rx] = SpscRing<std::unique_ptr<int>>::create(1);
  ASSERT_TRUE(tx.try_push(std::make_unique<int>(1)));

  auto kept = std::make_unique<int>(2);
  EXPECT_FALSE(tx.try_push(std::move(kept)));
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(*kept, 2);

  auto first = rx.try_pop();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(**first, 1);
  EXPECT_TRUE(tx.try_push(std::move(kept)));
  EXPECT_EQ(kept, nullptr);  // moved from only on success
  auto second = rx.try_pop();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(**second, 2);
}

TEST(SpscRing, FailedPushOfACountedConstructsNothingAndLeavesTheArgumentIntact) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(1);
    ASSERT_TRUE(tx.try_emplace(stats, 1));
    Counted kept(stats, 2);
    const std::int64_t constructed = stats.constructed.load();

    EXPECT_FALSE(tx.try_push(std::move(kept)));
    EXPECT_FALSE(tx.try_push(kept));
    EXPECT_FALSE(tx.try_emplace(stats, 3));
    EXPECT_EQ(kept.value(), 2u);
    EXPECT_EQ(stats.constructed.load(), constructed);

    ASSERT_EQ(rx.try_pop()->value(), 1u);
    EXPECT_TRUE(tx.try_push(std::move(kept)));
    EXPECT_EQ(kept.value(), Counted::moved_from);
    EXPECT_EQ(rx.try_pop()->value(), 2u);
  }
  EXPECT_EQ(stats.alive(), 0);
}

TEST(SpscRing, TryEmplaceConstructsTheElementInPlaceExactlyOnce) {
  LifetimeStats stats;
  auto [tx, rx] = CountedRing::create(2);
  ASSERT_TRUE(tx.try_emplace(stats, 7));
  EXPECT_EQ(stats.constructed.load(), 1);  // no temporary moved in
  EXPECT_EQ(rx.peek()->value(), 7u);
}

TEST(SpscRing, TryPushCopiesAnLvalueAndLeavesTheOriginal) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(2);
    const Counted original(stats, 5);
    ASSERT_TRUE(tx.try_push(original));
    EXPECT_EQ(original.value(), 5u);
    EXPECT_EQ(stats.constructed.load(), 2);
    EXPECT_EQ(rx.try_pop()->value(), 5u);
  }
  EXPECT_EQ(stats.alive(), 0);
}

TEST(SpscRing, PeekReturnsNullWhenEmptyAndTheOldestItemUntilItIsPopped) {
  auto [tx, rx] = U64Ring::create(4);
  EXPECT_EQ(rx.peek(), nullptr);
  ASSERT_TRUE(tx.try_push(10));
  ASSERT_TRUE(tx.try_push(20));

  const std::uint64_t* front = rx.peek();
  ASSERT_NE(front, nullptr);
  EXPECT_EQ(*front, 10u);
  EXPECT_EQ(rx.peek(), front);  // peeking removes nothing
  EXPECT_EQ(rx.available(), 2u);
  EXPECT_EQ(tx.slots(), 2u);

  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(10));
  ASSERT_NE(rx.peek(), nullptr);
  EXPECT_EQ(*rx.peek(), 20u);
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(20));
  EXPECT_EQ(rx.peek(), nullptr);
}

TEST(SpscRing, PeekLetsTheConsumerEditTheItemBeforePoppingIt) {
  auto [tx, rx] = U64Ring::create(2);
  ASSERT_TRUE(tx.try_push(1));
  *rx.peek() = 99;
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(99));
}

// ---------------------------------------------------------------------------
// write_chunk

TEST(SpscRing, WriteChunkCommitOfZeroPublishesNothing) {
  auto [tx, rx] = U64Ring::create(8);
  auto chunk = tx.write_chunk(5);
  ASSERT_EQ(chunk.size(), 5u);
  fill_chunk(chunk, 100);
  chunk.commit(0);
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(rx.try_pop(), std::nullopt);
  EXPECT_EQ(tx.slots(), 8u);
}

TEST(SpscRing, WriteChunkPartialCommitPublishesOnlyTheFirstSlots) {
  auto [tx, rx] = U64Ring::create(8);
  auto chunk = tx.write_chunk(5);
  fill_chunk(chunk, 1);
  chunk.commit(3);
  EXPECT_EQ(rx.available(), 3u);
  EXPECT_EQ(tx.slots(), 5u);

  // The two uncommitted slots are handed out again by the next chunk.
  auto next = tx.write_chunk(2);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next.first().data(), chunk.first().data() + 3);
  fill_chunk(next, 4);
  next.commit_all();
  EXPECT_EQ(drain(rx), iota_values(1, 5));
}

TEST(SpscRing, WriteChunkCommitAllPublishesEverySlotInOrder) {
  auto [tx, rx] = U64Ring::create(8);
  auto chunk = tx.write_chunk(8);
  ASSERT_EQ(chunk.size(), 8u);
  EXPECT_EQ(chunk.second().size(), 0u);
  fill_chunk(chunk, 40);
  chunk.commit_all();
  EXPECT_EQ(tx.slots(), 0u);
  EXPECT_EQ(drain(rx), iota_values(40, 8));
}

TEST(SpscRing, WriteChunkHoldsOnlyTheFreeSlots) {
  auto [tx, rx] = U64Ring::create(8);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_push(i));
  EXPECT_EQ(tx.write_chunk(8).size(), 5u);
  EXPECT_EQ(tx.write_chunk(4).size(), 4u);
  EXPECT_EQ(tx.write_chunk(0).size(), 0u);
}

TEST(SpscRing, WriteChunkOnAFullRingIsEmpty) {
  auto [tx, rx] = U64Ring::create(3);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_push(i));
  auto chunk = tx.write_chunk(2);
  EXPECT_EQ(chunk.size(), 0u);
  EXPECT_TRUE(chunk.first().empty());
  EXPECT_TRUE(chunk.second().empty());
  chunk.commit_all();
  EXPECT_EQ(drain(rx), iota_values(0, 3));
}

TEST(SpscRing, WriteChunkSeesSlotsTheConsumerFreedAfterTheProducerSawTheRingFull) {
  auto [tx, rx] = U64Ring::create(4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_push(i));
  ASSERT_EQ(tx.write_chunk(4).size(), 0u);
  ASSERT_TRUE(rx.try_pop().has_value());
  ASSERT_TRUE(rx.try_pop().has_value());
  EXPECT_EQ(tx.write_chunk(4).size(), 2u);
}

TEST(SpscRing, WriteChunkThatStraddlesTheEndOfTheStorageIsSplitIntoTwoSpans) {
  auto [tx, rx] = U64Ring::create(8);
  const std::uint64_t* storage = storage_start(tx, rx);
  advance(tx, rx, 5);  // both indices now at 6

  auto chunk = tx.write_chunk(5);
  ASSERT_EQ(chunk.size(), 5u);
  EXPECT_EQ(chunk.first().size(), 2u);
  EXPECT_EQ(chunk.second().size(), 3u);
  EXPECT_EQ(chunk.first().data(), storage + 6);
  EXPECT_EQ(chunk.second().data(), storage);
  fill_chunk(chunk, 100);
  chunk.commit_all();
  EXPECT_EQ(drain(rx), iota_values(100, 5));
}

TEST(SpscRing, PartialCommitOfAStraddlingWriteChunkStopsInsideTheSecondSpan) {
  auto [tx, rx] = U64Ring::create(8);
  advance(tx, rx, 6);
  auto chunk = tx.write_chunk(6);
  ASSERT_EQ(chunk.first().size(), 2u);
  ASSERT_EQ(chunk.second().size(), 4u);
  fill_chunk(chunk, 0);
  chunk.commit(3);
  EXPECT_EQ(rx.available(), 3u);
  EXPECT_EQ(drain(rx), iota_values(0, 3));
  EXPECT_EQ(tx.slots(), 8u);
}

TEST(SpscRing, AProducerIsUsableAgainOnceItsWriteChunkIsCommittedOrDropped) {
  auto [tx, rx] = U64Ring::create(4);
  {
    auto dropped = tx.write_chunk(2);
    fill_chunk(dropped, 50);
  }
  ASSERT_TRUE(tx.try_push(1));
  auto chunk = tx.write_chunk(1);
  fill_chunk(chunk, 2);
  chunk.commit_all();
  ASSERT_TRUE(tx.try_push(3));
  EXPECT_EQ(drain(rx), (Values{1, 2, 3}));
}

// ---------------------------------------------------------------------------
// Write chunks of element types that are not trivial

TEST(SpscRing, WriteChunkOfStereoFramesHandsOutDefaultInitialisedFrames) {
  auto [tx, rx] = SpscRing<StereoFrame>::create(4);
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(tx.try_push(StereoFrame{1.0f, -1.0f}));  // leave old frames in the slots
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(rx.try_pop().has_value());
  auto chunk = tx.write_chunk(3);
  ASSERT_EQ(chunk.size(), 3u);
  for (const StereoFrame& f : chunk.first()) EXPECT_EQ(f, StereoFrame{});
  for (const StereoFrame& f : chunk.second()) EXPECT_EQ(f, StereoFrame{});
  chunk.first()[0].l = 0.5f;
  chunk.commit(2);
  EXPECT_EQ(rx.try_pop(), (StereoFrame{0.5f, 0.0f}));
  EXPECT_EQ(rx.try_pop(), StereoFrame{});
  EXPECT_EQ(rx.try_pop(), std::nullopt);
}

TEST(SpscRing, WriteChunkOfComplexSamplesCarriesThemAcrossTheEndOfTheStorage) {
  auto [tx, rx] = SpscRing<std::complex<float>>::create(4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tx.try_push({9.0f, 9.0f}));
    ASSERT_TRUE(rx.try_pop().has_value());
  }
  auto chunk = tx.write_chunk(4);
  ASSERT_EQ(chunk.first().size(), 1u);
  ASSERT_EQ(chunk.second().size(), 3u);
  float x = 0.0f;
  for (std::span<std::complex<float>> part : {chunk.first(), chunk.second()}) {
    for (auto& c : part) {
      c = {x, -(x + 1.0f)};
      x += 1.0f;
    }
  }
  chunk.commit_all();
  auto read = rx.read_chunk(4);
  std::vector<std::complex<float>> got(read.first().begin(), read.first().end());
  got.insert(got.end(), read.second().begin(), read.second().end());
  read.commit_all();
  EXPECT_EQ(got, (std::vector<std::complex<float>>{{0, -1}, {1, -2}, {2, -3}, {3, -4}}));
}

TEST(SpscRing, WriteChunkOfNonTrivialElementsDestroysTheSlotsItDoesNotPublish) {
  {
    auto [tx, rx] = SpscRing<Tally>::create(8);
    auto chunk = tx.write_chunk(5);
    EXPECT_EQ(Tally::alive, 5);
    for (const Tally& t : chunk.first()) EXPECT_EQ(t.v, -7);  // the default constructor ran
    chunk.first()[0].v = 1;
    chunk.first()[1].v = 2;
    chunk.commit(2);
    EXPECT_EQ(Tally::alive, 2);
    EXPECT_EQ(rx.try_pop()->v, 1);
    EXPECT_EQ(rx.try_pop()->v, 2);
    EXPECT_EQ(Tally::alive, 0);
    {
      auto dropped = tx.write_chunk(3);
      EXPECT_EQ(Tally::alive, 3);
    }
    EXPECT_EQ(Tally::alive, 0);
    EXPECT_EQ(rx.available(), 0u);
  }
  EXPECT_EQ(Tally::alive, 0);
}

TEST(SpscRing, WriteChunkOfStringsPublishesWhatTheCallerAssigned) {
  auto [tx, rx] = SpscRing<std::string>::create(4);
  auto chunk = tx.write_chunk(2);
  chunk.first()[0] = std::string(64, 'a');  // longer than any short-string buffer
  chunk.first()[1] = "b";
  chunk.commit_all();
  EXPECT_EQ(rx.try_pop(), std::string(64, 'a'));
  EXPECT_EQ(rx.try_pop(), "b");
}

TEST(SpscRing, UninitWriteChunkPublishesTheElementsTheCallerConstructedInPlace) {
  LifetimeStats stats;
  {
    // Counted has no default constructor: only the uninitialised chunk takes it.
    auto [tx, rx] = nowait::detail::make_spsc_ring<Counted>(4, max_index - 1);
    auto chunk = tx.write_chunk_uninit(4);
    ASSERT_EQ(chunk.first().size(), 2u);
    ASSERT_EQ(chunk.second().size(), 2u);
    EXPECT_EQ(stats.alive(), 0);  // nothing constructed by the ring
    std::construct_at(&chunk.first()[0], stats, 10);
    std::construct_at(&chunk.first()[1], stats, 11);
    std::construct_at(&chunk.second()[0], stats, 12);
    chunk.commit(3);
    EXPECT_EQ(stats.alive(), 3);
    EXPECT_EQ(rx.try_pop()->value(), 10u);
    EXPECT_EQ(rx.try_pop()->value(), 11u);
    EXPECT_EQ(tx.slots(), 3u);
  }
  EXPECT_EQ(stats.alive(), 0);  // 12 was destroyed with the ring
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

TEST(SpscRing, DroppingAnUninitWriteChunkPublishesNothingAndDestroysNothing) {
  LifetimeStats stats;
  auto [tx, rx] = CountedRing::create(4);
  { auto chunk = tx.write_chunk_uninit(3); }
  EXPECT_EQ(stats.destroyed.load(), 0);
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(tx.slots(), 4u);
}

// ---------------------------------------------------------------------------
// Exact chunk requests

TEST(SpscRing, ExactWriteChunkRequestFailsWithTheFreeSlotsWhenTooFewAreFree) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_EQ(tx.push_slice(iota_values(0, 5)), 5u);
  auto refused = tx.write_chunk_exact(4);
  EXPECT_FALSE(refused);
  EXPECT_FALSE(refused.has_value());
  EXPECT_EQ(refused.available(), 3u);
  EXPECT_EQ(tx.write_chunk_exact(9).available(), 3u);  // beyond the capacity: never

  auto granted = tx.write_chunk_exact(3);
  ASSERT_TRUE(granted);
  EXPECT_EQ(granted.available(), 3u);
  EXPECT_EQ(granted->size(), 3u);
  fill_chunk(*granted, 5);
  granted->commit_all();
  EXPECT_EQ(drain(rx), iota_values(0, 8));
}

TEST(SpscRing, ExactWriteChunkSeesSlotsTheConsumerFreedSinceTheProducerLastLooked) {
  auto [tx, rx] = U64Ring::create(4);
  ASSERT_EQ(tx.push_slice(iota_values(0, 4)), 4u);
  ASSERT_TRUE(rx.try_pop().has_value());
  ASSERT_TRUE(rx.try_pop().has_value());
  auto chunk = tx.write_chunk_exact(2);
  ASSERT_TRUE(chunk);
  EXPECT_EQ(chunk->size(), 2u);
}

TEST(SpscRing, ExactReadChunkRequestFailsWithTheItemsAvailableWhenTooFewAreThere) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_EQ(tx.push_slice(iota_values(0, 3)), 3u);
  auto refused = rx.read_chunk_exact(4);
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.available(), 3u);
  EXPECT_EQ(rx.available(), 3u);  // nothing was taken

  ASSERT_TRUE(tx.try_push(3));
  auto granted = rx.read_chunk_exact(4);
  ASSERT_TRUE(granted);
  EXPECT_EQ(chunk_values(*granted), iota_values(0, 4));
  granted->commit(4);
  EXPECT_EQ(rx.available(), 0u);
}

TEST(SpscRing, AnExactRequestForZeroAlwaysSucceedsWithAnEmptyChunk) {
  auto [tx, rx] = U64Ring::create(1);
  ASSERT_TRUE(tx.try_push(1));
  auto write = tx.write_chunk_exact(0);
  ASSERT_TRUE(write);
  EXPECT_EQ(write->size(), 0u);
  write->commit_all();
  auto read = rx.read_chunk_exact(0);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 0u);
}

TEST(SpscRing, AFailedExactRequestLeavesTheEndpointUsable) {
  auto [tx, rx] = U64Ring::create(2);
  EXPECT_FALSE(rx.read_chunk_exact(1));
  EXPECT_FALSE(tx.write_chunk_exact(3));
  ASSERT_TRUE(tx.try_push(1));
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(1));
}

// ---------------------------------------------------------------------------
// push_from: bulk move-in from an iterator

TEST(SpscRing, PushFromMovesOnlyAsManyMoveOnlyItemsAsFitAndLeavesTheIteratorAtTheRest) {
  auto [tx, rx] = SpscRing<std::unique_ptr<int>>::create(3);
  std::vector<std::unique_ptr<int>> src;
  for (int i = 0; i < 5; ++i) src.push_back(std::make_unique<int>(i));
  auto it = std::make_move_iterator(src.begin());
  EXPECT_EQ(tx.push_from(it, std::make_move_iterator(src.end())), 3u);
  EXPECT_EQ(it.base(), src.begin() + 3);
  EXPECT_EQ(src[2], nullptr);
  ASSERT_NE(src[3], nullptr);                                           // not taken
  EXPECT_EQ(tx.push_from(it, std::make_move_iterator(src.end())), 0u);  // full

  EXPECT_EQ(*rx.try_pop().value(), 0);
  EXPECT_EQ(*rx.try_pop().value(), 1);
  EXPECT_EQ(tx.push_from(it, std::make_move_iterator(src.end())), 2u);  // carries on
  EXPECT_EQ(it.base(), src.end());
  for (int expected = 2; expected < 5; ++expected) EXPECT_EQ(*rx.try_pop().value(), expected);
}

TEST(SpscRing, PushFromAnUnboundedViewFillsTheRingAcrossTheEndOfTheStorage) {
  auto [tx, rx] = nowait::detail::make_spsc_ring<std::unique_ptr<int>>(5, max_index);
  auto made = std::views::iota(100) | std::views::transform([](int i) { return std::make_unique<int>(i); });
  auto it = made.begin();
  EXPECT_EQ(tx.push_from(it, made.end()), 5u);  // an unreachable end: only the ring stops it
  EXPECT_EQ(*it.base(), 105);                   // left at the first element not pushed
  for (int expected = 100; expected < 105; ++expected) EXPECT_EQ(*rx.try_pop().value(), expected);
}

TEST(SpscRing, PushFromWithEqualIteratorsPushesNothing) {
  auto [tx, rx] = U64Ring::create(4);
  const Values none;
  auto it = none.begin();
  EXPECT_EQ(tx.push_from(it, none.end()), 0u);
  EXPECT_EQ(rx.available(), 0u);
}

// ---------------------------------------------------------------------------
// was_full and was_empty

TEST(SpscRing, WasFullAndWasEmptyReportWhatEachEndSawAtTheCall) {
  auto [tx, rx] = U64Ring::create(2);
  EXPECT_TRUE(rx.was_empty());
  EXPECT_FALSE(tx.was_full());
  ASSERT_TRUE(tx.try_push(1));
  EXPECT_FALSE(rx.was_empty());
  EXPECT_FALSE(tx.was_full());
  ASSERT_TRUE(tx.try_push(2));
  EXPECT_TRUE(tx.was_full());
  ASSERT_TRUE(rx.try_pop().has_value());
  EXPECT_FALSE(tx.was_full());  // sees the consumer's pop without pushing
  ASSERT_TRUE(rx.try_pop().has_value());
  EXPECT_TRUE(rx.was_empty());
}

// ---------------------------------------------------------------------------
// A publish of nothing changes nothing (and, since issue 11, stores nothing:
// measured by the bench, not observable here).

TEST(SpscRing, PublishingOrReleasingZeroItemsLeavesBothEndsCountsUnchanged) {
  auto [tx, rx] = U64Ring::create(2);
  Values out(2, 0);
  EXPECT_EQ(rx.pop_slice(out), 0u);  // empty
  rx.read_chunk(2).commit(0);
  ASSERT_EQ(tx.push_slice(iota_values(1, 2)), 2u);
  EXPECT_EQ(tx.push_slice(iota_values(3, 2)), 0u);  // full
  tx.write_chunk(2).commit(0);
  EXPECT_EQ(rx.available(), 2u);
  EXPECT_EQ(tx.slots(), 0u);
  EXPECT_EQ(drain(rx), (Values{1, 2}));
}

// ---------------------------------------------------------------------------
// read_chunk

TEST(SpscRing, ReadChunkOnAnEmptyRingIsEmpty) {
  auto [tx, rx] = U64Ring::create(4);
  auto chunk = rx.read_chunk(4);
  EXPECT_EQ(chunk.size(), 0u);
  EXPECT_TRUE(chunk.first().empty());
  EXPECT_TRUE(chunk.second().empty());
  chunk.commit_all();
  EXPECT_EQ(tx.slots(), 4u);
}

TEST(SpscRing, ReadChunkCommitOfZeroRemovesNothing) {
  auto [tx, rx] = U64Ring::create(4);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_push(i));
  auto chunk = rx.read_chunk(3);
  ASSERT_EQ(chunk.size(), 3u);
  chunk.commit(0);
  EXPECT_EQ(rx.available(), 3u);
  EXPECT_EQ(tx.slots(), 1u);
  EXPECT_EQ(drain(rx), iota_values(0, 3));
}

TEST(SpscRing, ReadChunkCommitRemovesExactlyTheFirstKItemsInOrder) {
  auto [tx, rx] = U64Ring::create(8);
  for (std::uint64_t i = 1; i <= 6; ++i) ASSERT_TRUE(tx.try_push(i));
  auto chunk = rx.read_chunk(4);
  ASSERT_EQ(chunk.size(), 4u);
  EXPECT_EQ(chunk_values(chunk), iota_values(1, 4));
  chunk.commit(2);
  EXPECT_EQ(rx.available(), 4u);
  EXPECT_EQ(tx.slots(), 4u);
  EXPECT_EQ(drain(rx), iota_values(3, 4));
}

TEST(SpscRing, ReadChunkCommitAllRemovesEveryItemOfTheChunk) {
  auto [tx, rx] = U64Ring::create(8);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(tx.try_push(i));
  auto chunk = rx.read_chunk(5);
  chunk.commit_all();
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(tx.slots(), 8u);
  EXPECT_EQ(rx.try_pop(), std::nullopt);
}

TEST(SpscRing, ReadChunkHoldsOnlyTheItemsAvailable) {
  auto [tx, rx] = U64Ring::create(8);
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_push(i));
  {
    auto chunk = rx.read_chunk(8);
    EXPECT_EQ(chunk.size(), 3u);
    EXPECT_EQ(chunk_values(chunk), iota_values(0, 3));
  }
  EXPECT_EQ(rx.read_chunk(2).size(), 2u);
}

TEST(SpscRing, AnUncommittedReadChunkLeavesItsItemsInTheRing) {
  auto [tx, rx] = U64Ring::create(4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_push(i));
  {
    auto chunk = rx.read_chunk(4);
    EXPECT_EQ(chunk.size(), 4u);
  }
  EXPECT_EQ(rx.available(), 4u);
  EXPECT_EQ(tx.slots(), 0u);
  EXPECT_EQ(chunk_values(rx.read_chunk(4)), iota_values(0, 4));
}

TEST(SpscRing, ReadChunkSeesItemsPublishedAfterTheConsumerSawTheRingEmpty) {
  auto [tx, rx] = U64Ring::create(4);
  ASSERT_EQ(rx.read_chunk(4).size(), 0u);
  ASSERT_TRUE(tx.try_push(1));
  ASSERT_TRUE(tx.try_push(2));
  EXPECT_EQ(chunk_values(rx.read_chunk(4)), (Values{1, 2}));
}

TEST(SpscRing, ReadChunkThatStraddlesTheEndOfTheStorageIsSplitIntoTwoSpans) {
  auto [tx, rx] = U64Ring::create(8);
  const std::uint64_t* storage = storage_start(tx, rx);
  advance(tx, rx, 4);  // both indices now at 5
  for (std::uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(tx.try_push(i));

  auto chunk = rx.read_chunk(7);
  ASSERT_EQ(chunk.size(), 7u);
  EXPECT_EQ(chunk.first().size(), 3u);
  EXPECT_EQ(chunk.second().size(), 4u);
  EXPECT_EQ(chunk.first().data(), storage + 5);
  EXPECT_EQ(chunk.second().data(), storage);
  EXPECT_EQ(chunk_values(chunk), iota_values(0, 7));

  chunk.commit(5);  // all of first() and two of second()
  EXPECT_EQ(drain(rx), (Values{5, 6}));
}

TEST(SpscRing, ChunksOfANonPowerOfTwoCapacityWrapAtTheEndOfTheRoundedUpStorage) {
  // Capacity 5 is stored in 8 slots (see the layout note in the header).
  auto [tx, rx] = U64Ring::create(5);
  const std::uint64_t* storage = storage_start(tx, rx);
  advance(tx, rx, 5);  // both indices now at 6

  auto write = tx.write_chunk(10);
  ASSERT_EQ(write.size(), 5u);
  EXPECT_EQ(write.first().size(), 2u);
  EXPECT_EQ(write.second().size(), 3u);
  EXPECT_EQ(write.first().data(), storage + 6);
  EXPECT_EQ(write.second().data(), storage);
  fill_chunk(write, 50);
  write.commit_all();
  EXPECT_FALSE(tx.try_push(0));

  auto read = rx.read_chunk(10);
  ASSERT_EQ(read.size(), 5u);
  EXPECT_EQ(read.first().size(), 2u);
  EXPECT_EQ(read.second().size(), 3u);
  EXPECT_EQ(chunk_values(read), iota_values(50, 5));
}

// ---------------------------------------------------------------------------
// push_slice and pop_slice

TEST(SpscRing, PushSliceCopiesOnlyTheLeadingItemsThatFit) {
  auto [tx, rx] = U64Ring::create(5);
  const Values src = iota_values(0, 8);
  EXPECT_EQ(tx.push_slice(src), 5u);
  EXPECT_EQ(tx.push_slice(src), 0u);
  EXPECT_EQ(tx.slots(), 0u);
  EXPECT_EQ(drain(rx), iota_values(0, 5));
}

TEST(SpscRing, PopSliceMovesOnlyAsManyItemsAsAreThere) {
  auto [tx, rx] = U64Ring::create(5);
  ASSERT_EQ(tx.push_slice(iota_values(0, 5)), 5u);

  Values dst(3, 0);
  EXPECT_EQ(rx.pop_slice(dst), 3u);
  EXPECT_EQ(dst, iota_values(0, 3));
  EXPECT_EQ(tx.slots(), 3u);

  Values big(10, 77);
  EXPECT_EQ(rx.pop_slice(big), 2u);
  EXPECT_EQ(big[0], 3u);
  EXPECT_EQ(big[1], 4u);
  EXPECT_EQ(big[2], 77u);  // untouched past the count returned
  EXPECT_EQ(rx.pop_slice(big), 0u);
}

TEST(SpscRing, EmptySlicesMoveNothing) {
  auto [tx, rx] = U64Ring::create(4);
  EXPECT_EQ(tx.push_slice({}), 0u);
  EXPECT_EQ(rx.available(), 0u);
  ASSERT_TRUE(tx.try_push(1));
  EXPECT_EQ(rx.pop_slice({}), 0u);
  EXPECT_EQ(rx.available(), 1u);
}

TEST(SpscRing, SlicesWrapAroundTheEndOfTheStorageInOrder) {
  auto [tx, rx] = U64Ring::create(8);
  advance(tx, rx, 6);
  EXPECT_EQ(tx.push_slice(iota_values(10, 7)), 7u);
  Values dst(8, 0);
  EXPECT_EQ(rx.pop_slice(dst), 7u);
  dst.resize(7);
  EXPECT_EQ(dst, iota_values(10, 7));
}

TEST(SpscRing, SlicesAlternatingWithSingleItemsKeepOneSequence) {
  auto [tx, rx] = U64Ring::create(5);
  std::uint64_t next_in = 0;
  Values out;
  for (int round = 0; round < 20; ++round) {
    if (tx.try_push(next_in)) ++next_in;
    const Values batch = iota_values(next_in, 3);
    const std::size_t pushed = tx.push_slice(batch);
    next_in += pushed;
    if (auto value = rx.try_pop()) out.push_back(*value);
    Values dst(2, 0);
    const std::size_t popped = rx.pop_slice(dst);
    out.insert(out.end(), dst.begin(), dst.begin() + static_cast<std::ptrdiff_t>(popped));
  }
  const Values rest = drain(rx);
  out.insert(out.end(), rest.begin(), rest.end());
  EXPECT_EQ(out, iota_values(0, static_cast<std::size_t>(next_in)));
}

// ---------------------------------------------------------------------------
// The 64-bit indices wrap at 2^64.

TEST(SpscRing, SingleItemsCrossTheIndexWrapWithoutLossOrReordering) {
  auto [tx, rx] = nowait::detail::make_spsc_ring<std::uint64_t>(4, max_index - 2);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  for (int round = 0; round < 10; ++round) {
    while (tx.try_push(next_in)) ++next_in;
    ASSERT_EQ(tx.slots(), 0u);
    ASSERT_EQ(rx.available(), 4u);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(next_out++));
    ASSERT_EQ(tx.slots(), 3u);
    ASSERT_EQ(rx.available(), 1u);
  }
  EXPECT_EQ(drain(rx), Values{next_out});
  EXPECT_EQ(next_in, next_out + 1);
}

TEST(SpscRing, AFullRingWhoseIndicesStraddleTheWrapStillReportsFull) {
  // Tail wraps to a small number while head is still near 2^64.
  for (std::size_t capacity : {1, 2, 3, 5, 8}) {
    SCOPED_TRACE(capacity);
    auto [tx, rx] = nowait::detail::make_spsc_ring<std::uint64_t>(capacity, max_index);
    for (std::uint64_t i = 0; i < capacity; ++i) ASSERT_TRUE(tx.try_push(i));
    EXPECT_FALSE(tx.try_push(99));
    EXPECT_EQ(tx.slots(), 0u);
    EXPECT_EQ(rx.available(), capacity);
    EXPECT_EQ(tx.write_chunk(capacity).size(), 0u);
    EXPECT_EQ(rx.read_chunk(capacity + 1).size(), capacity);
    EXPECT_EQ(drain(rx), iota_values(0, capacity));
  }
}

TEST(SpscRing, ChunksAcrossTheIndexWrapAreSplitAndCommittedInOrder) {
  // Index 2^64 - 3 is slot 5 of 8: the chunk crosses the storage end at the
  // same step as the index wraps to 0.
  auto [tx, rx] = nowait::detail::make_spsc_ring<std::uint64_t>(8, max_index - 2);
  auto write = tx.write_chunk(8);
  ASSERT_EQ(write.size(), 8u);
  EXPECT_EQ(write.first().size(), 3u);
  EXPECT_EQ(write.second().size(), 5u);
  fill_chunk(write, 0);
  write.commit(6);
  EXPECT_EQ(rx.available(), 6u);
  EXPECT_EQ(tx.slots(), 2u);

  auto read = rx.read_chunk(8);
  ASSERT_EQ(read.size(), 6u);
  EXPECT_EQ(read.first().size(), 3u);
  EXPECT_EQ(read.second().size(), 3u);
  EXPECT_EQ(chunk_values(read), iota_values(0, 6));
  read.commit(4);
  EXPECT_EQ(tx.slots(), 6u);

  auto again = tx.write_chunk(8);
  ASSERT_EQ(again.size(), 6u);
  fill_chunk(again, 6);
  again.commit_all();
  EXPECT_EQ(drain(rx), iota_values(4, 8));
}

TEST(SpscRing, SlicesAcrossTheIndexWrapKeepTheirOrder) {
  auto [tx, rx] = nowait::detail::make_spsc_ring<std::uint64_t>(5, max_index - 1);
  std::uint64_t next_in = 0;
  Values out;
  for (int round = 0; round < 12; ++round) {
    next_in += tx.push_slice(iota_values(next_in, 4));
    Values dst(3, 0);
    const std::size_t popped = rx.pop_slice(dst);
    out.insert(out.end(), dst.begin(), dst.begin() + static_cast<std::ptrdiff_t>(popped));
  }
  const Values rest = drain(rx);
  out.insert(out.end(), rest.begin(), rest.end());
  EXPECT_EQ(out, iota_values(0, static_cast<std::size_t>(next_in)));
}

// ---------------------------------------------------------------------------
// A reference model: a seeded mix of every operation, at several capacities and
// starting indices (the last ones cross 2^64), must match a std::deque exactly,
// including the sizes of each chunk's two spans.

struct ModelParam {
  std::size_t capacity;
  std::uint64_t first_index;
};

class SpscRingModel : public ::testing::TestWithParam<ModelParam> {};

// Knuth's MMIX LCG: deterministic, so a failure replays exactly.
class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return state_ >> 33;
  }
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(next() % bound); }

 private:
  std::uint64_t state_;
};

TEST_P(SpscRingModel, ARandomMixOfOperationsMatchesAReferenceQueue) {
  const auto [capacity, first_index] = GetParam();
  const std::size_t storage = std::bit_ceil(capacity);
  auto [tx, rx] = nowait::detail::make_spsc_ring<std::uint64_t>(capacity, first_index);
  std::deque<std::uint64_t> model;
  std::uint64_t tail = first_index;  // the ring's own indices, tracked here
  std::uint64_t head = first_index;
  std::uint64_t next_value = 0;
  Lcg lcg(capacity * 31 + first_index);

  // How many of k slots from index lie before the end of the storage.
  const auto first_part = [&](std::uint64_t index, std::size_t k) {
    return std::min(k, storage - static_cast<std::size_t>(index % storage));
  };
  // Request sizes: mostly small, sometimes beyond the capacity.
  const auto request = [&]() -> std::size_t {
    switch (lcg.below(8)) {
      case 0:
        return capacity + 1;
      case 1:
        return std::numeric_limits<std::size_t>::max();
      default:
        return lcg.below(std::min<std::size_t>(capacity, 64) + 2);
    }
  };

  for (int step = 0; step < 5000; ++step) {
    const std::size_t free = capacity - model.size();
    switch (lcg.below(7)) {
      case 0: {
        const bool fits = free > 0;
        ASSERT_EQ(tx.try_push(next_value), fits);
        if (fits) {
          model.push_back(next_value++);
          ++tail;
        }
        break;
      }
      case 1: {
        const Values src = iota_values(next_value, lcg.below(std::min<std::size_t>(capacity, 64) + 2));
        const std::size_t expected = std::min(src.size(), free);
        ASSERT_EQ(tx.push_slice(src), expected);
        for (std::size_t i = 0; i < expected; ++i) model.push_back(next_value++);
        tail += expected;
        break;
      }
      case 2: {
        const std::size_t n = request();
        auto chunk = tx.write_chunk(n);
        const std::size_t expected = std::min(n, free);
        ASSERT_EQ(chunk.size(), expected);
        ASSERT_EQ(chunk.first().size(), first_part(tail, expected));
        fill_chunk(chunk, next_value);
        const std::size_t k = lcg.below(expected + 1);
        chunk.commit(k);
        for (std::size_t i = 0; i < k; ++i) model.push_back(next_value++);
        tail += k;
        break;
      }
      case 3: {
        const auto popped = rx.try_pop();
        if (model.empty()) {
          ASSERT_EQ(popped, std::nullopt);
        } else {
          ASSERT_EQ(popped, std::optional<std::uint64_t>(model.front()));
          model.pop_front();
          ++head;
        }
        break;
      }
      case 4: {
        const std::uint64_t* front = rx.peek();
        if (model.empty()) {
          ASSERT_EQ(front, nullptr);
        } else {
          ASSERT_NE(front, nullptr);
          ASSERT_EQ(*front, model.front());
        }
        break;
      }
      case 5: {
        Values dst(lcg.below(std::min<std::size_t>(capacity, 64) + 2), 0);
        const std::size_t expected = std::min(dst.size(), model.size());
        ASSERT_EQ(rx.pop_slice(dst), expected);
        for (std::size_t i = 0; i < expected; ++i) {
          ASSERT_EQ(dst[i], model.front());
          model.pop_front();
        }
        head += expected;
        break;
      }
      default: {
        const std::size_t n = request();
        auto chunk = rx.read_chunk(n);
        const std::size_t expected = std::min(n, model.size());
        ASSERT_EQ(chunk.size(), expected);
        ASSERT_EQ(chunk.first().size(), first_part(head, expected));
        ASSERT_EQ(chunk_values(chunk),
                  Values(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(expected)));
        const std::size_t k = lcg.below(expected + 1);
        chunk.commit(k);
        for (std::size_t i = 0; i < k; ++i) model.pop_front();
        head += k;
        break;
      }
    }
    ASSERT_EQ(tail - head, model.size());
    ASSERT_EQ(rx.available(), model.size()) << "step " << step;
    ASSERT_EQ(tx.slots(), capacity - model.size()) << "step " << step;
  }
  EXPECT_EQ(drain(rx), Values(model.begin(), model.end()));
}

std::vector<ModelParam> model_params() {
  std::vector<ModelParam> params;
  for (std::size_t capacity : {1, 2, 3, 5, 64, 1000, 4096}) {
    for (std::uint64_t first_index :
         {std::uint64_t{0}, max_index - 2, max_index - 300, std::uint64_t{1} << 63}) {
      params.push_back({capacity, first_index});
    }
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(CapacitiesAndStartingIndices, SpscRingModel, ::testing::ValuesIn(model_params()),
                         [](const ::testing::TestParamInfo<ModelParam>& param) {
                           const std::uint64_t below_wrap = max_index - param.param.first_index;
                           return "Capacity" + std::to_string(param.param.capacity) +
                                  (param.param.first_index == 0 ? std::string("From0")
                                   : param.param.first_index == std::uint64_t{1} << 63
                                       ? std::string("From2Pow63")
                                       : "FromMaxMinus" + std::to_string(below_wrap));
                         });

// ---------------------------------------------------------------------------
// Element lifetime: every element constructed in the ring is destroyed once.

TEST(SpscRing, EveryPoppedElementIsDestroyedExactlyOnce) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(8);
    for (std::uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(tx.try_emplace(stats, i));
    EXPECT_EQ(stats.alive(), 8);
    for (std::uint64_t i = 0; i < 8; ++i) {
      auto item = rx.try_pop();
      ASSERT_TRUE(item.has_value());
      EXPECT_EQ(item->value(), i);
      EXPECT_EQ(stats.alive(), static_cast<std::int64_t>(8 - i));  // the ring's copy is gone, ours is not
    }
    EXPECT_EQ(stats.alive(), 0);
  }
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

TEST(SpscRing, ReadChunkCommitDestroysExactlyTheCommittedElements) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(8);
    for (std::uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(tx.try_emplace(stats, i));
    auto chunk = rx.read_chunk(4);
    ASSERT_EQ(chunk.size(), 4u);
    EXPECT_EQ(counted_values(chunk.first()), (std::vector<std::uint64_t>{0, 1, 2, 3}));
    chunk.commit(3);
    EXPECT_EQ(stats.destroyed.load(), 3);
    EXPECT_EQ(stats.alive(), 3);
    EXPECT_EQ(rx.peek()->value(), 3u);
  }
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.destroyed.load(), 6);
}

TEST(SpscRing, ReadChunkCommitDestroysElementsInBothSpans) {
  LifetimeStats stats;
  {
    auto [tx, rx] = nowait::detail::make_spsc_ring<Counted>(4, max_index - 1);
    for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_emplace(stats, i));
    auto chunk = rx.read_chunk(4);
    ASSERT_EQ(chunk.first().size(), 2u);
    ASSERT_EQ(chunk.second().size(), 2u);
    chunk.commit(3);
    EXPECT_EQ(stats.alive(), 1);
    EXPECT_EQ(rx.peek()->value(), 3u);
  }
  EXPECT_EQ(stats.alive(), 0);
}

TEST(SpscRing, SlicesOfCountedElementsDestroyTheRingCopiesExactlyOnce) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(3);
    const std::vector<Counted> src = {Counted(stats, 1), Counted(stats, 2), Counted(stats, 3),
                                      Counted(stats, 4)};
    std::vector<Counted> dst(2, Counted(stats, 0));
    const std::int64_t outside = stats.alive();  // src and dst
    EXPECT_EQ(tx.push_slice(src), 3u);
    EXPECT_EQ(stats.alive(), outside + 3);
    EXPECT_EQ(rx.pop_slice(dst), 2u);
    EXPECT_EQ(counted_values(dst), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(stats.alive(), outside + 1);
  }
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

// Leaves items in the ring (some straddling the storage end and the index
// wrap), destroys the two ends in the order given and checks that the last one
// destroys every item still in the ring, once.
void check_leftover_elements_are_destroyed(bool producer_goes_first) {
  LifetimeStats stats;
  {
    auto ends = nowait::detail::make_spsc_ring<Counted>(5, max_index - 2);
    std::optional<CountedRing::Producer> tx(std::move(ends.first));
    std::optional<CountedRing::Consumer> rx(std::move(ends.second));
    for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(tx->try_emplace(stats, i));
    ASSERT_EQ(rx->try_pop()->value(), 0u);
    ASSERT_EQ(rx->try_pop()->value(), 1u);
    ASSERT_TRUE(tx->try_emplace(stats, 5));
    ASSERT_EQ(stats.alive(), 4);

    if (producer_goes_first) {
      tx.reset();
      EXPECT_EQ(stats.alive(), 4);  // the consumer still holds the ring
      EXPECT_TRUE(rx->is_abandoned());
      rx.reset();
    } else {
      rx.reset();
      EXPECT_EQ(stats.alive(), 4);
      EXPECT_TRUE(tx->is_abandoned());
      tx.reset();
    }
    EXPECT_EQ(stats.alive(), 0);
  }
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

TEST(SpscRing, ElementsLeftInTheRingAreDestroyedOnceWhenTheProducerIsDestroyedFirst) {
  check_leftover_elements_are_destroyed(true);
}

TEST(SpscRing, ElementsLeftInTheRingAreDestroyedOnceWhenTheConsumerIsDestroyedFirst) {
  check_leftover_elements_are_destroyed(false);
}

TEST(SpscRing, ElementsInAnUncommittedReadChunkAreDestroyedWithTheRing) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(4);
    for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_emplace(stats, i));
    auto chunk = rx.read_chunk(3);
    EXPECT_EQ(chunk.size(), 3u);
  }
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.destroyed.load(), 3);
}

TEST(SpscRing, MoveAssigningOverAnEndpointLetsGoOfItsOldRing) {
  LifetimeStats stats_a;
  LifetimeStats stats_b;
  {
    auto [tx_a, rx_a] = CountedRing::create(4);
    auto [tx_b, rx_b] = CountedRing::create(4);
    for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(tx_a.try_emplace(stats_a, i));
    for (std::uint64_t i = 10; i < 12; ++i) ASSERT_TRUE(tx_b.try_emplace(stats_b, i));

    rx_a = std::move(rx_b);  // ring A keeps its producer, so its items live on
    EXPECT_EQ(stats_a.alive(), 3);
    EXPECT_TRUE(tx_a.is_abandoned());
    EXPECT_FALSE(tx_b.is_abandoned());

    tx_a = std::move(tx_b);  // ring A's last end is gone
    EXPECT_EQ(stats_a.alive(), 0);
    EXPECT_EQ(stats_a.constructed.load(), stats_a.destroyed.load());
    EXPECT_EQ(stats_b.alive(), 2);

    // Both names now hold ring B.
    EXPECT_FALSE(rx_a.is_abandoned());
    EXPECT_EQ(rx_a.try_pop()->value(), 10u);
    ASSERT_TRUE(tx_a.try_emplace(stats_b, 12));
    EXPECT_EQ(rx_a.try_pop()->value(), 11u);
    EXPECT_EQ(rx_a.try_pop()->value(), 12u);
  }
  EXPECT_EQ(stats_b.alive(), 0);
  EXPECT_EQ(stats_b.constructed.load(), stats_b.destroyed.load());
}

// ---------------------------------------------------------------------------
// Abandonment

TEST(SpscRing, NeitherEndIsAbandonedWhileBothAreAlive) {
  auto [tx, rx] = U64Ring::create(4);
  EXPECT_FALSE(tx.is_abandoned());
  EXPECT_FALSE(rx.is_abandoned());
  ASSERT_TRUE(tx.try_push(1));
  ASSERT_TRUE(rx.try_pop().has_value());
  EXPECT_FALSE(tx.is_abandoned());
  EXPECT_FALSE(rx.is_abandoned());
}

TEST(SpscRing, ConsumerDrainsEveryItemAfterTheProducerIsGoneAndSeesItAbandoned) {
  auto ends = U64Ring::create(8);
  U64Ring::Consumer rx = std::move(ends.second);
  {
    U64Ring::Producer tx = std::move(ends.first);
    ASSERT_EQ(tx.push_slice(iota_values(0, 6)), 6u);
    EXPECT_FALSE(rx.is_abandoned());
  }
  EXPECT_TRUE(rx.is_abandoned());
  EXPECT_EQ(rx.available(), 6u);
  EXPECT_EQ(drain(rx), iota_values(0, 6));
  EXPECT_TRUE(rx.is_abandoned());
  EXPECT_EQ(rx.try_pop(), std::nullopt);
}

TEST(SpscRing, ProducerSeesTheRingAbandonedOnceTheConsumerIsGoneAndCanStillFillIt) {
  auto ends = U64Ring::create(2);
  U64Ring::Producer tx = std::move(ends.first);
  {
    U64Ring::Consumer rx = std::move(ends.second);
    EXPECT_FALSE(tx.is_abandoned());
  }
  EXPECT_TRUE(tx.is_abandoned());
  EXPECT_TRUE(tx.try_push(1));
  EXPECT_TRUE(tx.try_push(2));
  EXPECT_FALSE(tx.try_push(3));
}

TEST(SpscRing, MovingAnEndpointDoesNotAbandonTheRing) {
  auto [tx, rx] = U64Ring::create(2);
  U64Ring::Producer moved_tx = std::move(tx);
  U64Ring::Consumer moved_rx = std::move(rx);
  EXPECT_FALSE(moved_tx.is_abandoned());
  EXPECT_FALSE(moved_rx.is_abandoned());
}

// ---------------------------------------------------------------------------
// Moving endpoints

TEST(SpscRing, AMovedToProducerContinuesTheSameSequence) {
  auto [tx, rx] = U64Ring::create(4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_push(i));  // its cached head is now stale
  ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(0));
  ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(1));

  U64Ring::Producer moved(std::move(tx));
  EXPECT_EQ(moved.slots(), 2u);
  EXPECT_TRUE(moved.try_push(4));
  auto chunk = moved.write_chunk(4);
  ASSERT_EQ(chunk.size(), 1u);
  fill_chunk(chunk, 5);
  chunk.commit_all();
  EXPECT_FALSE(moved.try_push(6));

  auto [other_tx, other_rx] = U64Ring::create(8);
  other_tx = std::move(moved);
  ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(2));
  EXPECT_TRUE(other_tx.try_push(6));
  EXPECT_EQ(drain(rx), iota_values(3, 4));
  EXPECT_TRUE(other_rx.is_abandoned());
}

TEST(SpscRing, AMovedToConsumerContinuesTheSameSequence) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_EQ(tx.push_slice(iota_values(0, 5)), 5u);
  ASSERT_EQ(rx.try_pop(), std::optional<std::uint64_t>(0));  // its cached tail is now 5

  U64Ring::Consumer moved(std::move(rx));
  EXPECT_EQ(moved.available(), 4u);
  EXPECT_EQ(moved.try_pop(), std::optional<std::uint64_t>(1));
  ASSERT_TRUE(tx.try_push(5));

  auto [other_tx, other_rx] = U64Ring::create(8);
  other_rx = std::move(moved);
  EXPECT_EQ(chunk_values(other_rx.read_chunk(2)), (Values{2, 3}));
  EXPECT_EQ(drain(other_rx), iota_values(2, 4));
  EXPECT_TRUE(other_tx.is_abandoned());
}

TEST(SpscRing, SelfMoveAssignmentLeavesAnEndpointWorking) {
  auto [tx, rx] = U64Ring::create(2);
  U64Ring::Producer& tx_alias = tx;
  U64Ring::Consumer& rx_alias = rx;
  tx = std::move(tx_alias);
  rx = std::move(rx_alias);
  EXPECT_TRUE(tx.try_push(1));
  EXPECT_EQ(rx.try_pop(), std::optional<std::uint64_t>(1));
  EXPECT_FALSE(rx.is_abandoned());
}

// ---------------------------------------------------------------------------
// Broken preconditions: checked and fatal in debug builds, clamped or ignored
// with NDEBUG.

#ifndef NDEBUG

TEST(SpscRingDeathTest, CommittingMoreThanAWriteChunkHoldsAborts) {
  auto [tx, rx] = U64Ring::create(4);
  auto chunk = tx.write_chunk(2);
  EXPECT_DEATH(chunk.commit(3), "precondition failed");
}

TEST(SpscRingDeathTest, CommittingAWriteChunkTwiceAborts) {
  auto [tx, rx] = U64Ring::create(4);
  auto chunk = tx.write_chunk(2);
  chunk.commit(1);
  EXPECT_DEATH(chunk.commit(1), "precondition failed");
  EXPECT_DEATH(chunk.commit(0), "precondition failed");
}

TEST(SpscRingDeathTest, CommittingMoreThanAReadChunkHoldsAborts) {
  auto [tx, rx] = U64Ring::create(4);
  ASSERT_TRUE(tx.try_push(1));
  auto chunk = rx.read_chunk(4);
  ASSERT_EQ(chunk.size(), 1u);
  EXPECT_DEATH(chunk.commit(2), "precondition failed");
}

TEST(SpscRingDeathTest, CommittingAReadChunkTwiceAborts) {
  auto [tx, rx] = U64Ring::create(4);
  ASSERT_TRUE(tx.try_push(1));
  auto chunk = rx.read_chunk(4);
  chunk.commit_all();
  EXPECT_DEATH(chunk.commit(0), "precondition failed");
}

TEST(SpscRingDeathTest, UsingAMovedFromProducerAborts) {
  auto [tx, rx] = U64Ring::create(4);
  U64Ring::Producer moved = std::move(tx);
  const std::uint64_t one = 1;
  EXPECT_DEATH(static_cast<void>(tx.try_push(one)), "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.try_emplace(one)), "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.write_chunk(1)), "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.push_slice(std::span<const std::uint64_t>(&one, 1))),
               "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.slots()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.capacity()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(tx.is_abandoned()), "precondition failed");
}

TEST(SpscRingDeathTest, UsingAMovedFromConsumerAborts) {
  auto [tx, rx] = U64Ring::create(4);
  U64Ring::Consumer moved = std::move(rx);
  std::uint64_t out = 0;
  EXPECT_DEATH(static_cast<void>(rx.try_pop()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.peek()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.read_chunk(1)), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.pop_slice(std::span<std::uint64_t>(&out, 1))), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.available()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.capacity()), "precondition failed");
  EXPECT_DEATH(static_cast<void>(rx.is_abandoned()), "precondition failed");
}

TEST(SpscRingDeathTest, CommittingMoreThanAnExactOrUninitWriteChunkHoldsAborts) {
  auto [tx, rx] = U64Ring::create(4);
  {
    auto exact = tx.write_chunk_exact(2);
    ASSERT_TRUE(exact);
    EXPECT_DEATH(exact->commit(3), "more than the chunk holds");
  }
  auto uninit = tx.write_chunk_uninit(2);
  EXPECT_DEATH(uninit.commit(3), "more than the chunk holds");
}

TEST(SpscRingDeathTest, TakingTheChunkOfAFailedExactRequestAborts) {
  auto [tx, rx] = U64Ring::create(4);
  auto none = rx.read_chunk_exact(1);
  ASSERT_FALSE(none);
  EXPECT_DEATH(static_cast<void>(none->size()), "no chunk");
}

// While a chunk is outstanding its endpoint must not be used: a push would
// land in a slot the chunk exposes, and a pop would move the index under it.
TEST(SpscRingDeathTest, PushingWhileAWriteChunkIsOutstandingAborts) {
  auto [tx, rx] = U64Ring::create(8);
  auto chunk = tx.write_chunk(4);
  fill_chunk(chunk, 101);
  EXPECT_DEATH(static_cast<void>(tx.try_push(999)), "write chunk is outstanding");
  chunk.commit(4);
  EXPECT_EQ(drain(rx), iota_values(101, 4));
}

TEST(SpscRingDeathTest, EveryProducerOperationAbortsWhileAWriteChunkIsOutstanding) {
  auto [tx, rx] = U64Ring::create(8);
  auto chunk = tx.write_chunk(4);
  const std::uint64_t one = 1;
  EXPECT_DEATH(static_cast<void>(tx.try_emplace(one)), "write chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(tx.write_chunk(1)), "write chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(tx.push_slice(std::span<const std::uint64_t>(&one, 1))),
               "write chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(tx.slots()), "write chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(tx.capacity()), "write chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(tx.is_abandoned()), "write chunk is outstanding");
  EXPECT_DEATH({ U64Ring::Producer moved(std::move(tx)); }, "write chunk is outstanding");
  EXPECT_DEATH(
      {
        auto other = U64Ring::create(1);
        other.first = std::move(tx);
      },
      "write chunk is outstanding");
  chunk.commit(0);
}

TEST(SpscRingDeathTest, PoppingWhileAReadChunkIsOutstandingAborts) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_EQ(tx.push_slice(iota_values(1, 5)), 5u);
  auto chunk = rx.read_chunk(3);
  EXPECT_DEATH(static_cast<void>(rx.try_pop()), "read chunk is outstanding");
  chunk.commit(3);
  EXPECT_EQ(drain(rx), (Values{4, 5}));
}

TEST(SpscRingDeathTest, EveryConsumerOperationAbortsWhileAReadChunkIsOutstanding) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_EQ(tx.push_slice(iota_values(1, 5)), 5u);
  auto chunk = rx.read_chunk(3);
  std::uint64_t out = 0;
  EXPECT_DEATH(static_cast<void>(rx.peek()), "read chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(rx.read_chunk(1)), "read chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(rx.pop_slice(std::span<std::uint64_t>(&out, 1))),
               "read chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(rx.available()), "read chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(rx.capacity()), "read chunk is outstanding");
  EXPECT_DEATH(static_cast<void>(rx.is_abandoned()), "read chunk is outstanding");
  EXPECT_DEATH({ U64Ring::Consumer moved(std::move(rx)); }, "read chunk is outstanding");
  EXPECT_DEATH(
      {
        auto other = U64Ring::create(1);
        other.second = std::move(rx);
      },
      "read chunk is outstanding");
  chunk.commit(0);
}

TEST(SpscRingDeathTest, MoveAssigningOverAnEndpointWhoseChunkIsOutstandingAborts) {
  auto [tx, rx] = U64Ring::create(8);
  ASSERT_TRUE(tx.try_push(1));
  auto write = tx.write_chunk(1);
  auto read = rx.read_chunk(1);
  EXPECT_DEATH(
      {
        auto other = U64Ring::create(1);
        tx = std::move(other.first);
      },
      "write chunk is outstanding");
  EXPECT_DEATH(
      {
        auto other = U64Ring::create(1);
        rx = std::move(other.second);
      },
      "read chunk is outstanding");
  write.commit(0);
  read.commit(0);
}

#else  // NDEBUG

TEST(SpscRing, CommittingMoreThanAChunkHoldsIsClampedWhenPreconditionsAreOff) {
  auto [tx, rx] = U64Ring::create(4);
  ASSERT_TRUE(tx.try_push(0));
  auto write = tx.write_chunk(2);
  fill_chunk(write, 1);
  write.commit(3);
  EXPECT_EQ(rx.available(), 3u);
  auto read = rx.read_chunk(2);
  read.commit(5);
  EXPECT_EQ(rx.available(), 1u);
  EXPECT_EQ(drain(rx), Values{2});
}

TEST(SpscRing, ASecondCommitOfAChunkDoesNothingWhenPreconditionsAreOff) {
  auto [tx, rx] = U64Ring::create(4);
  auto write = tx.write_chunk(2);
  fill_chunk(write, 1);
  write.commit(1);
  write.commit(1);
  EXPECT_EQ(rx.available(), 1u);
  auto read = rx.read_chunk(1);
  read.commit(1);
  read.commit(1);
  EXPECT_EQ(rx.available(), 0u);
  EXPECT_EQ(tx.slots(), 4u);
}

#endif  // NDEBUG

}  // namespace

// ---------------------------------------------------------------------------
// Real-time context. Each function below is what an audio callback would run;
// NOWAIT_NONBLOCKING makes the rtsan build (clang-22, -Werror=function-effects,
// -fsanitize=realtime) reject at compile time, and trap at run time, anything
// in it that may allocate, lock or block. Their results are checked by the
// tests that follow, outside the nonblocking functions.

struct FloatRtResults {
  std::size_t slots_before = 0;
  bool abandoned_before = true;
  bool pushed = false;
  bool emplaced = false;
  std::size_t chunk_written = 0;
  std::size_t slice_pushed = 0;
  bool push_when_full = true;
  std::size_t slots_when_full = 99;
  std::size_t available_when_full = 0;
  float peeked = 0;
  float popped = 0;
  float chunk_read[3] = {};
  std::size_t slice_popped = 0;
  float slice[8] = {};
  bool empty_pop_failed = false;
  bool empty_peek_null = false;
};

static FloatRtResults float_callback(SpscRing<float>::Producer& tx,
                                     SpscRing<float>::Consumer& rx) noexcept NOWAIT_NONBLOCKING {
  FloatRtResults r;
  r.slots_before = tx.slots();
  r.abandoned_before = tx.is_abandoned() || rx.is_abandoned();
  r.pushed = tx.try_push(1.0f);
  r.emplaced = tx.try_emplace(2.0f);
  auto write = tx.write_chunk(3);
  for (float& slot : write.first()) slot = 3.0f + static_cast<float>(r.chunk_written++);
  for (float& slot : write.second()) slot = 3.0f + static_cast<float>(r.chunk_written++);
  write.commit_all();
  const float more[4] = {6.0f, 7.0f, 8.0f, 9.0f};
  r.slice_pushed = tx.push_slice(more);
  r.push_when_full = tx.try_push(10.0f);
  r.slots_when_full = tx.slots();
  r.available_when_full = rx.available();

  if (const float* front = rx.peek()) r.peeked = *front;
  if (const auto value = rx.try_pop()) r.popped = *value;
  auto read = rx.read_chunk(3);
  std::size_t i = 0;
  for (float value : read.first()) r.chunk_read[i++] = value;
  for (float value : read.second()) r.chunk_read[i++] = value;
  read.commit(2);
  r.slice_popped = rx.pop_slice(r.slice);
  r.empty_pop_failed = !rx.try_pop().has_value();
  r.empty_peek_null = rx.peek() == nullptr;
  return r;
}

TEST(SpscRing, EveryEndpointOperationOnFloatsRunsInANonblockingFunction) {
  auto [tx, rx] = SpscRing<float>::create(8);
  const FloatRtResults r = float_callback(tx, rx);
  EXPECT_EQ(r.slots_before, 8u);
  EXPECT_FALSE(r.abandoned_before);
  EXPECT_TRUE(r.pushed);
  EXPECT_TRUE(r.emplaced);
  EXPECT_EQ(r.chunk_written, 3u);
  EXPECT_EQ(r.slice_pushed, 3u);
  EXPECT_FALSE(r.push_when_full);
  EXPECT_EQ(r.slots_when_full, 0u);
  EXPECT_EQ(r.available_when_full, 8u);
  EXPECT_EQ(r.peeked, 1.0f);
  EXPECT_EQ(r.popped, 1.0f);
  EXPECT_EQ(r.chunk_read[0], 2.0f);
  EXPECT_EQ(r.chunk_read[1], 3.0f);
  EXPECT_EQ(r.chunk_read[2], 4.0f);
  ASSERT_EQ(r.slice_popped, 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(r.slice[i], 4.0f + static_cast<float>(i));
  EXPECT_TRUE(r.empty_pop_failed);
  EXPECT_TRUE(r.empty_peek_null);
}

struct CountedRtResults {
  std::size_t slots_before = 0;
  bool abandoned_before = true;
  bool pushed_copy = false;
  bool pushed_move = false;
  bool emplaced = false;
  std::size_t slice_pushed = 0;
  bool push_when_full = true;
  std::size_t available_when_full = 0;
  std::uint64_t peeked = 0;
  std::uint64_t popped = 0;
  std::uint64_t chunk_read[2] = {};
  std::size_t slice_popped = 0;
  bool empty_pop_failed = false;
};

static CountedRtResults counted_callback(CountedRing::Producer& tx, CountedRing::Consumer& rx,
                                         nowait::test::LifetimeStats& stats, std::span<const Counted> to_push,
                                         std::span<Counted> popped_out) noexcept NOWAIT_NONBLOCKING {
  CountedRtResults r;
  r.slots_before = tx.slots();
  r.abandoned_before = tx.is_abandoned() || rx.is_abandoned();
  const Counted copied(stats, 1);
  r.pushed_copy = tx.try_push(copied);
  r.pushed_move = tx.try_push(Counted(stats, 2));
  r.emplaced = tx.try_emplace(stats, 3);
  r.slice_pushed = tx.push_slice(to_push);
  r.push_when_full = tx.try_emplace(stats, 99);
  r.available_when_full = rx.available();

  if (const Counted* front = rx.peek()) r.peeked = front->value();
  if (const auto item = rx.try_pop()) r.popped = item->value();
  auto read = rx.read_chunk(2);
  std::size_t i = 0;
  for (const Counted& item : read.first()) r.chunk_read[i++] = item.value();
  for (const Counted& item : read.second()) r.chunk_read[i++] = item.value();
  read.commit_all();
  r.slice_popped = rx.pop_slice(popped_out);
  r.empty_pop_failed = !rx.try_pop().has_value();
  return r;
}

TEST(SpscRing, EveryEndpointOperationOnCountedElementsRunsInANonblockingFunction) {
  LifetimeStats stats;
  {
    auto [tx, rx] = CountedRing::create(5);
    const std::vector<Counted> to_push = {Counted(stats, 4), Counted(stats, 5), Counted(stats, 6)};
    std::vector<Counted> popped_out(4, Counted(stats, 0));
    const CountedRtResults r = counted_callback(tx, rx, stats, to_push, popped_out);
    EXPECT_EQ(r.slots_before, 5u);
    EXPECT_FALSE(r.abandoned_before);
    EXPECT_TRUE(r.pushed_copy);
    EXPECT_TRUE(r.pushed_move);
    EXPECT_TRUE(r.emplaced);
    EXPECT_EQ(r.slice_pushed, 2u);
    EXPECT_FALSE(r.push_when_full);
    EXPECT_EQ(r.available_when_full, 5u);
    EXPECT_EQ(r.peeked, 1u);
    EXPECT_EQ(r.popped, 1u);
    EXPECT_EQ(r.chunk_read[0], 2u);
    EXPECT_EQ(r.chunk_read[1], 3u);
    ASSERT_EQ(r.slice_popped, 2u);
    EXPECT_EQ(counted_values(popped_out), (std::vector<std::uint64_t>{4, 5, 0, 0}));
    EXPECT_TRUE(r.empty_pop_failed);
  }
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.constructed.load(), stats.destroyed.load());
}

namespace {

int throwing_copies_alive = 0;

// Copying the value 13 throws; moves never throw, so SpscRing accepts the type.
struct ThrowingCopy {
  int v;
  explicit ThrowingCopy(int x) : v(x) { ++throwing_copies_alive; }
  ThrowingCopy(const ThrowingCopy& o) : v(o.v) {
    if (v == 13) throw std::runtime_error("copy of 13");
    ++throwing_copies_alive;
  }
  ThrowingCopy(ThrowingCopy&& o) noexcept : v(o.v) { ++throwing_copies_alive; }
  ~ThrowingCopy() { --throwing_copies_alive; }
};

}  // namespace

TEST(SpscRing, PushSliceWhoseCopyThrowsAcrossTheWrapPushesTheEarlierCopiesAndLeaksNothing) {
  {
    auto [tx, rx] = nowait::SpscRing<ThrowingCopy>::create(4);
    for (int i = 0; i < 3; ++i) {  // move both indices to 3, so the slice wraps after one slot
      ASSERT_TRUE(tx.try_emplace(i));
      ASSERT_TRUE(rx.try_pop().has_value());
    }
    std::vector<ThrowingCopy> src;
    src.reserve(3);
    for (int v : {1, 2, 13}) src.emplace_back(v);
    EXPECT_THROW(tx.push_slice(src), std::runtime_error);
    ASSERT_EQ(rx.available(), 2u);  // the copies of 1 and 2 were pushed before the throw
    EXPECT_EQ(rx.try_pop()->v, 1);
    EXPECT_EQ(rx.try_pop()->v, 2);
    EXPECT_FALSE(rx.try_pop().has_value());
  }
  EXPECT_EQ(throwing_copies_alive, 0);
}

namespace {

// Moves never throw on construction (so SpscRing accepts the type), but the
// move-assignment numbered `throw_on_assignment` (counted from 1) throws,
// leaving both sides untouched. A moved-from value is -1.
struct ThrowingMoveAssign {
  static inline int assignments = 0;
  static inline int throw_on_assignment = 0;
  static inline int alive = 0;
  int v;
  explicit ThrowingMoveAssign(int x) noexcept : v(x) { ++alive; }
  ThrowingMoveAssign(ThrowingMoveAssign&& o) noexcept : v(std::exchange(o.v, -1)) { ++alive; }
  ~ThrowingMoveAssign() { --alive; }
  ThrowingMoveAssign& operator=(ThrowingMoveAssign&& o) {
    if (++assignments == throw_on_assignment) throw std::runtime_error("move-assignment");
    v = std::exchange(o.v, -1);
    return *this;
  }
};

std::vector<int> drain_values(SpscRing<ThrowingMoveAssign>::Consumer& rx) {
  std::vector<int> out;
  while (auto item = rx.try_pop()) out.push_back(item->v);
  return out;
}

}  // namespace

TEST(SpscRing, PopSliceWhoseThirdMoveAssignmentThrowsRemovesTheTwoItemsItDelivered) {
  auto [tx, rx] = SpscRing<ThrowingMoveAssign>::create(8);
  for (int v = 1; v <= 5; ++v) ASSERT_TRUE(tx.try_emplace(v));
  std::vector<ThrowingMoveAssign> dst;
  for (int i = 0; i < 5; ++i) dst.emplace_back(0);
  ThrowingMoveAssign::assignments = 0;
  ThrowingMoveAssign::throw_on_assignment = 3;
  EXPECT_THROW(rx.pop_slice(dst), std::runtime_error);
  ThrowingMoveAssign::throw_on_assignment = 0;
  EXPECT_EQ(dst[0].v, 1);
  EXPECT_EQ(dst[1].v, 2);
  EXPECT_EQ(dst[2].v, 0);  // the assignment that threw changed nothing
  EXPECT_EQ(drain_values(rx), (std::vector<int>{3, 4, 5}));
}

TEST(SpscRing, PopSliceWhoseMoveAssignmentThrowsAcrossTheWrapDestroysWhatItDeliveredExactlyOnce) {
  {
    // Indices start two below 2^64: items 1 and 2 sit in the last two slots of
    // the storage, items 3 and 4 in the first two.
    auto [tx, rx] = nowait::detail::make_spsc_ring<ThrowingMoveAssign>(4, max_index - 1);
    for (int v = 1; v <= 4; ++v) ASSERT_TRUE(tx.try_emplace(v));
    std::vector<ThrowingMoveAssign> dst;
    for (int i = 0; i < 4; ++i) dst.emplace_back(0);
    ThrowingMoveAssign::assignments = 0;
    ThrowingMoveAssign::throw_on_assignment = 4;  // item 4, the second of the wrapped part
    EXPECT_THROW(rx.pop_slice(dst), std::runtime_error);
    ThrowingMoveAssign::throw_on_assignment = 0;
    EXPECT_EQ(ThrowingMoveAssign::alive, 4 + 1);  // dst, and item 4 still in the ring
    EXPECT_EQ(rx.available(), 1u);
    EXPECT_EQ(tx.slots(), 3u);
    EXPECT_EQ(drain_values(rx), (std::vector<int>{4}));
  }
  EXPECT_EQ(ThrowingMoveAssign::alive, 0);
}

// The chunk API added by issue 11, in a real-time callback: the rtsan build
// rejects it if any of these may allocate, lock or throw.
struct ChunkApiRtResults {
  bool was_empty_before = false;
  std::size_t frames_written = 0;
  bool exact_write_granted = false;
  std::size_t exact_write_refused_available = 0;
  std::size_t uninit_written = 0;
  std::size_t pushed_from = 0;
  bool was_full_after = false;
  bool exact_read_granted = false;
  StereoFrame first_frame{};
  std::size_t counted_pushed_from = 0;
  std::size_t counted_uninit = 0;
};

static ChunkApiRtResults chunk_api_callback(SpscRing<StereoFrame>::Producer& tx,
                                            SpscRing<StereoFrame>::Consumer& rx,
                                            CountedRing::Producer& counted_tx, std::span<Counted> counted_src,
                                            nowait::test::LifetimeStats& stats) noexcept NOWAIT_NONBLOCKING {
  ChunkApiRtResults r;
  r.was_empty_before = rx.was_empty();
  auto frames = tx.write_chunk(2);
  for (StereoFrame& f : frames.first()) f.l = 1.0f;
  for (StereoFrame& f : frames.second()) f.l = 1.0f;
  r.frames_written = frames.size();
  frames.commit_all();
  {
    auto exact = tx.write_chunk_exact(2);
    r.exact_write_granted = exact.has_value();
    if (exact) exact->commit_all();
  }
  r.exact_write_refused_available = tx.write_chunk_exact(100).available();
  auto uninit = tx.write_chunk_uninit(1);
  for (StereoFrame& f : uninit.first()) std::construct_at(&f, StereoFrame{2.0f, 2.0f});
  r.uninit_written = uninit.size();
  uninit.commit(uninit.size());
  const StereoFrame more[3] = {{3.0f, 3.0f}, {4.0f, 4.0f}, {5.0f, 5.0f}};
  const StereoFrame* from = more;
  r.pushed_from = tx.push_from(from, more + 3);
  r.was_full_after = tx.was_full();
  {
    auto exact = rx.read_chunk_exact(3);
    r.exact_read_granted = exact.has_value();
    if (exact) {
      r.first_frame = exact->first()[0];
      exact->commit_all();
    }
  }
  auto moved = std::make_move_iterator(counted_src.begin());
  r.counted_pushed_from = counted_tx.push_from(moved, std::make_move_iterator(counted_src.end()));
  auto counted = counted_tx.write_chunk_uninit(1);
  for (Counted& c : counted.first()) std::construct_at(&c, stats, 9);
  r.counted_uninit = counted.size();
  counted.commit(counted.size());
  return r;
}

TEST(SpscRing, TheChunkApiRunsInsideANonblockingFunction) {
  LifetimeStats stats;
  {
    auto [tx, rx] = SpscRing<StereoFrame>::create(6);
    auto [counted_tx, counted_rx] = CountedRing::create(3);
    std::vector<Counted> src = {Counted(stats, 1), Counted(stats, 2)};
    const ChunkApiRtResults r = chunk_api_callback(tx, rx, counted_tx, src, stats);
    EXPECT_TRUE(r.was_empty_before);
    EXPECT_EQ(r.frames_written, 2u);
    EXPECT_TRUE(r.exact_write_granted);
    EXPECT_EQ(r.exact_write_refused_available, 2u);
    EXPECT_EQ(r.uninit_written, 1u);
    EXPECT_EQ(r.pushed_from, 1u);
    EXPECT_TRUE(r.was_full_after);
    EXPECT_TRUE(r.exact_read_granted);
    EXPECT_EQ(r.first_frame, (StereoFrame{1.0f, 0.0f}));
    EXPECT_EQ(r.counted_pushed_from, 2u);
    EXPECT_EQ(r.counted_uninit, 1u);
    EXPECT_EQ(counted_rx.try_pop()->value(), 1u);
    EXPECT_EQ(counted_rx.try_pop()->value(), 2u);
    EXPECT_EQ(counted_rx.try_pop()->value(), 9u);
    EXPECT_EQ(src[0].value(), Counted::moved_from);
  }
  EXPECT_EQ(stats.alive(), 0);
}
