// Single-threaded behaviour of BroadcastRing: creation, the item/empty/dropout
// contract with exact counts, joining, skipping, odd block sizes, shared
// ownership and the debug preconditions. Concurrency is in broadcast_ring_stress_test.cpp.
#include "nowait/broadcast_ring.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "support/death_test.hpp"

namespace {

using nowait::BroadcastRing;
using nowait::ReadResult;
using nowait::ReadStatus;

using FloatRing = BroadcastRing<float>;
using WordRing = BroadcastRing<std::uint64_t>;

static_assert(!std::is_copy_constructible_v<FloatRing::Writer>);
static_assert(!std::is_copy_constructible_v<FloatRing::Reader>);
static_assert(std::is_nothrow_move_constructible_v<FloatRing::Writer>);
static_assert(std::is_nothrow_move_constructible_v<FloatRing::Reader>);
static_assert(std::is_copy_constructible_v<FloatRing>);
static_assert(noexcept(std::declval<FloatRing::Writer&>().write(std::span<const float>{})));
static_assert(noexcept(std::declval<FloatRing::Reader&>().read(std::span<float>{})));
static_assert(noexcept(std::declval<FloatRing::Reader&>().skip_ahead()));

// Writes items first, first + 1, ... to a ring of single-element slots.
void write_values(WordRing::Writer& writer, std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t i = 0; i < count; ++i) writer.write(first + i);
}

void expect_item(WordRing::Reader& reader, std::uint64_t sequence, std::uint64_t value) {
  std::uint64_t out = 0;
  const ReadResult r = reader.read(out);
  EXPECT_EQ(r.status, ReadStatus::item);
  EXPECT_EQ(r.sequence, sequence);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(out, value);
}

void expect_empty(WordRing::Reader& reader, std::uint64_t position) {
  std::uint64_t out = 0;
  const ReadResult r = reader.read(out);
  EXPECT_EQ(r.status, ReadStatus::empty);
  EXPECT_EQ(r.sequence, position);
  EXPECT_EQ(r.lost, 0u);
}

void expect_dropout(WordRing::Reader& reader, std::uint64_t lost, std::uint64_t resume) {
  std::uint64_t out = 0;
  const ReadResult r = reader.read(out);
  EXPECT_EQ(r.status, ReadStatus::dropout);
  EXPECT_EQ(r.lost, lost);
  EXPECT_EQ(r.sequence, resume);
  EXPECT_EQ(reader.position(), resume);
}

TEST(BroadcastRing, CreateRejectsFewerThanTwoSlots) {
  EXPECT_THROW(static_cast<void>(FloatRing::create(0)), std::invalid_argument);
  EXPECT_THROW(static_cast<void>(FloatRing::create(1)), std::invalid_argument);
  EXPECT_THROW(static_cast<void>(FloatRing::create(1, 512)), std::invalid_argument);
}

TEST(BroadcastRing, CreateRejectsEmptySlots) {
  EXPECT_THROW(static_cast<void>(FloatRing::create(8, 0)), std::invalid_argument);
}

TEST(BroadcastRing, CreateRejectsStorageSizesThatOverflow) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  EXPECT_THROW(static_cast<void>(FloatRing::create(2, max / sizeof(float) + 1)), std::length_error);
  EXPECT_THROW(static_cast<void>(BroadcastRing<char>::create(2, max)), std::length_error);
  EXPECT_THROW(static_cast<void>(BroadcastRing<char>::create(2, max - 7)), std::length_error);
  EXPECT_THROW(static_cast<void>(FloatRing::create(max, 1)), std::length_error);
  EXPECT_THROW(static_cast<void>(FloatRing::create(max / 8, 1)), std::length_error);
}

TEST(BroadcastRing, CreateReportsTheRequestedGeometryAndNothingWritten) {
  auto [writer, hub] = FloatRing::create(16, 512);
  EXPECT_EQ(hub.slots(), 16u);
  EXPECT_EQ(hub.slot_elements(), 512u);
  EXPECT_EQ(hub.approx_written(), 0u);
  EXPECT_EQ(writer.written(), 0u);
  auto [scalar_writer, scalar_hub] = FloatRing::create(2);
  EXPECT_EQ(scalar_hub.slots(), 2u);
  EXPECT_EQ(scalar_hub.slot_elements(), 1u);
}

TEST(BroadcastRing, ReaderSeesEmptyBeforeAnythingIsWritten) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  EXPECT_EQ(reader.position(), 0u);
  EXPECT_EQ(reader.approx_behind(), 0u);
  expect_empty(reader, 0);
  expect_empty(reader, 0);
}

