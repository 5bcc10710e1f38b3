// Single-threaded tests of nowait/snapshot.hpp: SeqlockCell, TripleBuffer and
// SharedSnapshot. With one thread every outcome is exact, so these tests pin
// values, which write wins and which fails, buffer ownership, element
// lifetimes and exactly when SharedSnapshot frees an old value. The
// interleavings of a SharedSnapshot read with a publish are driven one step at
// a time through SharedSnapshotTestProbe. The functions marked
// NOWAIT_NONBLOCKING near the end are checked by the rtsan build, at compile
// time and at run time. Concurrency is in snapshot_stress_test.cpp.
#include "nowait/snapshot.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/rt.hpp"
#include "support/death_test.hpp"
#include "support/lifetime_counter.hpp"

namespace {

using nowait::SeqlockCell;
using nowait::SharedSnapshot;
using nowait::TripleBuffer;
using nowait::test::Counted;
using nowait::test::LifetimeStats;

// A value with an invariant between its fields, so a copy mixing two writes is visible.
struct Triple {
  std::uint64_t a;
  std::uint64_t b;  // always ~a
  std::uint64_t c;  // always a * 3

  static Triple of(std::uint64_t a) { return {a, ~a, a * 3}; }
  bool consistent() const { return b == ~a && c == a * 3; }
  friend bool operator==(const Triple&, const Triple&) = default;
};

struct ThreeBytes {
  std::uint8_t x, y, z;
  friend bool operator==(const ThreeBytes&, const ThreeBytes&) = default;
};

struct ThirteenBytes {
  std::array<std::uint8_t, 13> bytes;
  friend bool operator==(const ThirteenBytes&, const ThirteenBytes&) = default;
};
static_assert(sizeof(ThirteenBytes) == 13);

// ---------------------------------------------------------------------------
// SeqlockCell

static_assert(!std::is_copy_constructible_v<SeqlockCell<Triple>>);
static_assert(!std::is_move_constructible_v<SeqlockCell<Triple>>);

TEST(SeqlockCell, DefaultConstructedCellHoldsAValueInitialisedT) {
  const SeqlockCell<Triple> cell;
  EXPECT_EQ(cell.load(), (Triple{0, 0, 0}));
}

TEST(SeqlockCell, LoadAndTryLoadReturnTheInitialValueBeforeAnyStore) {
  const SeqlockCell<Triple> cell(Triple::of(7));
  EXPECT_EQ(cell.load(), Triple::of(7));
  EXPECT_EQ(cell.try_load(), Triple::of(7));
  EXPECT_EQ(cell.try_load(3), Triple::of(7));
}

TEST(SeqlockCell, EveryStoreIsLoadedBackAsTheCopiesAlternate) {
  SeqlockCell<Triple> cell(Triple::of(0));
  for (std::uint64_t a = 1; a <= 9; ++a) {
    cell.store(Triple::of(a));
    EXPECT_EQ(cell.load(), Triple::of(a));
    EXPECT_EQ(cell.try_load(), Triple::of(a));
  }
}

TEST(SeqlockCell, TryStoreSucceedsWhenNoOtherWriteIsInFlight) {
  SeqlockCell<Triple> cell;
  EXPECT_TRUE(cell.try_store(Triple::of(5)));
  EXPECT_EQ(cell.load(), Triple::of(5));
  EXPECT_TRUE(cell.try_store(Triple::of(6)));
  EXPECT_EQ(cell.load(), Triple::of(6));
}

TEST(SeqlockCell, TryUpdatePassesTheCurrentValueAndPublishesWhatTheFunctionWrote) {
  SeqlockCell<Triple> cell(Triple::of(10));
  Triple seen{};
  EXPECT_TRUE(cell.try_update([&](Triple& value) {
    seen = value;
    value = Triple::of(value.a + 1);
    return true;
  }));
  EXPECT_EQ(seen, Triple::of(10));
  EXPECT_EQ(cell.load(), Triple::of(11));
}

TEST(SeqlockCell, TryUpdateWhoseFunctionReturnsFalseLeavesTheValueUnchanged) {
  SeqlockCell<Triple> cell(Triple::of(10));
  EXPECT_FALSE(cell.try_update([](Triple& value) {
    value = Triple::of(99);
    return false;
  }));
  EXPECT_EQ(cell.load(), Triple::of(10));
  // The cell was released: the next writes succeed and alternate copies as usual.
  EXPECT_TRUE(cell.try_store(Triple::of(11)));
  EXPECT_TRUE(cell.try_update([](Triple& value) { value = Triple::of(value.a + 1); }));
  EXPECT_EQ(cell.load(), Triple::of(12));
}

TEST(SeqlockCell, TryUpdateWithAVoidFunctionAlwaysPublishes) {
  SeqlockCell<std::uint64_t> cell(1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(cell.try_update([](std::uint64_t& v) { v *= 2; }));
  EXPECT_EQ(cell.load(), 32u);
}

TEST(SeqlockCell, WritesFailAtOnceWithoutCallingTheirFunctionWhileAnUpdateIsInFlight) {
  SeqlockCell<Triple> cell(Triple::of(1));
  bool inner_called = false;
  bool inner_update = true;
  bool inner_store = true;
  EXPECT_TRUE(cell.try_update([&](Triple& value) {
    inner_update = cell.try_update([&](Triple&) {
      inner_called = true;
      return true;
    });
    inner_store = cell.try_store(Triple::of(50));
    value = Triple::of(2);
    return true;
  }));
  EXPECT_FALSE(inner_called);
  EXPECT_FALSE(inner_update);
  EXPECT_FALSE(inner_store);
  EXPECT_EQ(cell.load(), Triple::of(2));
}

TEST(SeqlockCell, ReadersLoadTheNewestCompletedValueWhileAWriterIsMidUpdate) {
  // The writer fills the other copy, so a stalled writer never stalls readers.
  SeqlockCell<Triple> cell(Triple::of(1));
  cell.store(Triple::of(2));
  std::optional<Triple> during;
  std::optional<Triple> during_declined;
  cell.try_update([&](Triple& value) {
    during = cell.try_load();
    value = Triple::of(3);
    return true;
  });
  cell.try_update([&](Triple& value) {
    value = Triple::of(4);
    during_declined = cell.try_load();
    return false;
  });
  EXPECT_EQ(during, Triple::of(2));
  EXPECT_EQ(during_declined, Triple::of(3));
  EXPECT_EQ(cell.load(), Triple::of(3));
}

TEST(SeqlockCell, UpdateWhoseFunctionThrowsReleasesTheCellUnchanged) {
  SeqlockCell<Triple> cell(Triple::of(4));
  const auto failing = [](Triple& value) -> bool {
    value = Triple::of(100);
    throw std::runtime_error("update failed");
  };
  EXPECT_THROW(cell.try_update(failing), std::runtime_error);
  EXPECT_EQ(cell.load(), Triple::of(4));
  EXPECT_TRUE(cell.try_store(Triple::of(5)));
  EXPECT_EQ(cell.load(), Triple::of(5));
}

TEST(SeqlockCell, TryUpdateIsNoexceptExactlyWhenItsFunctionIs) {
  SeqlockCell<Triple> cell;
  auto quiet = [](Triple&) noexcept { return true; };
  auto loud = [](Triple&) { return true; };
  static_assert(noexcept(cell.try_update(quiet)));
  static_assert(!noexcept(cell.try_update(loud)));
  EXPECT_TRUE(cell.try_update(quiet));
}

TEST(SeqlockCell, ValuesWhoseSizeIsNotAMultipleOfEightRoundTrip) {
  SeqlockCell<ThreeBytes> three(ThreeBytes{1, 2, 3});
  EXPECT_EQ(three.load(), (ThreeBytes{1, 2, 3}));
  three.store(ThreeBytes{0xFF, 0x80, 0x01});
  EXPECT_EQ(three.load(), (ThreeBytes{0xFF, 0x80, 0x01}));

  ThirteenBytes value{};
  for (std::size_t i = 0; i < value.bytes.size(); ++i) value.bytes[i] = static_cast<std::uint8_t>(200 + i);
  SeqlockCell<ThirteenBytes> thirteen(ThirteenBytes{});
  thirteen.store(value);
  EXPECT_EQ(thirteen.load(), value);

  SeqlockCell<std::uint8_t> one(7);
  one.store(250);
  EXPECT_EQ(one.load(), 250);
}

TEST(SeqlockCell, ValuesSpanningSeveralCacheLinesRoundTrip) {
  using Big = std::array<std::uint64_t, 40>;
  Big value{};
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = 0x0101010101010101u * i;
  SeqlockCell<Big> cell(Big{});
  cell.store(value);
  EXPECT_EQ(cell.load(), value);
  value[39] = 1;
  cell.store(value);
  EXPECT_EQ(cell.try_load(), value);
}

TEST(SeqlockCell, NegativeAndFloatingPointFieldsRoundTripBitExactly) {
  struct Reading {
    double peak;
    float rms;
    std::int32_t clips;
  };
  SeqlockCell<Reading> cell(Reading{-0.0, 0.5f, -3});
  const Reading r = cell.load();
  EXPECT_TRUE(std::signbit(r.peak));
  EXPECT_EQ(r.rms, 0.5f);
  EXPECT_EQ(r.clips, -3);
}

#ifndef NDEBUG

class SeqlockCellDeathTest : public testing::Test {
 protected:
  void SetUp() override { nowait::test::use_reexec_death_tests_unless_told_otherwise(); }
};

TEST_F(SeqlockCellDeathTest, StoreWhileAnUpdateIsInFlightAbortsInDebugBuilds) {
  SeqlockCell<Triple> cell;
  const auto store_inside = [&](Triple&) {
    cell.store(Triple::of(1));
    return true;
  };
  EXPECT_DEATH(cell.try_update(store_inside), "another store or try_update is in flight");
}

#else

TEST(SeqlockCell, StoreThatClashesWithAnUpdateIsDroppedInReleaseBuilds) {
  SeqlockCell<Triple> cell(Triple::of(1));
  cell.try_update([&](Triple& value) {
    cell.store(Triple::of(50));
    value = Triple::of(2);
    return true;
  });
  EXPECT_EQ(cell.load(), Triple::of(2));
}

#endif

// ---------------------------------------------------------------------------
// TripleBuffer

using TripleU64 = TripleBuffer<std::uint64_t>;

static_assert(!std::is_copy_constructible_v<TripleU64::Writer>);
static_assert(!std::is_copy_constructible_v<TripleU64::Reader>);
static_assert(std::is_nothrow_move_constructible_v<TripleU64::Writer>);
static_assert(std::is_nothrow_move_constructible_v<TripleU64::Reader>);

TEST(TripleBuffer, ReaderSeesTheInitialValueAndNoUpdateBeforeAnyPublish) {
  auto [writer, reader] = TripleU64::create(42);
  EXPECT_EQ(reader.front(), 42u);
  EXPECT_FALSE(reader.update());
  EXPECT_EQ(reader.front(), 42u);
  EXPECT_EQ(writer.back(), 42u);
}

TEST(TripleBuffer, UpdateTakesAPublishedValueExactlyOnce) {
  auto [writer, reader] = TripleU64::create(0);
  writer.back() = 1;
  writer.publish();
  EXPECT_TRUE(reader.update());
  EXPECT_EQ(reader.front(), 1u);
  EXPECT_FALSE(reader.update());
  EXPECT_EQ(reader.front(), 1u);
}

TEST(TripleBuffer, ReaderGetsOnlyTheNewestOfSeveralPublishes) {
  auto [writer, reader] = TripleU64::create(0);
  for (std::uint64_t v = 1; v <= 5; ++v) {
    writer.back() = v;
    writer.publish();
  }
  EXPECT_TRUE(reader.update());
  EXPECT_EQ(reader.front(), 5u);
  EXPECT_FALSE(reader.update());
}

TEST(TripleBuffer, PublishOfAValueCopiesItIntoTheBackBuffer) {
  auto [writer, reader] = TripleBuffer<std::string>::create("initial");
  writer.publish(std::string("first"));
  writer.publish(std::string("second"));
  EXPECT_TRUE(reader.update());
  EXPECT_EQ(reader.front(), "second");
}

TEST(TripleBuffer, WriterAndReaderNeverHoldTheSameBufferAndUseExactlyThree) {
  auto [writer, reader] = TripleU64::create(0);
  std::set<const std::uint64_t*> seen;
  // Every pattern of publishes and updates over 10 steps (bit i: publish or update).
  for (unsigned pattern = 0; pattern < (1u << 10); ++pattern) {
    for (unsigned step = 0; step < 10; ++step) {
      if ((pattern >> step) & 1u) {
        writer.publish();
      } else {
        reader.update();
      }
      ASSERT_NE(&writer.back(), &reader.front());
      seen.insert(&writer.back());
      seen.insert(&reader.front());
    }
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(TripleBuffer, BackBufferHoldsAnOlderValueThatTheWriterOverwrites) {
  auto [writer, reader] = TripleU64::create(0);
  writer.back() = 1;
  writer.publish();  // back is now the old middle (initial value)
  EXPECT_EQ(writer.back(), 0u);
  EXPECT_TRUE(reader.update());  // the reader's old front goes to the middle
  writer.back() = 2;
  writer.publish();  // the writer takes the reader's old front
  EXPECT_EQ(writer.back(), 0u);
  EXPECT_TRUE(reader.update());
  EXPECT_EQ(reader.front(), 2u);
  EXPECT_EQ(writer.back(), 0u);
  writer.publish();  // republishing a stale back buffer is the writer's business
  EXPECT_TRUE(reader.update());
  EXPECT_EQ(reader.front(), 0u);
}

TEST(TripleBuffer, CreateMakesThreeCopiesAndNothingIsConstructedAfterwards) {
  LifetimeStats stats;
  {
    const Counted initial(stats, 7);
    auto [writer, reader] = TripleBuffer<Counted>::create(initial);
    EXPECT_EQ(stats.constructed.load(), 4);
    for (std::uint64_t v = 1; v <= 100; ++v) {
      writer.back() = Counted(stats, v);  // one temporary per step, assigned, destroyed
      writer.publish();
      if (v % 3 == 0) {
        EXPECT_TRUE(reader.update());
        EXPECT_EQ(reader.front().value(), v);
      }
    }
    EXPECT_EQ(stats.constructed.load(), 104);
    EXPECT_EQ(stats.alive(), 4);
  }
  EXPECT_EQ(stats.alive(), 0);
}

TEST(TripleBuffer, BuffersAreDestroyedOnceWhicheverEndIsDestroyedLast) {
  LifetimeStats stats;
  {
    auto [writer, reader] = TripleBuffer<Counted>::create(Counted(stats, 1));
    EXPECT_EQ(stats.alive(), 3);
    { auto gone = std::move(writer); }
    EXPECT_EQ(stats.alive(), 3);
    EXPECT_EQ(reader.front().value(), 1u);
  }
  EXPECT_EQ(stats.alive(), 0);
  {
    auto [writer, reader] = TripleBuffer<Counted>::create(Counted(stats, 2));
    { auto gone = std::move(reader); }
    EXPECT_EQ(stats.alive(), 3);
    writer.publish();
  }
  EXPECT_EQ(stats.alive(), 0);
}

TEST(TripleBuffer, MovedEndpointsKeepTheirBuffers) {
  auto [writer, reader] = TripleU64::create(0);
  writer.back() = 9;
  auto moved_writer = std::move(writer);
  moved_writer.publish();
  auto moved_reader = std::move(reader);
  EXPECT_TRUE(moved_reader.update());
  EXPECT_EQ(moved_reader.front(), 9u);
}

TEST(TripleBuffer, NonTrivialValuesKeepTheirContentsAcrossPublishes) {
  auto [writer, reader] = TripleBuffer<std::vector<int>>::create(std::vector<int>(8, 0));
  for (int round = 1; round <= 4; ++round) {
    std::vector<int>& back = writer.back();
    ASSERT_EQ(back.size(), 8u);
    for (int& x : back) x = round;
    writer.publish();
    ASSERT_TRUE(reader.update());
    EXPECT_EQ(reader.front(), std::vector<int>(8, round));
  }
}

// ---------------------------------------------------------------------------
// SharedSnapshot

// An immutable value that counts its lifetimes through its Counted member.
struct Config {
  Config(LifetimeStats& stats, std::uint64_t v) : tag(stats, v), values(4, v) {}
  Counted tag;
  std::vector<std::uint64_t> values;
  std::uint64_t version() const { return tag.value(); }
};

using Snapshot = SharedSnapshot<Config>;

}  // namespace

// Drives a SharedSnapshot read one step at a time, so the tests can put a
// publish or a reclaim between announcing a read and claiming it.
template <>
struct nowait::detail::SharedSnapshotTestProbe<Config> {
  static const Config* announce(Snapshot::Reader& reader) { return reader.announce(); }
  static Snapshot::Guard claim(Snapshot::Reader& reader, const Config* loaded) {
    return reader.claim(loaded);
  }
};

namespace {

using Probe = nowait::detail::SharedSnapshotTestProbe<Config>;

static_assert(!std::is_copy_constructible_v<Snapshot::Reader>);
static_assert(!std::is_copy_constructible_v<Snapshot::Guard>);
static_assert(std::is_nothrow_move_constructible_v<Snapshot::Reader>);

std::unique_ptr<Config> config(LifetimeStats& stats, std::uint64_t v) {
  return std::make_unique<Config>(stats, v);
}

TEST(SharedSnapshot, ReaderSeesTheInitialValue) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  auto reader = snap.make_reader();
  const auto guard = reader.read();
  EXPECT_EQ(guard->version(), 1u);
  EXPECT_EQ((*guard).values, std::vector<std::uint64_t>(4, 1));
  EXPECT_EQ(snap.max_readers(), 2u);
}

TEST(SharedSnapshot, ReadAfterAPublishSeesTheNewValue) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  auto reader = snap.make_reader();
  for (std::uint64_t v = 2; v <= 5; ++v) {
    snap.publish(config(stats, v));
    EXPECT_EQ(reader.read()->version(), v);
  }
}

TEST(SharedSnapshot, PublishOfAValueMakesAHeapCopy) {
  SharedSnapshot<std::string> snap(std::string("a"), 1);
  auto reader = snap.make_reader();
  snap.publish(std::string("b"));
  EXPECT_EQ(*reader.read(), "b");
}

TEST(SharedSnapshot, PublishFreesTheOldValueAtOnceWhenNoGuardHoldsIt) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  auto reader = snap.make_reader();
  { EXPECT_EQ(reader.read()->version(), 1u); }
  snap.publish(config(stats, 2));
  EXPECT_EQ(stats.alive(), 1);
  EXPECT_EQ(snap.retired_count(), 0u);
}

TEST(SharedSnapshot, OldValueHeldByAGuardSurvivesPublishAndIsFreedByReclaimOnceTheGuardEnds) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  auto old_reader = snap.make_reader();
  auto new_reader = snap.make_reader();
  {
    const auto held = old_reader.read();
    snap.publish(config(stats, 2));
    EXPECT_EQ(stats.alive(), 2);
    EXPECT_EQ(snap.retired_count(), 1u);
    EXPECT_EQ(held->version(), 1u);
    EXPECT_EQ(held->values, std::vector<std::uint64_t>(4, 1));
    EXPECT_EQ(new_reader.read()->version(), 2u);
    EXPECT_EQ(snap.reclaim(), 0u);
  }
  EXPECT_EQ(stats.alive(), 2);  // the guard's end frees nothing: readers never free
  EXPECT_EQ(snap.reclaim(), 1u);
  EXPECT_EQ(stats.alive(), 1);
  EXPECT_EQ(snap.retired_count(), 0u);
  EXPECT_EQ(snap.reclaim(), 0u);
}

