// Unit tests for nowait::CommandChannel: ordering, full queues, lending and
// its reservations, the return path, counters, abandonment, and the
// real-time side run inside NOWAIT_NONBLOCKING functions.
#include "nowait/command_channel.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/death_test.hpp"
#include "support/lifetime_counter.hpp"

namespace {

using nowait::CommandChannel;

// An object the control side builds and lends; it records how often, and on
// which thread, it was destroyed.
struct Tracked {
  struct Log {
    std::atomic<int> destroyed{0};
    std::atomic<std::thread::id> destroyed_on{};
  };
  Tracked(Log& log_to, int v) : log(&log_to), value(v) {}
  ~Tracked() {
    log->destroyed_on.store(std::this_thread::get_id());
    log->destroyed.fetch_add(1);
  }
  Log* log;
  int value;
};

struct Command {
  int value = 0;
  Tracked* object = nullptr;
};

struct Reply {
  int value = 0;
};

using Channel = CommandChannel<Command, Reply>;

static_assert(nowait::realtime_safe_v<Command> && nowait::realtime_safe_v<Reply>);
static_assert(!std::is_copy_constructible_v<Channel::Control> &&
              std::is_nothrow_move_constructible_v<Channel::Control>);
static_assert(!std::is_copy_constructible_v<Channel::Realtime> &&
              std::is_nothrow_move_constructible_v<Channel::Realtime>);

TEST(CommandChannel, CreateThrowsInvalidArgumentWhenAnyCapacityIsZero) {
  EXPECT_THROW(Channel::create(0, 4, 4), std::invalid_argument);
  EXPECT_THROW(Channel::create(4, 0, 4), std::invalid_argument);
  EXPECT_THROW(Channel::create(4, 4, 0), std::invalid_argument);
  EXPECT_NO_THROW(Channel::create(1, 1, 1));
}

TEST(CommandChannel, CommandsArriveInTheOrderTheyWereSent) {
  auto [control, rt] = Channel::create(8, 8, 8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(control.try_send(Command{i, nullptr}));
  for (int i = 0; i < 8; ++i) {
    const std::optional<Command> cmd = rt.try_receive();
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->value, i);
  }
  EXPECT_FALSE(rt.try_receive().has_value());
}

TEST(CommandChannel, RepliesArriveInTheOrderTheyWereSent) {
  auto [control, rt] = Channel::create(8, 8, 8);
  EXPECT_FALSE(control.try_receive().has_value());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(rt.try_reply(Reply{100 + i}));
  for (int i = 0; i < 8; ++i) {
    const std::optional<Reply> reply = control.try_receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->value, 100 + i);
  }
  EXPECT_FALSE(control.try_receive().has_value());
  EXPECT_EQ(control.replies_dropped(), 0u);
}

