// nowait/command_channel.hpp: control -> real-time commands, real-time ->
// control replies, and the return path that carries retired objects back to be
// destroyed off the real-time thread.
//
//   auto [control, rt] = nowait::CommandChannel<Command, Reply>::create(64, 64, 16);
//
//   // control thread: build the new object, lend it inside a command
//   auto filter = std::make_unique<Filter>(settings);
//   if (control.try_send_with(filter, Command{filter.get()})) { /* filter is now empty */ }
//   control.collect();  // destroys whatever the RT side has retired, here
//
//   // RT thread, in process(): swap it in, send the old one back
//   while (auto cmd = rt.try_receive()) { rt.retire(std::exchange(current, cmd->filter)); }
//
// It is three SpscRings (commands, replies, returns) behind two move-only
// endpoints, Control and Realtime, so that each ring keeps exactly one producer
// and one consumer. create() allocates everything once; from then on no
// operation on the Realtime end allocates, frees, locks or blocks, and nothing
// is ever destroyed on the real-time thread: objects it lets go of travel back
// as Retired records and are destroyed by Control::collect().
//
// Command and Reply are copied into the rings, so they are usually trivially
// copyable structs or std::variants of them, holding raw pointers to objects
// that the control side built. The Realtime functions that copy them are
// NOWAIT_NONBLOCKING only when realtime_safe<Command> / realtime_safe<Reply>
// holds (see rt.hpp): other types work between ordinary threads but do not
// compile inside a real-time function.
//
// Contract (control = the thread owning Control, RT = the thread owning Realtime):
//
//   operation                        thread   progress   allocates
//   create(cmd, reply, return caps)  any      blocking   yes, once (throws on a zero capacity)
//   Control::try_send                control  wait-free  no
//   Control::try_send_with           control  wait-free  no (the caller built the object)
//   Control::try_receive             control  wait-free  no
//   Control::collect                 control  blocking   no; frees (runs returned objects' destructors)
//   Control::lent / replies_dropped  control  wait-free  no
//   Realtime::try_receive            RT       wait-free  no
//   Realtime::try_reply              RT       wait-free  no
//   Realtime::retire                 RT       wait-free  no, and never frees
//   Realtime::retire_overflows       RT       wait-free  no
//   is_abandoned (either end)        own      wait-free  no
//   destroying Control               control  blocking   frees: collects, then releases the rings
//   destroying Realtime              RT, but  blocking   frees the rings when it is the last end
//                                    off the real-time thread
//
// Why retire() never finds the return ring full. Let L be the objects lent so
// far and C the objects collected so far, so lent() == L - C. try_send_with
// lends only while L - C < return_capacity, and raises L before it publishes
// the command carrying the object; only collect() raises C, and only for
// records it has already popped. Every record in the ring is an object retired
// and not yet collected, and the Realtime end never pushes more records than
// L (see retire()), so the ring holds at most L - C <= return_capacity
// records: each lend reserved its return slot in advance and retire() only
// spends a reservation. The RT side sees the ring that way too: it reads L (or
// receives the object) only after the control side stored it, with acquire /
// release, so the ring's head it sees is no older than the C that L was lent
// against. Because the count is enforced, a buggy extra retire cannot spend a
// reservation that belongs to another object.
//
// Shutting down. Objects held by the RT side when the channel dies are the RT
// owner's to hand back: once the real-time thread has stopped, its owner
// (now off the real-time thread) drains try_receive() and retires every object
// the remaining commands carry, retires every object it still holds, and then
// the control side calls collect() (Control's destructor does so too). Records
// retired after Control is gone are never destroyed: they leak with the ring,
// because nothing on the Realtime end may destroy them. Likewise, objects in
// commands that are never received leak, since the channel cannot see inside a
// Command. is_abandoned() on either end tells whether the other end is gone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "nowait/rt.hpp"
#include "nowait/spsc_ring.hpp"