TEST(SharedSnapshot, OldValueIsFreedByTheNextPublishAfterItsGuardEnds) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  {
    const auto held = reader.read();
    snap.publish(config(stats, 2));
    snap.publish(config(stats, 3));  // 2 had no guard: freed at once; 1 still held
    EXPECT_EQ(stats.alive(), 2);
  }
  snap.publish(config(stats, 4));  // frees 1 and 3
  EXPECT_EQ(stats.alive(), 1);
  EXPECT_EQ(reader.read()->version(), 4u);
}

TEST(SharedSnapshot, ReadInterruptedBeforeItClaimsUsesTheValueThePublisherHandedIt) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  const Config* loaded = Probe::announce(reader);
  EXPECT_EQ(loaded->version(), 1u);
  // The publisher finds the read announced but unclaimed: it hands the reader
  // the new value, and frees the old one at once since the reader never claimed it.
  snap.publish(config(stats, 2));
  EXPECT_EQ(stats.alive(), 1);
  const auto guard = Probe::claim(reader, loaded);
  EXPECT_EQ(guard->version(), 2u);
  // The handed value is protected like any other.
  snap.publish(config(stats, 3));
  EXPECT_EQ(stats.alive(), 2);
  EXPECT_EQ(guard->version(), 2u);
}

TEST(SharedSnapshot, ReadThatClaimsBeforeThePublisherScansKeepsItsValueAlive) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  const Config* loaded = Probe::announce(reader);
  {
    const auto guard = Probe::claim(reader, loaded);
    snap.publish(config(stats, 2));
    EXPECT_EQ(stats.alive(), 2);
    EXPECT_EQ(guard->version(), 1u);
  }
  EXPECT_EQ(snap.reclaim(), 1u);
}