TEST(CommandChannel, TrySendOnAFullCommandQueueReturnsFalseAndSendsNothing) {
  auto [control, rt] = Channel::create(3, 8, 8);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(control.try_send(Command{i, nullptr}));
  EXPECT_FALSE(control.try_send(Command{99, nullptr}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rt.try_receive()->value, i);
  EXPECT_FALSE(rt.try_receive().has_value());  // the refused 99 never arrives
  ASSERT_TRUE(control.try_send(Command{3, nullptr}));
  EXPECT_EQ(rt.try_receive()->value, 3);
}

TEST(CommandChannel, TrySendWithFailsWhenEveryReturnSlotIsReservedAndLeavesTheObjectOwned) {
  Tracked::Log log;
  auto [control, rt] = Channel::create(16, 8, 2);
  std::vector<Tracked*> held;
  for (int i = 0; i < 2; ++i) {
    auto object = std::make_unique<Tracked>(log, i);
    Tracked* raw = object.get();
    ASSERT_TRUE(control.try_send_with(object, Command{i, raw}));
    EXPECT_EQ(object, nullptr);
    held.push_back(rt.try_receive()->object);
  }
  EXPECT_EQ(control.lent(), 2u);

  auto third = std::make_unique<Tracked>(log, 2);
  Tracked* raw = third.get();
  EXPECT_FALSE(control.try_send_with(third, Command{2, raw}));
  EXPECT_EQ(third.get(), raw);                 // still the caller's
  EXPECT_FALSE(rt.try_receive().has_value());  // and no command went out
  EXPECT_EQ(control.lent(), 2u);

  // Retiring without collecting frees no reservation: the slot is only free
  // once the object is destroyed.
  rt.retire(held[0]);
  EXPECT_FALSE(control.try_send_with(third, Command{2, raw}));
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(control.lent(), 1u);
  ASSERT_TRUE(control.try_send_with(third, Command{2, raw}));
  EXPECT_EQ(third, nullptr);
  EXPECT_EQ(rt.try_receive()->object, raw);

  rt.retire(held[1]);
  rt.retire(raw);
  EXPECT_EQ(control.collect(), 2u);
  EXPECT_EQ(control.lent(), 0u);
  EXPECT_EQ(log.destroyed.load(), 3);
  EXPECT_EQ(rt.retire_overflows(), 0u);
}

TEST(CommandChannel, TrySendWithFailsWhenTheCommandQueueIsFullAndLeavesTheObjectOwned) {
  Tracked::Log log;
  auto [control, rt] = Channel::create(2, 8, 8);
  ASSERT_TRUE(control.try_send(Command{0, nullptr}));
  ASSERT_TRUE(control.try_send(Command{1, nullptr}));

  auto object = std::make_unique<Tracked>(log, 7);
  Tracked* raw = object.get();
  EXPECT_FALSE(control.try_send_with(object, Command{2, raw}));
  EXPECT_EQ(object.get(), raw);
  EXPECT_EQ(control.lent(), 0u);  // the failed attempt reserved nothing

  EXPECT_EQ(rt.try_receive()->value, 0);
  ASSERT_TRUE(control.try_send_with(object, Command{2, raw}));
  EXPECT_EQ(control.lent(), 1u);
  EXPECT_EQ(rt.try_receive()->value, 1);
  const std::optional<Command> cmd = rt.try_receive();
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(cmd->object, raw);
  rt.retire(cmd->object);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(log.destroyed.load(), 1);
}

TEST(CommandChannel, RetireAndCollectDestroyEachObjectExactlyOnceOnTheCollectingThread) {
  constexpr int count = 5;
  std::vector<Tracked::Log> logs(count);
  auto [control, rt] = Channel::create(8, 8, count);
  for (int i = 0; i < count; ++i) {
    auto object = std::make_unique<Tracked>(logs[static_cast<std::size_t>(i)], i);
    Tracked* raw = object.get();
    ASSERT_TRUE(control.try_send_with(object, Command{i, raw}));
  }
  // The RT side runs on its own thread: it must never destroy anything.
  std::thread rt_thread([&rt] {
    while (auto cmd = rt.try_receive()) rt.retire(cmd->object);
  });
  rt_thread.join();
  for (const Tracked::Log& log : logs) EXPECT_EQ(log.destroyed.load(), 0);

  EXPECT_EQ(control.collect(), static_cast<std::size_t>(count));
  EXPECT_EQ(control.collect(), 0u);
  for (const Tracked::Log& log : logs) {
    EXPECT_EQ(log.destroyed.load(), 1);
    EXPECT_EQ(log.destroyed_on.load(), std::this_thread::get_id());
  }
  EXPECT_EQ(control.lent(), 0u);
}

TEST(CommandChannel, RetireDestroysTheObjectAsTheTypeItWasRetiredAs) {
  nowait::test::LifetimeStats stats;
  using CountedChannel = CommandChannel<nowait::test::Counted*, int>;
  auto [control, rt] = CountedChannel::create(4, 4, 4);
  auto object = std::make_unique<nowait::test::Counted>(stats, 42);
  nowait::test::Counted* raw = object.get();
  ASSERT_TRUE(control.try_send_with(object, raw));
  nowait::test::Counted* received = *rt.try_receive();
  EXPECT_EQ(received->value(), 42u);
  rt.retire(received);
  EXPECT_EQ(stats.alive(), 1);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(stats.constructed.load(), 1);
  EXPECT_EQ(stats.destroyed.load(), 1);
}

TEST(CommandChannel, RetiringNullIsIgnored) {
  auto [control, rt] = Channel::create(4, 4, 1);
  rt.retire(static_cast<Tracked*>(nullptr));
  EXPECT_EQ(rt.retire_overflows(), 0u);
  EXPECT_EQ(control.collect(), 0u);
}

TEST(CommandChannel, RepliesDroppedCountsEveryTryReplyThatFoundTheQueueFull) {
  auto [control, rt] = Channel::create(4, 2, 4);
  EXPECT_TRUE(rt.try_reply(Reply{0}));
  EXPECT_TRUE(rt.try_reply(Reply{1}));
  EXPECT_FALSE(rt.try_reply(Reply{2}));
  EXPECT_FALSE(rt.try_reply(Reply{3}));
  EXPECT_EQ(control.replies_dropped(), 2u);
  EXPECT_EQ(control.try_receive()->value, 0);
  EXPECT_TRUE(rt.try_reply(Reply{4}));
  EXPECT_FALSE(rt.try_reply(Reply{5}));
  EXPECT_EQ(control.replies_dropped(), 3u);
  EXPECT_EQ(control.try_receive()->value, 1);
  EXPECT_EQ(control.try_receive()->value, 4);
  EXPECT_FALSE(control.try_receive().has_value());
}

TEST(CommandChannel, ControlDestructorDestroysReturnedButUncollectedObjects) {
  Tracked::Log log;
  std::optional<Channel::Realtime> rt;
  {
    auto [control, realtime] = Channel::create(4, 4, 4);
    rt.emplace(std::move(realtime));
    for (int i = 0; i < 3; ++i) {
      auto object = std::make_unique<Tracked>(log, i);
      Tracked* raw = object.get();
      ASSERT_TRUE(control.try_send_with(object, Command{i, raw}));
    }
    rt->retire(rt->try_receive()->object);
    rt->retire(rt->try_receive()->object);
    EXPECT_EQ(log.destroyed.load(), 0);
  }  // Control goes here, with two objects returned and one still held
  EXPECT_EQ(log.destroyed.load(), 2);
  EXPECT_EQ(log.destroyed_on.load(), std::this_thread::get_id());
  EXPECT_TRUE(rt->is_abandoned());
  // The third is the RT owner's: still alive, and deletable by it off the RT thread.
  const std::optional<Command> last = rt->try_receive();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->object->value, 2);
  delete last->object;
  EXPECT_EQ(log.destroyed.load(), 3);
}