TEST(BroadcastRing, ReaderReceivesEveryItemOnceInOrderThenEmpty) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 100, 3);
  EXPECT_EQ(writer.written(), 3u);
  EXPECT_EQ(hub.approx_written(), 3u);
  EXPECT_EQ(reader.approx_behind(), 3u);
  expect_item(reader, 0, 100);
  expect_item(reader, 1, 101);
  expect_item(reader, 2, 102);
  expect_empty(reader, 3);
  EXPECT_EQ(reader.approx_behind(), 0u);
  writer.write(std::uint64_t{103});
  expect_item(reader, 3, 103);
  expect_empty(reader, 4);
}

TEST(BroadcastRing, ItemsKeepFlowingAcrossManyWrapArounds) {
  auto [writer, hub] = WordRing::create(3);
  auto reader = hub.subscribe();
  for (std::uint64_t i = 0; i < 1000; ++i) {
    writer.write(i * 7);
    if (i % 2 == 1) {
      expect_item(reader, i - 1, (i - 1) * 7);
      expect_item(reader, i, i * 7);
    }
  }
  expect_empty(reader, 1000);
}

TEST(BroadcastRing, ReaderThatFallsBehindByExactlySlotsItemsLosesNothing) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 10, 4);
  EXPECT_EQ(reader.approx_behind(), 4u);
  for (std::uint64_t s = 0; s < 4; ++s) expect_item(reader, s, 10 + s);
  expect_empty(reader, 4);
}

TEST(BroadcastRing, ReaderLappedByOneItemLosesTheOverwrittenItemAndOneItemOfMargin) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 10, 5);   // item 4 overwrote item 0
  expect_dropout(reader, 2, 2);  // resume at written - slots + 1 = 2
  expect_item(reader, 2, 12);
  expect_item(reader, 3, 13);
  expect_item(reader, 4, 14);
  expect_empty(reader, 5);
}

TEST(BroadcastRing, ReaderLappedThreeTimesReportsTheExactLossOnceAndResumesNearTheNewest) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 10, 12);
  EXPECT_EQ(reader.approx_behind(), 12u);
  expect_dropout(reader, 9, 9);
  expect_item(reader, 9, 19);
  expect_item(reader, 10, 20);
  expect_item(reader, 11, 21);
  expect_empty(reader, 12);
  // delivered + lost == written
  EXPECT_EQ(3u + 9u, writer.written());
}

TEST(BroadcastRing, ReaderPartwayThroughTheRingLosesOnlyWhatWasOverwritten) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 0, 4);
  expect_item(reader, 0, 0);
  expect_item(reader, 1, 1);
  write_values(writer, 4, 2);  // items 4 and 5 overwrite 0 and 1: the reader is exactly slots behind
  expect_item(reader, 2, 2);
  write_values(writer, 6, 2);  // item 7 overwrites 3; the reader wants 3
  expect_dropout(reader, 2, 5);
  expect_item(reader, 5, 5);
  expect_item(reader, 6, 6);
  expect_item(reader, 7, 7);
  expect_empty(reader, 8);
}

TEST(BroadcastRing, TwoSlotRingResumesAtTheNewestItemAfterADropout) {
  auto [writer, hub] = WordRing::create(2);
  auto reader = hub.subscribe();
  write_values(writer, 0, 3);
  expect_dropout(reader, 2, 2);
  expect_item(reader, 2, 2);
  expect_empty(reader, 3);
}

TEST(BroadcastRing, SkipAheadReturnsTheUnreadCountAndIsNotReportedAsADropout) {
  auto [writer, hub] = WordRing::create(8);
  auto reader = hub.subscribe();
  write_values(writer, 0, 5);
  expect_item(reader, 0, 0);
  EXPECT_EQ(reader.skip_ahead(), 4u);
  EXPECT_EQ(reader.position(), 5u);
  EXPECT_EQ(reader.approx_behind(), 0u);
  expect_empty(reader, 5);
  writer.write(std::uint64_t{55});
  expect_item(reader, 5, 55);
}

TEST(BroadcastRing, SkipAheadOverALappedReaderCountsEverythingAndReportsNoDropout) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 0, 20);
  EXPECT_EQ(reader.skip_ahead(), 20u);
  expect_empty(reader, 20);
  write_values(writer, 20, 2);
  expect_item(reader, 20, 20);
  expect_item(reader, 21, 21);
}