TEST(SharedSnapshot, ReclaimLeavesAnAnnouncedReadAloneAndItClaimsTheCurrentValue) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  snap.publish(config(stats, 2));
  const Config* loaded = Probe::announce(reader);
  EXPECT_EQ(snap.reclaim(), 0u);
  const auto guard = Probe::claim(reader, loaded);
  EXPECT_EQ(guard->version(), 2u);
  EXPECT_EQ(stats.alive(), 1);
}

TEST(SharedSnapshot, AtMostMaxReadersRetiredValuesSurviveAScan) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 0), 3);
  std::vector<Snapshot::Reader> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(snap.make_reader());
  {
    auto g0 = readers[0].read();
    snap.publish(config(stats, 1));
    auto g1 = readers[1].read();
    snap.publish(config(stats, 2));
    auto g2 = readers[2].read();
    for (std::uint64_t v = 3; v <= 20; ++v) {
      snap.publish(config(stats, v));
      EXPECT_EQ(snap.retired_count(), 3u);
      EXPECT_EQ(stats.alive(), 4);
    }
    EXPECT_EQ(g0->version(), 0u);
    EXPECT_EQ(g1->version(), 1u);
    EXPECT_EQ(g2->version(), 2u);
  }
  EXPECT_EQ(snap.reclaim(), 3u);
  EXPECT_EQ(stats.alive(), 1);
}

