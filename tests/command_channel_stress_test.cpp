// Stress tests for nowait::CommandChannel: a control thread lends a newly
// built object with every command while a stand-in real-time thread swaps each
// one in, sends the one it replaces back, and replies. Checks that commands and
// replies stay complete and in order, and that every object is destroyed
// exactly once, always on the control thread.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/command_channel.hpp"
#include "support/stress.hpp"

namespace {

using nowait::CommandChannel;
using nowait::test::stress_count;

// What happened to the Payloads of one test. Written from both threads with
// relaxed atomics and read only after they have been joined.
struct Ledger {
  explicit Ledger(std::uint64_t count) : destroyed_per_seq(count) {}
  const std::thread::id control_thread = std::this_thread::get_id();
  std::atomic<std::uint64_t> constructed{0};
  std::atomic<std::uint64_t> destroyed{0};
  std::atomic<std::uint64_t> destroyed_off_control{0};
  std::vector<std::atomic<std::uint8_t>> destroyed_per_seq;
};

// The object each command lends: a new one per command, as a reconfiguration
// would build a new filter or buffer.
struct Payload {
  Payload(Ledger& ledger_to, std::uint64_t sequence) : ledger(&ledger_to), seq(sequence) {
    ledger_to.constructed.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
  }
  ~Payload() {
    // Relaxed throughout: the totals are read after both threads are joined.
    if (std::this_thread::get_id() != ledger->control_thread)
      ledger->destroyed_off_control.fetch_add(1, std::memory_order_relaxed);
    ledger->destroyed_per_seq[seq].fetch_add(1, std::memory_order_relaxed);
    ledger->destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;

  Ledger* ledger;
  std::uint64_t seq;
};

struct Reply {
  std::uint64_t seq;
};

// A command as the RT side sees it after decoding: its sequence number, the
// object it lends (or null), and whether its contents were intact.
struct Decoded {
  std::uint64_t seq;
  Payload* payload;
  bool intact;
};

// Every command is a plain struct that lends one object.
struct PlainProtocol {
  struct Command {
    std::uint64_t seq;
    Payload* payload;
  };
  static bool lends(std::uint64_t) { return true; }
  static Command make(std::uint64_t seq, Payload* payload) { return Command{seq, payload}; }
  static Decoded decode(const Command& cmd) noexcept NOWAIT_NONBLOCKING {
    return {cmd.seq, cmd.payload, true};
  }
};

// Commands are a std::variant of trivially copyable alternatives, as an
// engine's would be; only every third one lends an object.
struct VariantProtocol {
  struct SetGain {
    std::uint64_t seq;
    float gain;
  };
  struct SwapPayload {
    std::uint64_t seq;
    Payload* payload;
  };
  struct Ping {
    std::uint64_t seq;
  };
  using Command = std::variant<SetGain, SwapPayload, Ping>;
  static_assert(std::is_trivially_copyable_v<Command>, "so the RT side may receive it");

  static float gain_for(std::uint64_t seq) { return static_cast<float>(seq % 1000) * 0.001f; }
  static bool lends(std::uint64_t seq) { return seq % 3 == 1; }
  static Command make(std::uint64_t seq, Payload* payload) {
    switch (seq % 3) {
      case 0:
        return SetGain{seq, gain_for(seq)};
      case 1:
        return SwapPayload{seq, payload};
      default:
        return Ping{seq};
    }
  }
  static Decoded decode(const Command& cmd) noexcept NOWAIT_NONBLOCKING {
    if (const auto* g = std::get_if<SetGain>(&cmd))
      return {g->seq, nullptr, g->seq % 3 == 0 && g->gain == static_cast<float>(g->seq % 1000) * 0.001f};
    if (const auto* s = std::get_if<SwapPayload>(&cmd)) return {s->seq, s->payload, s->seq % 3 == 1};
    if (const auto* p = std::get_if<Ping>(&cmd)) return {p->seq, nullptr, p->seq % 3 == 2};
    return {0, nullptr, false};
  }
};

// Fails a stuck loop instead of hanging the run: a loop calls progressed()
// whenever it gets something done and stalled() whenever it does not;
// stalled() turns true after `limit` without progress. The clock is read
// only every 1024 idle turns, so an idle spin stays cheap.
class Watchdog {
 public:
  void progressed() { idle_turns_ = 0; }
  bool stalled() {
    if (++idle_turns_ % 1024 != 1) return false;
    const auto now = std::chrono::steady_clock::now();
    if (idle_turns_ == 1) since_ = now;
    return now - since_ > limit;
  }
  static constexpr std::chrono::seconds limit{20};