TEST(BroadcastRing, SkipAheadOnACaughtUpReaderReturnsZero) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  EXPECT_EQ(reader.skip_ahead(), 0u);
  write_values(writer, 0, 2);
  expect_item(reader, 0, 0);
  expect_item(reader, 1, 1);
  EXPECT_EQ(reader.skip_ahead(), 0u);
  EXPECT_EQ(reader.position(), 2u);
}

TEST(BroadcastRing, ReaderThatJoinsLateStartsAtTheNewestItem) {
  auto [writer, hub] = WordRing::create(4);
  write_values(writer, 0, 3);
  auto reader = hub.subscribe();
  EXPECT_EQ(reader.position(), 3u);
  EXPECT_EQ(reader.approx_behind(), 0u);
  expect_empty(reader, 3);
  writer.write(std::uint64_t{30});
  expect_item(reader, 3, 30);
  expect_empty(reader, 4);
}

TEST(BroadcastRing, ReaderThatJoinsAfterManyLapsSeesNoDropout) {
  auto [writer, hub] = WordRing::create(4);
  write_values(writer, 0, 1000);
  auto reader = hub.subscribe();
  EXPECT_EQ(reader.position(), 1000u);
  write_values(writer, 1000, 4);
  for (std::uint64_t s = 1000; s < 1004; ++s) expect_item(reader, s, s);
  expect_empty(reader, 1004);
}

TEST(BroadcastRing, ReadersKeepIndependentCursors) {
  auto [writer, hub] = WordRing::create(4);
  auto fast = hub.subscribe();
  auto slow = hub.subscribe();
  for (std::uint64_t i = 0; i < 10; ++i) {
    writer.write(i + 100);
    expect_item(fast, i, i + 100);
  }
  expect_empty(fast, 10);
  expect_dropout(slow, 7, 7);
  auto late = hub.subscribe();
  expect_empty(late, 10);
  writer.write(std::uint64_t{110});
  expect_item(slow, 7, 107);
  expect_item(fast, 10, 110);
  expect_item(late, 10, 110);
  EXPECT_EQ(slow.approx_behind(), 3u);
  EXPECT_EQ(fast.approx_behind(), 0u);
}

TEST(BroadcastRing, CopiedHubSubscribesToTheSameRing) {
  auto [writer, hub] = WordRing::create(4);
  const WordRing copy = hub;
  auto reader = copy.subscribe();
  writer.write(std::uint64_t{9});
  EXPECT_EQ(copy.approx_written(), 1u);
  expect_item(reader, 0, 9);
}

TEST(BroadcastRing, MovedReaderKeepsItsPosition) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  write_values(writer, 0, 3);
  expect_item(reader, 0, 0);
  WordRing::Reader moved = std::move(reader);
  EXPECT_EQ(moved.position(), 1u);
  expect_item(moved, 1, 1);
  auto other = hub.subscribe();
  other = std::move(moved);
  expect_item(other, 2, 2);
  expect_empty(other, 3);
}

TEST(BroadcastRing, MovedWriterContinuesTheSequence) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  writer.write(std::uint64_t{1});
  WordRing::Writer moved = std::move(writer);
  EXPECT_EQ(moved.written(), 1u);
  moved.write(std::uint64_t{2});
  expect_item(reader, 0, 1);
  expect_item(reader, 1, 2);
}

TEST(BroadcastRing, AudioSizedBlocksRoundTripBitExactly) {
  constexpr std::size_t frames = 256;
  constexpr std::size_t channels = 2;
  auto [writer, hub] = FloatRing::create(4, frames * channels);
  auto reader = hub.subscribe();
  std::vector<float> block(frames * channels);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<float>(i) * 0.25f - 17.0f;
  block[3] = std::bit_cast<float>(std::uint32_t{0x7fc01234});  // a NaN with a payload
  block[4] = -0.0f;
  writer.write(block);
  std::vector<float> out(block.size(), 1.0f);
  const ReadResult r = reader.read(out);
  ASSERT_EQ(r.status, ReadStatus::item);
  EXPECT_EQ(r.sequence, 0u);
  for (std::size_t i = 0; i < block.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(out[i]), std::bit_cast<std::uint32_t>(block[i]))
        << "element " << i;
  }
}