TEST(SharedSnapshot, MakeReaderThrowsWhenEverySlotIsTakenAndReusesAFreedSlot) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  auto first = snap.make_reader();
  std::optional<Snapshot::Reader> second(snap.make_reader());
  EXPECT_THROW(static_cast<void>(snap.make_reader()), std::length_error);
  second.reset();
  auto third = snap.make_reader();
  EXPECT_EQ(third.read()->version(), 1u);
}

TEST(SharedSnapshot, TryMakeReaderReturnsNothingWhenEverySlotIsTakenAndReusesAFreedSlot) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 2);
  std::optional<Snapshot::Reader> first = snap.try_make_reader();
  std::optional<Snapshot::Reader> second = snap.try_make_reader();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(snap.try_make_reader().has_value());
  second.reset();
  std::optional<Snapshot::Reader> third = snap.try_make_reader();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->read()->version(), 1u);
  static_assert(noexcept(snap.try_make_reader()));
}

TEST(SharedSnapshot, ConstructorRejectsZeroReadersAndANullValue) {
  LifetimeStats stats;
  EXPECT_THROW(static_cast<void>(Snapshot(config(stats, 1), 0)), std::invalid_argument);
  EXPECT_THROW(static_cast<void>(Snapshot(std::unique_ptr<Config>(), 1)), std::invalid_argument);
  EXPECT_EQ(stats.alive(), 0);
}