TEST(CommandChannel, MovedEndpointsKeepTheirCountsAndTheirRings) {
  Tracked::Log log;
  auto [control0, rt0] = Channel::create(4, 4, 2);
  auto object = std::make_unique<Tracked>(log, 1);
  Tracked* raw = object.get();
  ASSERT_TRUE(control0.try_send_with(object, Command{1, raw}));
  Channel::Control control = std::move(control0);
  Channel::Realtime rt = std::move(rt0);
  EXPECT_EQ(control.lent(), 1u);
  rt.retire(rt.try_receive()->object);
  EXPECT_EQ(rt.retire_overflows(), 0u);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(log.destroyed.load(), 1);

  // Move-assigning over a live Control collects what its old channel returned.
  Tracked::Log other_log;
  auto [control2, rt2] = Channel::create(4, 4, 2);
  auto other = std::make_unique<Tracked>(other_log, 2);
  Tracked* other_raw = other.get();
  ASSERT_TRUE(control2.try_send_with(other, Command{2, other_raw}));
  rt2.retire(rt2.try_receive()->object);
  control2 = std::move(control);
  EXPECT_EQ(other_log.destroyed.load(), 1);
  EXPECT_EQ(control2.lent(), 0u);
}

TEST(CommandChannel, EachEndSeesTheOtherAbandonedOnceItIsDestroyed) {
  {
    auto [control, rt] = Channel::create(4, 4, 4);
    EXPECT_FALSE(control.is_abandoned());
    EXPECT_FALSE(rt.is_abandoned());
    ASSERT_TRUE(control.try_send(Command{5, nullptr}));
    { Channel::Control gone = std::move(control); }
    EXPECT_TRUE(rt.is_abandoned());
    // What it sent before it went is still there.
    EXPECT_EQ(rt.try_receive()->value, 5);
    EXPECT_FALSE(rt.try_receive().has_value());
  }
  {
    auto [control, rt] = Channel::create(4, 4, 4);
    ASSERT_TRUE(rt.try_reply(Reply{6}));
    { Channel::Realtime gone = std::move(rt); }
    EXPECT_TRUE(control.is_abandoned());
    EXPECT_EQ(control.try_receive()->value, 6);
  }
}