TEST(BroadcastRing, BlocksOfThreeFloatsRoundTripAndLeaveTheRestOfTheBufferAlone) {
  auto [writer, hub] = FloatRing::create(3, 3);  // 12 bytes: one full word and a 4-byte tail
  auto reader = hub.subscribe();
  for (int i = 0; i < 7; ++i) {
    const std::array<float, 3> block{static_cast<float>(i), static_cast<float>(i) + 0.5f,
                                     -static_cast<float>(i)};
    writer.write(block);
    std::array<float, 4> out{0.0f, 0.0f, 0.0f, 99.0f};
    const ReadResult r = reader.read(out);
    ASSERT_EQ(r.status, ReadStatus::item);
    EXPECT_EQ(r.sequence, static_cast<std::uint64_t>(i));
    EXPECT_EQ(out[0], block[0]);
    EXPECT_EQ(out[1], block[1]);
    EXPECT_EQ(out[2], block[2]);
    EXPECT_EQ(out[3], 99.0f);
  }
}

struct Rgb {
  std::uint8_t r, g, b;
};
static_assert(sizeof(Rgb) == 3);

TEST(BroadcastRing, ThreeByteElementsRoundTripInSingleAndOddSizedBlocks) {
  {
    auto [writer, hub] = BroadcastRing<Rgb>::create(2);  // 3 bytes: only a tail word
    auto reader = hub.subscribe();
    writer.write(Rgb{1, 2, 3});
    Rgb out{0, 0, 0};
    ASSERT_EQ(reader.read(out).status, ReadStatus::item);
    EXPECT_EQ(out.r, 1);
    EXPECT_EQ(out.g, 2);
    EXPECT_EQ(out.b, 3);
  }
  {
    auto [writer, hub] = BroadcastRing<Rgb>::create(2, 5);  // 15 bytes: one word and a 7-byte tail
    auto reader = hub.subscribe();
    std::array<Rgb, 5> block{};
    for (std::uint8_t i = 0; i < 5; ++i) block[i] = Rgb{i, static_cast<std::uint8_t>(i + 100), 255};
    writer.write(block);
    std::array<Rgb, 6> out{};
    out[5] = Rgb{7, 7, 7};
    const ReadResult r = reader.read(out);
    ASSERT_EQ(r.status, ReadStatus::item);
    EXPECT_EQ(r.sequence, 0u);
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(out[i].r, block[i].r);
      EXPECT_EQ(out[i].g, block[i].g);
      EXPECT_EQ(out[i].b, block[i].b);
    }
    EXPECT_EQ(out[5].r, 7);
    EXPECT_EQ(out[5].g, 7);
    EXPECT_EQ(out[5].b, 7);
  }
}

TEST(BroadcastRing, LargeElementsSpanningSeveralCacheLinesRoundTrip) {
  struct Big {
    std::array<std::uint32_t, 37> values;  // 148 bytes
  };
  auto [writer, hub] = BroadcastRing<Big>::create(2, 3);
  auto reader = hub.subscribe();
  std::array<Big, 3> block{};
  for (std::size_t e = 0; e < 3; ++e) {
    for (std::size_t i = 0; i < 37; ++i) block[e].values[i] = static_cast<std::uint32_t>(e * 1000 + i);
  }
  writer.write(block);
  std::array<Big, 3> out{};
  ASSERT_EQ(reader.read(out).status, ReadStatus::item);
  for (std::size_t e = 0; e < 3; ++e) EXPECT_EQ(out[e].values, block[e].values);
}

TEST(BroadcastRing, ReaderKeepsReadingAfterTheWriterAndHubAreDestroyed) {
  std::optional<WordRing::Reader> reader;
  {
    auto [writer, hub] = WordRing::create(4);
    reader.emplace(hub.subscribe());
    write_values(writer, 40, 3);
  }
  expect_item(*reader, 0, 40);
  expect_item(*reader, 1, 41);
  expect_item(*reader, 2, 42);
  expect_empty(*reader, 3);
  EXPECT_EQ(reader->skip_ahead(), 0u);
  EXPECT_EQ(reader->approx_behind(), 0u);
}

TEST(BroadcastRing, WriterAndHubOutliveEveryReader) {
  auto [writer, hub] = WordRing::create(4);
  {
    auto reader = hub.subscribe();
    writer.write(std::uint64_t{1});
    expect_item(reader, 0, 1);
  }
  writer.write(std::uint64_t{2});
  EXPECT_EQ(hub.approx_written(), 2u);
  auto reader = hub.subscribe();
  expect_empty(reader, 2);
}

#ifndef NDEBUG

class BroadcastRingDeathTest : public testing::Test {
 protected:
  void SetUp() override { nowait::test::use_reexec_death_tests_unless_told_otherwise(); }
};