TEST(SharedSnapshot, PublishOfANullValueThrowsAndKeepsTheCurrentOne) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  EXPECT_THROW(snap.publish(std::unique_ptr<Config>()), std::invalid_argument);
  auto reader = snap.make_reader();
  EXPECT_EQ(reader.read()->version(), 1u);
}

TEST(SharedSnapshot, DestructorFreesTheCurrentValueAndEveryRetiredOne) {
  LifetimeStats stats;
  {
    Snapshot snap(config(stats, 1), 2);
    {
      auto reader = snap.make_reader();
      const auto guard = reader.read();
      snap.publish(config(stats, 2));
      snap.publish(config(stats, 3));
    }
    EXPECT_EQ(stats.alive(), 2);  // 1 waits for a scan; 3 is current
  }
  EXPECT_EQ(stats.alive(), 0);
  EXPECT_EQ(stats.constructed.load(), 3);
}

TEST(SharedSnapshot, MovedReaderKeepsItsSlotAndMovedGuardKeepsItsValue) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  auto moved = std::move(reader);
  {
    auto guard = moved.read();
    auto moved_guard = std::move(guard);
    snap.publish(config(stats, 2));
    EXPECT_EQ(moved_guard->version(), 1u);
    EXPECT_EQ(moved_guard.get()->version(), 1u);
  }
  EXPECT_EQ(snap.reclaim(), 1u);
  EXPECT_THROW(static_cast<void>(snap.make_reader()), std::length_error);
  Snapshot::Reader assigned = std::move(moved);
  EXPECT_EQ(assigned.read()->version(), 2u);
}