TEST(CommandChannel, CommandsThatAreNotTriviallyCopyableWorkBetweenOrdinaryThreads) {
  static_assert(!nowait::realtime_safe_v<std::string>);
  auto [control, rt] = CommandChannel<std::string, std::string>::create(2, 2, 1);
  ASSERT_TRUE(control.try_send(std::string(100, 'c')));
  EXPECT_EQ(*rt.try_receive(), std::string(100, 'c'));
  ASSERT_TRUE(rt.try_reply(std::string(100, 'r')));
  EXPECT_EQ(*control.try_receive(), std::string(100, 'r'));
}

#ifndef NDEBUG
void retire_an_object_that_was_never_lent() {
  Tracked::Log log;
  auto [control, rt] = Channel::create(4, 4, 4);
  rt.retire(new Tracked(log, 0));
}

TEST(CommandChannelDeathTest, RetiringMoreObjectsThanWereLentAbortsInDebugBuilds) {
  nowait::test::use_reexec_death_tests_unless_told_otherwise();
  // Under RealtimeSanitizer the failure report (a print inside a nonblocking
  // function) is itself trapped first; either message means the check fired.
  EXPECT_DEATH(retire_an_object_that_was_never_lent(),
               "more objects retired than were lent|RealtimeSanitizer");
}
#else
TEST(CommandChannel, RetiringMoreObjectsThanWereLentIsCountedAndNeverDestroysInReleaseBuilds) {
  Tracked::Log log;
  auto [control, rt] = Channel::create(4, 4, 1);
  auto object = std::make_unique<Tracked>(log, 0);
  Tracked* lent = object.get();
  ASSERT_TRUE(control.try_send_with(object, Command{0, lent}));
  rt.retire(rt.try_receive()->object);
  auto extra = std::make_unique<Tracked>(log, 1);
  rt.retire(extra.get());  // one more than was lent: neither returned nor destroyed
  EXPECT_EQ(rt.retire_overflows(), 1u);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(log.destroyed.load(), 1);  // only the lent one; `extra` is still ours
  EXPECT_EQ(control.lent(), 0u);

  // The bug spent no reservation: the next lend still comes back.
  auto next = std::make_unique<Tracked>(log, 2);
  Tracked* next_raw = next.get();
  ASSERT_TRUE(control.try_send_with(next, Command{2, next_raw}));
  rt.retire(rt.try_receive()->object);
  EXPECT_EQ(rt.retire_overflows(), 1u);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(log.destroyed.load(), 2);
}
#endif

// The real-time side of a block, as an engine would run it: apply every
// command (swapping the lent object in and the old one out) and report back.
// Being NOWAIT_NONBLOCKING, it is checked by the compiler under
// -Werror=function-effects and by RealtimeSanitizer at run time.
void process_block(Channel::Realtime& rt, Tracked*& current) noexcept NOWAIT_NONBLOCKING {
  while (std::optional<Command> cmd = rt.try_receive()) {
    if (cmd->object != nullptr) {
      rt.retire(current);
      current = cmd->object;
    }
    static_cast<void>(rt.try_reply(Reply{cmd->value}));
  }
}

int retire_overflows_seen_from_rt(const Channel::Realtime& rt) noexcept NOWAIT_NONBLOCKING {
  return static_cast<int>(rt.retire_overflows()) + (rt.is_abandoned() ? 1000 : 0);
}

TEST(CommandChannel, TheRealtimeEndRunsInsideNonblockingFunctions) {
  Tracked::Log log;
  auto [control, rt] = Channel::create(4, 2, 3);
  Tracked* current = nullptr;
  for (int i = 0; i < 3; ++i) {
    auto object = std::make_unique<Tracked>(log, i);
    Tracked* raw = object.get();
    ASSERT_TRUE(control.try_send_with(object, Command{i, raw}));
    process_block(rt, current);
    EXPECT_EQ(control.try_receive()->value, i);
    EXPECT_EQ(control.collect(), i == 0 ? 0u : 1u);
  }
  ASSERT_TRUE(control.try_send(Command{10, nullptr}));
  ASSERT_TRUE(control.try_send(Command{11, nullptr}));
  ASSERT_TRUE(control.try_send(Command{12, nullptr}));
  process_block(rt, current);  // two replies fit, the third is dropped
  EXPECT_EQ(control.replies_dropped(), 1u);
  EXPECT_EQ(retire_overflows_seen_from_rt(rt), 0);
  EXPECT_EQ(current->value, 2);
  rt.retire(current);
  EXPECT_EQ(control.collect(), 1u);
  EXPECT_EQ(log.destroyed.load(), 3);
  EXPECT_EQ(control.lent(), 0u);
}

}  // namespace