TEST_F(BroadcastRingDeathTest, WritingABlockOfTheWrongSizeAbortsInDebugBuilds) {
  auto [writer, hub] = FloatRing::create(4, 3);
  const std::array<float, 2> short_block{1.0f, 2.0f};
  const std::array<float, 4> long_block{1.0f, 2.0f, 3.0f, 4.0f};
  EXPECT_DEATH(writer.write(short_block), "block.size\\(\\) != slot_elements\\(\\)");
  EXPECT_DEATH(writer.write(long_block), "block.size\\(\\) != slot_elements\\(\\)");
}

TEST_F(BroadcastRingDeathTest, WritingOneItemToMultiElementSlotsAbortsInDebugBuilds) {
  auto [writer, hub] = FloatRing::create(4, 3);
  EXPECT_DEATH(writer.write(1.0f), "needs slot_elements\\(\\) == 1");
}

TEST_F(BroadcastRingDeathTest, ReadingIntoATooSmallBufferAbortsInDebugBuilds) {
  auto [writer, hub] = FloatRing::create(4, 3);
  auto reader = hub.subscribe();
  std::array<float, 2> small{};
  float one = 0.0f;
  EXPECT_DEATH(static_cast<void>(reader.read(small)), "out.size\\(\\) < slot_elements\\(\\)");
  EXPECT_DEATH(static_cast<void>(reader.read(one)), "needs slot_elements\\(\\) == 1");
}

TEST_F(BroadcastRingDeathTest, UsingAMovedFromWriterAbortsInDebugBuilds) {
  auto [writer, hub] = WordRing::create(4);
  for (std::uint64_t i = 0; i < 6; ++i) writer.write(i);
  auto moved = std::move(writer);
  const std::array<std::uint64_t, 1> block{7};
  EXPECT_DEATH(writer.write(std::uint64_t{7}), "Writer used after it was moved from");
  EXPECT_DEATH(writer.write(block), "Writer used after it was moved from");
  EXPECT_DEATH(static_cast<void>(writer.written()), "Writer used after it was moved from");
  EXPECT_EQ(hub.approx_written(), 6u);
  EXPECT_EQ(moved.written(), 6u);
}

TEST_F(BroadcastRingDeathTest, UsingAMovedFromReaderAbortsInDebugBuilds) {
  auto [writer, hub] = WordRing::create(4);
  auto reader = hub.subscribe();
  writer.write(std::uint64_t{1});
  auto moved = std::move(reader);
  std::uint64_t out = 0;
  std::array<std::uint64_t, 1> block{};
  EXPECT_DEATH(static_cast<void>(reader.read(out)), "Reader used after it was moved from");
  EXPECT_DEATH(static_cast<void>(reader.read(block)), "Reader used after it was moved from");
  EXPECT_DEATH(static_cast<void>(reader.skip_ahead()), "Reader used after it was moved from");
  EXPECT_DEATH(static_cast<void>(reader.position()), "Reader used after it was moved from");
  EXPECT_DEATH(static_cast<void>(reader.approx_behind()), "Reader used after it was moved from");
  ASSERT_EQ(moved.read(out).status, ReadStatus::item);
  EXPECT_EQ(out, 1u);
}

TEST_F(BroadcastRingDeathTest, UsingAMovedFromHubAbortsInDebugBuilds) {
  auto [writer, hub] = WordRing::create(4);
  auto moved = std::move(hub);
  EXPECT_DEATH(static_cast<void>(hub.subscribe()), "hub used after it was moved from");
  EXPECT_DEATH(static_cast<void>(hub.approx_written()), "hub used after it was moved from");
  EXPECT_DEATH(static_cast<void>(hub.slots()), "hub used after it was moved from");
  EXPECT_EQ(moved.slots(), 4u);
}

#else

TEST(BroadcastRing, ShortBlockIsZeroFilledInReleaseBuilds) {
  auto [writer, hub] = FloatRing::create(4, 3);
  auto reader = hub.subscribe();
  const std::array<float, 1> short_block{5.0f};
  writer.write(short_block);
  std::array<float, 3> out{9.0f, 9.0f, 9.0f};
  ASSERT_EQ(reader.read(out).status, ReadStatus::item);
  EXPECT_EQ(out[0], 5.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 0.0f);
}

TEST(BroadcastRing, LongBlockIsTruncatedAndSmallBufferGetsAPrefixInReleaseBuilds) {
  auto [writer, hub] = FloatRing::create(4, 2);
  auto reader = hub.subscribe();
  const std::array<float, 3> long_block{1.0f, 2.0f, 3.0f};
  writer.write(long_block);
  std::array<float, 1> small{0.0f};
  const ReadResult r = reader.read(small);
  ASSERT_EQ(r.status, ReadStatus::item);
  EXPECT_EQ(small[0], 1.0f);
}

#endif

}  // namespace