#ifndef NDEBUG

class SharedSnapshotDeathTest : public testing::Test {
 protected:
  void SetUp() override { nowait::test::use_reexec_death_tests_unless_told_otherwise(); }
};

class TripleBufferDeathTest : public testing::Test {
 protected:
  void SetUp() override { nowait::test::use_reexec_death_tests_unless_told_otherwise(); }
};

TEST_F(TripleBufferDeathTest, UsingAMovedFromWriterAbortsInDebugBuilds) {
  auto [writer, reader] = TripleU64::create(0);
  auto moved = std::move(writer);
  EXPECT_DEATH(static_cast<void>(writer.back()), "TripleBuffer::Writer used after it was moved from");
  EXPECT_DEATH(writer.publish(), "TripleBuffer::Writer used after it was moved from");
  EXPECT_DEATH(writer.publish(std::uint64_t{5}), "TripleBuffer::Writer used after it was moved from");
  EXPECT_FALSE(reader.update());
}

TEST_F(TripleBufferDeathTest, UsingAMovedFromReaderAbortsInDebugBuilds) {
  auto [writer, reader] = TripleU64::create(0);
  writer.publish(3);
  auto moved = std::move(reader);
  EXPECT_DEATH(static_cast<void>(reader.update()), "TripleBuffer::Reader used after it was moved from");
  EXPECT_DEATH(static_cast<void>(reader.front()), "TripleBuffer::Reader used after it was moved from");
  EXPECT_TRUE(moved.update());
  EXPECT_EQ(moved.front(), 3u);
}