namespace nowait {

// A type-erased object on its way back to be destroyed off the real-time
// thread: destroy(object) deletes it as the type it was retired as.
struct Retired {
  void* object;
  void (*destroy)(void*) noexcept;
};
static_assert(std::is_trivially_copyable_v<Retired>,
              "Retired records are copied through a ring on the RT thread");

namespace detail {

// The counters both endpoints read. Allocated by create(), freed by whichever
// endpoint is released last.
struct CommandChannelShared {
  // Written by the RT side each time it drops a reply, read by the control
  // side for monitoring: a line of its own so drops do not disturb lending.
  alignas(cache_line_size) std::atomic<std::uint64_t> replies_dropped{0};
  // Total objects ever lent, written by the control side on each lend and read
  // by the RT side only when its cached copy runs out (see Realtime::retire).
  alignas(cache_line_size) std::atomic<std::uint64_t> lent_total{0};
  // Touched when an endpoint is released, and read by is_abandoned().
  alignas(cache_line_size) std::atomic<int> endpoints{2};
};

}  // namespace detail

// The channel's factory and its two endpoint types; see the contract at the
// top of this file. Command and Reply must be nothrow-destructible and
// copyable (try_send_with also needs a Command that copies without throwing);
// for the Realtime end to be real-time safe they must satisfy realtime_safe.
template <class Command, class Reply>
class CommandChannel {
 public:
  class Control;
  class Realtime;

  // The control end: sends commands, lends objects, receives replies and
  // destroys what comes back. Move-only; owned by one non-real-time thread at a
  // time.
  class Control {
   public:
    Control(Control&& other) noexcept
        : commands_(std::move(other.commands_)),
          replies_(std::move(other.replies_)),
          returns_(std::move(other.returns_)),
          shared_(std::exchange(other.shared_, nullptr)),
          lent_total_(other.lent_total_),
          collected_total_(other.collected_total_) {}
    // Collects what the old channel has returned, then takes over other's.
    Control& operator=(Control&& other) noexcept {
      if (this != &other) {
        if (shared_ != nullptr) collect();
        detail::release_endpoint(shared_);
        commands_ = std::move(other.commands_);
        replies_ = std::move(other.replies_);
        returns_ = std::move(other.returns_);
        shared_ = std::exchange(other.shared_, nullptr);
        lent_total_ = other.lent_total_;
        collected_total_ = other.collected_total_;
      }
      return *this;
    }
    Control(const Control&) = delete;
    Control& operator=(const Control&) = delete;

    // Destroys every object already returned (as collect() does), then lets go
    // of the rings. Objects the RT side still holds are not reachable from here:
    // see "Shutting down" above. Thread: control. Blocking; frees.
    ~Control() {
      if (shared_ != nullptr) collect();
      detail::release_endpoint(shared_);
    }

    // Sends a copy of cmd to the RT side. Returns false, sending nothing, when
    // the command queue is full. If copying a Command can throw and does,
    // nothing is sent either. Thread: control. Wait-free; no allocation beyond
    // what copying a Command does (none for realtime_safe types).
    [[nodiscard]] bool try_send(const Command& cmd) noexcept(std::is_nothrow_copy_constructible_v<Command>) {
      check_live();
      return commands_.try_push(cmd);
    }

    // Lends `object` to the RT side inside cmd, which must carry object.get().
    // Succeeds only when a return slot can be reserved for the object (lent() <
    // return_capacity) and the command queue has room; then it releases the
    // unique_ptr (the RT side now owns the object until it retires it) and
    // returns true. Returns false otherwise, with `object` untouched: the
    // caller still owns it and may retry after collect(). Precondition: object
    // is not null (checked in debug builds; release builds return false).
    // Thread: control. Wait-free; no allocation (the caller built the object).
    template <class T>
    [[nodiscard]] bool try_send_with(std::unique_ptr<T>& object, const Command& cmd) noexcept {
      static_assert(!std::is_array_v<T>,
                    "lend arrays inside an object: retire() deletes with delete, not delete[]");
      // The lend is counted before the copy is made, so the copy must not fail.
      static_assert(std::is_nothrow_copy_constructible_v<Command>,
                    "try_send_with needs a Command that copies without throwing");
      check_live();
      NOWAIT_PRECONDITION(object != nullptr, "CommandChannel::Control::try_send_with: null object");
      if (object == nullptr) return false;
      if (lent() >= returns_.capacity()) return false;  // no return slot left to reserve
      // slots() reads the RT side's index afresh and only this thread fills the
      // queue, so when it is nonzero the push below cannot fail.
      if (commands_.slots() == 0) return false;
      ++lent_total_;
      // Release: a retire() that reads this count must also see collected
      // records as popped (the return ring's head), which is stored before it;
      // that is what guarantees the reserved slot is free. Published before the
      // command so that the RT side can never hold an object it has no count for.
      // Edge: collect()'s release store of the return ring's head -> this
      // store -> push_retired()'s acquire load that reads it -> the return
      // ring's producer, whose next acquire load of head sees those pops.
      shared_->lent_total.store(lent_total_, std::memory_order_release);
      [[maybe_unused]] const bool sent = commands_.try_push(cmd);
      NOWAIT_PRECONDITION(sent, "CommandChannel: a push after a nonzero slots() failed");
      static_cast<void>(object.release());
      return true;
    }