 private:
  std::uint64_t idle_turns_ = 0;
  std::chrono::steady_clock::time_point since_{};
};

// The stand-in real-time thread's state.
template <class Protocol>
struct RtSide {
  using Channel = CommandChannel<typename Protocol::Command, Reply>;
  // Objects currently swapped in: command seq goes to slot seq % held.size(),
  // and the object it replaces is sent back.
  static constexpr std::size_t held_slots = 8;
  static constexpr int commands_per_block = 16;

  explicit RtSide(typename Channel::Realtime realtime) : rt(std::move(realtime)) {}

  typename Channel::Realtime rt;
  std::array<Payload*, held_slots> held{};
  std::uint64_t expected = 0;  // the next command's sequence number
  std::optional<std::uint64_t> pending_reply;
  std::uint64_t failed_replies = 0;
  std::uint64_t order_errors = 0;
  std::uint64_t content_errors = 0;
};

// One block's worth of the RT side's work: retries a reply the full queue
// refused last time (no command is taken while one is pending, so no reply is
// ever lost), then applies up to commands_per_block commands. Returns whether
// it got anything done. NOWAIT_NONBLOCKING, so the compiler (clang,
// -Werror=function-effects) and RealtimeSanitizer check everything it calls.
template <class Protocol>
bool process_block(RtSide<Protocol>& s) noexcept NOWAIT_NONBLOCKING {
  bool progress = false;
  for (int i = 0; i < RtSide<Protocol>::commands_per_block; ++i) {
    if (s.pending_reply) {
      if (!s.rt.try_reply(Reply{*s.pending_reply})) {
        ++s.failed_replies;
        return progress;
      }
      s.pending_reply.reset();
      progress = true;
    }
    const auto cmd = s.rt.try_receive();
    if (!cmd) return progress;
    progress = true;
    const Decoded d = Protocol::decode(*cmd);
    if (d.seq != s.expected) ++s.order_errors;
    s.expected = d.seq + 1;
    if (!d.intact) ++s.content_errors;
    if (d.payload != nullptr) {
      if (d.payload->seq != d.seq) ++s.content_errors;
      Payload*& slot = s.held[d.seq % s.held.size()];
      s.rt.retire(slot);  // the old one goes back; null when the slot was empty
      slot = d.payload;
    }
    s.pending_reply = d.seq;
  }
  return progress;
}

struct RunResult {
  std::uint64_t replies = 0;
  std::uint64_t reply_errors = 0;
  std::uint64_t objects = 0;
  bool stalled = false;
};

template <class Protocol>
void run_stress(std::uint64_t count, const char* label) {
  using Channel = typename RtSide<Protocol>::Channel;
  // Fewer return slots than commands in flight plus objects held, so lending
  // regularly waits for reservations as well as for command-queue room; a
  // small reply queue, so the RT side regularly finds it full and retries.
  auto [control, realtime] = Channel::create(64, 8, 24);
  RtSide<Protocol> side(std::move(realtime));
  Ledger ledger(count);
  std::atomic<bool> give_up{false};
  std::latch start(2);
  const auto began = std::chrono::steady_clock::now();

  std::thread rt_thread([&] {
    Watchdog watchdog;
    start.arrive_and_wait();
    while (side.expected < count || side.pending_reply) {
      if (process_block(side)) {
        watchdog.progressed();
        continue;
      }
      // Relaxed: a stop request carries no data.
      if (give_up.load(std::memory_order_relaxed) || watchdog.stalled()) {
        give_up.store(true, std::memory_order_relaxed);
        break;
      }
      std::this_thread::yield();
    }
  });

  RunResult result;
  Watchdog watchdog;
  // Takes every reply waiting and collects every returned object; returns
  // whether there was any.
  auto drain = [&] {
    bool any = false;
    while (const std::optional<Reply> reply = control.try_receive()) {
      if (reply->seq != result.replies) ++result.reply_errors;
      ++result.replies;
      any = true;
    }
    return control.collect() > 0 || any;
  };
  // Spins with yields until step() succeeds, draining meanwhile; false when
  // neither side made progress for Watchdog::limit.
  auto until = [&](auto step) {
    watchdog.progressed();
    while (!step()) {
      if (drain()) {
        watchdog.progressed();
        continue;
      }
      // Relaxed: as on the RT thread, the flag carries no data.
      if (give_up.load(std::memory_order_relaxed) || watchdog.stalled()) {
        give_up.store(true, std::memory_order_relaxed);
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  };

  start.arrive_and_wait();
  for (std::uint64_t seq = 0; seq < count && !result.stalled; ++seq) {
    if (Protocol::lends(seq)) {
      auto object = std::make_unique<Payload>(ledger, seq);
      const typename Protocol::Command cmd = Protocol::make(seq, object.get());
      result.stalled = !until([&] { return control.try_send_with(object, cmd); });
      if (!result.stalled) ++result.objects;
    } else {
      const typename Protocol::Command cmd = Protocol::make(seq, nullptr);
      result.stalled = !until([&] { return control.try_send(cmd); });
    }
  }
  if (!result.stalled) result.stalled = !until([&] { return result.replies == count; });
  rt_thread.join();
  const auto elapsed = std::chrono::steady_clock::now() - began;

  // The RT thread has stopped: its owner, now off the real-time thread, hands
  // back what it still holds, and the control side destroys it.
  for (Payload*& held : side.held) side.rt.retire(std::exchange(held, nullptr));
  control.collect();

  ASSERT_FALSE(result.stalled) << "no progress for " << Watchdog::limit.count() << " s";
  EXPECT_EQ(side.expected, count);
  EXPECT_EQ(side.order_errors, 0u);
  EXPECT_EQ(side.content_errors, 0u);
  EXPECT_EQ(result.replies, count);
  EXPECT_EQ(result.reply_errors, 0u);
  EXPECT_EQ(control.replies_dropped(), side.failed_replies);
  EXPECT_EQ(side.rt.retire_overflows(), 0u);
  EXPECT_EQ(control.lent(), 0u);
  EXPECT_EQ(ledger.constructed.load(), result.objects);
  EXPECT_EQ(ledger.destroyed.load(), result.objects);
  EXPECT_EQ(ledger.destroyed_off_control.load(), 0u);
  std::uint64_t wrong = 0;
  for (std::uint64_t seq = 0; seq < count; ++seq)
    if (ledger.destroyed_per_seq[seq].load() != (Protocol::lends(seq) ? 1 : 0)) ++wrong;
  EXPECT_EQ(wrong, 0u) << "objects destroyed other than exactly once";

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  std::printf(
      "[ stress   ] %s: %llu commands, %llu objects lent and destroyed, %llu refused replies retried, %lld "
      "ms\n",
      label, static_cast<unsigned long long>(count), static_cast<unsigned long long>(result.objects),
      static_cast<unsigned long long>(side.failed_replies), static_cast<long long>(ms));
}

TEST(CommandChannelStress,
     EveryLentObjectIsDestroyedExactlyOnceOnTheControlThreadAndEveryReplyArrivesInOrder) {
  run_stress<PlainProtocol>(stress_count(1'000'000, 50'000), "plain commands");
}

TEST(CommandChannelStress, VariantCommandsArriveIntactAndInOrderWhileEveryThirdLendsAnObject) {
  run_stress<VariantProtocol>(stress_count(300'000, 30'000), "variant commands");
}

// is_abandoned() on the control end promises that nothing more comes back:
// once it returns true, one collect() must find every object the RT end
// retired before it was destroyed. Each round lends a few objects, has a
// second thread retire them all and destroy its end, and checks the promise
// the moment the control end sees it gone. (x86 orders every load, so there
// this can only fail if the ordering is broken in the code itself; the
// acquire that AArch64 needs is argued beside is_abandoned().)
TEST(CommandChannelStress, OnceTheControlEndSeesTheRealtimeEndGoneOneCollectFindsEveryRetiredObject) {
  struct Object {
    std::atomic<int>* destroyed;
    ~Object() { destroyed->fetch_add(1, std::memory_order_relaxed); }  // relaxed: read on this thread
  };
  struct Lend {
    Object* object;
  };
  using Channel = CommandChannel<Lend, int>;
  constexpr int per_round = 4;
  const auto rounds = static_cast<int>(stress_count(20'000, 2'000));
  int missing = 0;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> destroyed{0};
    auto [control, realtime] = Channel::create(per_round, 1, per_round);
    for (int i = 0; i < per_round; ++i) {
      auto object = std::unique_ptr<Object>(new Object{&destroyed});
      Object* raw = object.get();
      ASSERT_TRUE(control.try_send_with(object, Lend{raw}));
    }
    std::thread rt_owner([rt = std::move(realtime)]() mutable {
      for (int i = 0; i < per_round; ++i) {
        while (true) {
          if (const auto lend = rt.try_receive()) {
            rt.retire(lend->object);
            break;
          }
        }
      }
    });  // the lambda, and with it the Realtime end, is destroyed as the thread ends
    while (!control.is_abandoned()) {
    }
    control.collect();
    missing += per_round - destroyed.load(std::memory_order_relaxed);  // relaxed: destroyed on this thread
    rt_owner.join();
  }
  EXPECT_EQ(missing, 0);
}

}  // namespace