TEST_F(SharedSnapshotDeathTest, ReadingWhileAGuardOfTheSameReaderIsAliveAbortsInDebugBuilds) {
  LifetimeStats stats;
  Snapshot snap(config(stats, 1), 1);
  auto reader = snap.make_reader();
  const auto guard = reader.read();
  EXPECT_DEATH(static_cast<void>(reader.read()), "a guard of this reader is still alive");
}

TEST_F(SharedSnapshotDeathTest, DestroyingTheSnapshotWhileAReaderExistsAbortsInDebugBuilds) {
  EXPECT_DEATH(
      {
        LifetimeStats stats;
        auto snap = std::make_unique<Snapshot>(config(stats, 1), 1);
        auto reader = snap->make_reader();
        snap.reset();
      },
      "destroyed while a Reader still exists");
}

#endif

// ---------------------------------------------------------------------------
// Real-time paths, checked by the rtsan build at compile time and at run time.

struct RtResults {
  std::optional<Triple> tried;
  Triple loaded;
  bool stored_again;
  bool updated;
  bool took_block;
  std::uint64_t front;
  std::uint64_t config_version;
  std::uint64_t config_value;
  bool reader_refused;
};

RtResults rt_round(SeqlockCell<Triple>& cell, TripleU64::Writer& writer, TripleU64::Reader& reader,
                   Snapshot& snap, Snapshot::Reader& snapshot_reader,
                   std::uint64_t v) noexcept NOWAIT_NONBLOCKING {
  RtResults r{};
  cell.store(Triple::of(v));
  r.tried = cell.try_load();
  r.stored_again = cell.try_store(Triple::of(v + 1));
  r.updated = cell.try_update([](Triple& t) noexcept { t = Triple::of(t.a + 1); });
  r.loaded = cell.load();
  writer.back() = v;
  writer.publish();
  r.took_block = reader.update();
  r.front = reader.front();
  const auto guard = snapshot_reader.read();
  r.config_version = guard->version();
  r.config_value = guard->values[0];
  // Every slot is taken: the refusal must not allocate (rtsan checks).
  r.reader_refused = !snap.try_make_reader().has_value();
  return r;
}

TEST(SnapshotRealtime, StoreLoadPublishUpdateReadAndARefusedReaderRunInsideNonblockingFunctions) {
  LifetimeStats stats;
  SeqlockCell<Triple> cell;
  auto [writer, reader] = TripleU64::create(0);
  Snapshot snap(config(stats, 1), 1);
  auto snapshot_reader = snap.make_reader();
  for (std::uint64_t v = 1; v <= 3; ++v) {
    snap.publish(config(stats, 10 * v));
    const RtResults r = rt_round(cell, writer, reader, snap, snapshot_reader, v);
    EXPECT_EQ(r.tried, Triple::of(v));
    EXPECT_TRUE(r.stored_again);
    EXPECT_TRUE(r.updated);
    EXPECT_EQ(r.loaded, Triple::of(v + 2));
    EXPECT_TRUE(r.took_block);
    EXPECT_EQ(r.front, v);
    EXPECT_EQ(r.config_version, 10 * v);
    EXPECT_EQ(r.config_value, 10 * v);
    EXPECT_TRUE(r.reader_refused);
  }
  EXPECT_EQ(stats.alive(), 1);
}

}  // namespace