    // Removes the oldest reply or event the RT side sent and returns it, or
    // nullopt when there is none. Thread: control. Wait-free; no allocation.
    [[nodiscard]] std::optional<Reply> try_receive() noexcept {
      check_live();
      return replies_.try_pop();
    }

    // Destroys, on this thread, every object the RT side has retired so far, in
    // the order it retired them, and frees their return-slot reservations.
    // Returns how many it destroyed. Thread: control. Blocking: it runs the
    // objects' destructors, which usually free memory; the loop itself is
    // bounded by return_capacity and allocates nothing.
    std::size_t collect() noexcept {
      check_live();
      std::size_t n = 0;
      while (const std::optional<Retired> r = returns_.try_pop()) {
        r->destroy(r->object);
        ++n;
      }
      collected_total_ += n;
      return n;
    }

    // Objects lent by try_send_with and not yet destroyed by collect(): those
    // in flight, held by the RT side, or returned and waiting. A plain integer
    // suffices because only this thread lends and only this thread collects.
    // Thread: control. Wait-free; no allocation.
    std::size_t lent() const noexcept {
      check_live();
      return static_cast<std::size_t>(lent_total_ - collected_total_);
    }

    // How many times the RT side's try_reply found the reply queue full; those
    // replies were lost. Exact as of the moment of the read, never decreasing.
    // Thread: control. Wait-free; no allocation.
    std::uint64_t replies_dropped() const noexcept {
      check_live();
      // Relaxed: a monitoring count; no other data is read on the strength of it.
      return shared_->replies_dropped.load(std::memory_order_relaxed);
    }

    // True once the Realtime end has been destroyed: commands sent from now on
    // are never read (and objects lent in them leak), and no more objects come
    // back beyond those already returned. collect() still works.
    // Thread: control. Wait-free; no allocation.
    bool is_abandoned() const noexcept {
      check_live();
      // Acquire: pairs with the release half of the acq_rel decrement in the
      // Realtime end's destructor (detail::release_endpoint). Edge: every
      // retire() it made, including its release store of the return ring's
      // tail, happens-before that decrement; this load reads it, so the next
      // collect()'s acquire load of the tail reads that store or a later one
      // and finds every record. A relaxed load gave the fact without the edge:
      // on AArch64 collect() could still see an older tail and leave the last
      // retired objects in the ring.
      return shared_->endpoints.load(std::memory_order_acquire) < 2;
    }

   private:
    friend class CommandChannel;
    Control(detail::CommandChannelShared* shared, typename SpscRing<Command>::Producer commands,
            typename SpscRing<Reply>::Consumer replies, typename SpscRing<Retired>::Consumer returns) noexcept
        : commands_(std::move(commands)),
          replies_(std::move(replies)),
          returns_(std::move(returns)),
          shared_(shared) {}

    void check_live() const noexcept {
      NOWAIT_PRECONDITION(shared_ != nullptr, "CommandChannel::Control used after it was moved from");
    }

    typename SpscRing<Command>::Producer commands_;
    typename SpscRing<Reply>::Consumer replies_;
    typename SpscRing<Retired>::Consumer returns_;
    detail::CommandChannelShared* shared_;
    std::uint64_t lent_total_ = 0;       // objects ever lent; this thread's copy of shared_->lent_total
    std::uint64_t collected_total_ = 0;  // objects ever destroyed by collect()
  };

  // The real-time end: receives commands, sends replies and events, and hands
  // objects back for destruction. Move-only; owned by one thread at a time,
  // normally the real-time thread. Destroy it off the real-time thread.
  class Realtime {
   public:
    Realtime(Realtime&& other) noexcept
        : commands_(std::move(other.commands_)),
          replies_(std::move(other.replies_)),
          returns_(std::move(other.returns_)),
          shared_(std::exchange(other.shared_, nullptr)),
          replies_dropped_(other.replies_dropped_),
          lent_seen_(other.lent_seen_),
          retired_total_(other.retired_total_),
          retire_overflows_(other.retire_overflows_) {}
    // Objects held through the old channel stay the caller's to retire elsewhere.
    Realtime& operator=(Realtime&& other) noexcept {
      if (this != &other) {
        detail::release_endpoint(shared_);
        commands_ = std::move(other.commands_);
        replies_ = std::move(other.replies_);
        returns_ = std::move(other.returns_);
        shared_ = std::exchange(other.shared_, nullptr);
        replies_dropped_ = other.replies_dropped_;
        lent_seen_ = other.lent_seen_;
        retired_total_ = other.retired_total_;
        retire_overflows_ = other.retire_overflows_;
      }
      return *this;
    }
    Realtime(const Realtime&) = delete;
    Realtime& operator=(const Realtime&) = delete;
    // Thread: the RT owner, off the real-time thread (frees when Control is gone).
    ~Realtime() { detail::release_endpoint(shared_); }

    // Removes the oldest command and returns it, or nullopt when there is none.
    // Thread: RT. Wait-free; no allocation (for realtime_safe Command types).
    [[nodiscard]] std::optional<Command> try_receive() noexcept
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<Command>) {
      check_live();
      return commands_.try_pop();
    }

    // Sends a copy of r to the control side. Returns false when the reply queue
    // is full: r is then lost and counted in Control::replies_dropped(), so an
    // RT caller may ignore the result. noexcept whenever copying a Reply is.
    // Thread: RT. Wait-free; no allocation (for realtime_safe Reply types).
    bool try_reply(const Reply& r) noexcept(std::is_nothrow_copy_constructible_v<Reply>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<Reply>) {
      check_live();
      if (replies_.try_push(r)) return true;
      // A load-free store of this thread's own count, rather than fetch_add:
      // this is the only writer, and a plain store is wait-free on every
      // architecture. Relaxed: the control side reads it as a count only.
      shared_->replies_dropped.store(++replies_dropped_, std::memory_order_relaxed);
      return false;
    }

    // Hands `object` back to the control side, which destroys it (with delete,
    // as a T) in its next collect(). Never destroys anything here, and never
    // fails for an object lent through this channel, because its lend reserved
    // a return slot. Precondition: object was lent through this channel by
    // try_send_with, as a T or as a class derived from T when T has a virtual
    // destructor, and has not been retired before. Retiring more objects than
    // were lent is checked in debug builds; in release builds every retire
    // beyond the number lent is refused: that object is leaked (never
    // destroyed on this thread) and counted in retire_overflows(), and no
    // other object's reservation is spent. A null object is ignored.
    // Thread: RT (or its owner after the real-time thread has stopped).
    // Wait-free; no allocation.
    template <class T>
    void retire(T* object) noexcept NOWAIT_NONBLOCKING {
      static_assert(sizeof(T) > 0, "retire needs a complete type to destroy it");
      static_assert(std::is_nothrow_destructible_v<T>,
                    "retired objects are destroyed by a noexcept function");
      check_live();
      if (object == nullptr) return;
      // A captureless lambda converts to a plain function pointer: forming it
      // here calls nothing; the deletion runs in collect() on the control side.
      push_retired(Retired{const_cast<void*>(static_cast<const volatile void*>(object)),
                           [](void* p) noexcept { delete static_cast<T*>(p); }});
    }

    // Objects retire() could not return because more were retired than were
    // lent (a caller bug; those objects were leaked). Thread: RT. Wait-free;
    // no allocation.
    std::uint64_t retire_overflows() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      return retire_overflows_;
    }

    // True once the Control end has been destroyed. Every command it sent is
    // still readable, so after this returns true an empty command queue stays
    // empty for good; objects retired from now on leak instead of being
    // destroyed. Thread: RT. Wait-free; no allocation.
    bool is_abandoned() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      // Acquire: pairs with the decrement in the Control end's destructor, as
      // in Control::is_abandoned(). Edge: every command it sent (its release
      // stores of the command ring's tail) happens-before the decrement this
      // load reads, so try_receive() afterwards sees them all.
      return shared_->endpoints.load(std::memory_order_acquire) < 2;
    }

   private:
    friend class CommandChannel;
    Realtime(detail::CommandChannelShared* shared, typename SpscRing<Command>::Consumer commands,
             typename SpscRing<Reply>::Producer replies,
             typename SpscRing<Retired>::Producer returns) noexcept
        : commands_(std::move(commands)),
          replies_(std::move(replies)),
          returns_(std::move(returns)),
          shared_(shared) {}

    void check_live() const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(shared_ != nullptr, "CommandChannel::Realtime used after it was moved from");
    }

    void push_retired(Retired r) noexcept NOWAIT_NONBLOCKING {
      // Consult the shared lend count only when the cached one is used up, so
      // that a retire normally touches no line the control side writes.
      if (retired_total_ >= lent_seen_) {
        // Acquire: pairs with the release in try_send_with, so the return
        // ring's head we see next is no older than the collects that count
        // was based on (see "Why retire() never finds the return ring full").
        lent_seen_ = shared_->lent_total.load(std::memory_order_acquire);
      }
      const bool within_lent = retired_total_ < lent_seen_;
      NOWAIT_PRECONDITION(within_lent,
                          "CommandChannel::Realtime::retire: more objects retired than were lent");
      // While within_lent holds the push cannot fail (see the invariant at the
      // top); were it to fail anyway, the object is leaked and counted like an
      // over-retire, never destroyed here.
      if (!within_lent || !returns_.try_push(r)) {
        ++retire_overflows_;
        return;
      }
      ++retired_total_;
    }

    typename SpscRing<Command>::Consumer commands_;
    typename SpscRing<Reply>::Producer replies_;
    typename SpscRing<Retired>::Producer returns_;
    detail::CommandChannelShared* shared_;
    std::uint64_t replies_dropped_ = 0;   // this thread's copy of shared_->replies_dropped
    std::uint64_t lent_seen_ = 0;         // last value read from shared_->lent_total
    std::uint64_t retired_total_ = 0;     // records pushed to the return ring
    std::uint64_t retire_overflows_ = 0;  // only this thread reads or writes it
  };

  // Creates a channel whose command queue holds command_capacity commands, whose
  // reply queue holds reply_capacity replies, and which lets at most
  // return_capacity lent objects be outstanding (lent and not yet collected).
  // Returns its two ends. Throws std::invalid_argument when any capacity is 0
  // (before allocating anything), std::length_error or std::bad_alloc when the
  // rings cannot be allocated. Thread: any, off the real-time thread. Blocking;
  // allocates (three rings and one counter block), never again afterwards.
  static std::pair<Control, Realtime> create(std::size_t command_capacity, std::size_t reply_capacity,
                                             std::size_t return_capacity) {
    if (command_capacity == 0 || reply_capacity == 0 || return_capacity == 0)
      throw std::invalid_argument("nowait::CommandChannel::create: every capacity must be at least 1");
    auto [command_tx, command_rx] = SpscRing<Command>::create(command_capacity);
    auto [reply_tx, reply_rx] = SpscRing<Reply>::create(reply_capacity);
    auto [return_tx, return_rx] = SpscRing<Retired>::create(return_capacity);
    // Allocated last: nothing after this can throw, so it cannot leak.
    auto* shared = new detail::CommandChannelShared();
    return std::pair<Control, Realtime>(
        Control(shared, std::move(command_tx), std::move(reply_rx), std::move(return_rx)),
        Realtime(shared, std::move(command_rx), std::move(reply_tx), std::move(return_tx)));
  }

  CommandChannel() = delete;
};

}  // namespace nowait
