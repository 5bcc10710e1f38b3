// nowait/broadcast_ring.hpp: a single-producer, multi-consumer broadcast ring
// of fixed-size blocks, for fanning one real-time stream out to sinks that each
// read at their own pace (recorder, streamer, analysis, meters).
//
//   auto [tx, hub] = nowait::BroadcastRing<float>::create(64, 512);  // 64 slots of 256 stereo frames
//   auto rx = hub.subscribe();                                       // any thread, any time
//   tx.write(block);                                                 // RT thread: never waits
//   switch (rx.read(buffer).status) { ... }                          // sink thread: item, empty or dropout
//
// The writer owns the ring outright: it never reads reader state, so a stalled
// or dead sink cannot delay it. When a reader falls more than `slots` items
// behind, its oldest unread items are overwritten and it is told exactly how
// many it lost, instead of being handed stale or torn data.
//
// Protocol
// --------
// Item s (the s-th write, from 0) goes to slot s % slots. Each slot starts with
// a stamp word, followed by the payload words:
//   stamp == 0        never written;
//   stamp == 2s + 1   item s is being written (odd: busy);
//   stamp == 2s + 2   item s is complete.
// Writer, for item s:  stamp = 2s+1 (relaxed); release fence; payload stores
//                      (relaxed); stamp = 2s+2 (release); written = s+1 (release).
// Reader, at position p:
//   w = written (acquire). p == w: empty. w - p > slots: item p is already
//   overwritten, dropout. Otherwise s0 = stamp (acquire); s0 != 2p+2: dropout;
//   payload loads (relaxed); acquire fence; s1 = stamp (relaxed); s1 != 2p+2:
//   the copy was torn, dropout. Else deliver item p.
// The fences give the guarantee the seqlock needs: if any payload load reads a
// value from a later write, that write's release fence and the reader's acquire
// fence synchronise, so the later write's odd stamp happens-before the reload
// of the stamp and s1 cannot still equal 2p+2. A stamp 2s+1 would wrap after
// 2^63 writes, centuries at any block rate.
// Every guarantee above is one of three happens-before edges of the C++
// model, none of them an accident of x86's strong ordering, so they hold on
// AArch64 too (where the release stores are STLR, the acquire loads LDAR or
// LDAPR, the release fence DMB ISH and the acquire fence DMB ISHLD):
//   written:    payload and done stamp -> release store of `written` ->
//               the reader's acquire load -> its stamp check and copy;
//   done stamp: payload -> release store of 2s+2 -> the reader's acquire
//               load of the stamp -> its copy (never older than item s);
//   fences:     busy stamp -> writer's release fence -> a later payload
//               store the copy read -> reader's acquire fence -> recheck.
//
// Resume rule after a dropout: the reader jumps to `head - slots + 1`, where
// head is the number of items the writer has written or started (taken from
// `written` or from the stamp that exposed the overwrite, whichever is newer).
// That is the oldest item the writer's next write will not touch: one slot of
// margin, so the retry is likely to succeed instead of tearing again. All the
// items jumped over, including the one that was overwritten, are counted in
// `lost`, so per reader: delivered + sum(lost) + sum(skip_ahead()) == items
// written between its join and its latest empty read.
//
// Why the payload lives in std::atomic<std::uint64_t> words
// ----------------------------------------------------------
// A seqlock reader copies the payload while the writer may be overwriting it;
// the stamp check only decides afterwards whether to keep the copy. With plain
// memory (memcpy) that concurrent copy is a data race, which is undefined
// behaviour in C++ whether or not the result is later discarded: the compiler
// may assume it does not happen, and ThreadSanitizer rightly reports it. Making
// every payload word an atomic accessed with memory_order_relaxed removes the
// race at no ordering cost (H.-J. Boehm, "Can seqlocks get along with
// programming language memory models?", MSPC 2012). On x86-64 and AArch64 a
// relaxed load or store of an aligned 64-bit word is an ordinary mov/ldr/str
// with no fence or lock, so the copy is a plain loop of 8-byte moves. What it
// gives up is memcpy's 16-32 byte vector moves: with the block hot in L1 a
// write plus a read of 2 KiB takes about 0.2 us against 0.05 us for two
// memcpy calls (x86-64, gcc -O2, one thread), next to a 5 ms period for 256
// frames at 48 kHz. Across threads both copies also pay for moving the
// block's cache lines from the writer's core. (P1478's
// atomic_load_per_byte_memcpy would allow vector moves again.) Blocks whose
// byte size is not a multiple of 8 are packed into whole words, tail zeroed.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "nowait/detail/seqlock_words.hpp"
#include "nowait/rt.hpp"

namespace nowait {

// What Reader::read() found.
enum class ReadStatus {
  item,     // one item was copied out
  empty,    // the reader has consumed everything written so far
  dropout,  // the reader's next item was overwritten; it skipped ahead and reports how many it lost
};

struct ReadResult {
  ReadStatus status;
  // status == item: the sequence number of the delivered item (the first item
  // ever written is 0). Otherwise: the reader's position after the call, i.e.
  // the next sequence number it will try.
  std::uint64_t sequence;
  // status == dropout: exactly how many items this reader skipped over (at
  // least 1). Otherwise 0.
  std::uint64_t lost;
};

namespace detail {

using BroadcastWord = SeqlockWord;
static_assert(cache_line_size % sizeof(BroadcastWord) == 0, "slots are padded to whole cache lines");

inline constexpr std::size_t broadcast_words_per_line = cache_line_size / sizeof(BroadcastWord);

inline constexpr std::uint64_t stamp_busy(std::uint64_t sequence) noexcept { return 2 * sequence + 1; }
inline constexpr std::uint64_t stamp_done(std::uint64_t sequence) noexcept { return 2 * sequence + 2; }
// Items written or being written once a slot shows `stamp`: 2s+1 and 2s+2 both mean s+1.
inline constexpr std::uint64_t items_started(std::uint64_t stamp) noexcept { return (stamp + 1) / 2; }

// Sizes of one ring, in bytes and words, checked once at creation so the
// real-time paths never do arithmetic that could overflow.
struct BroadcastGeometry {
  std::size_t slots;
  std::size_t slot_elements;
  std::size_t payload_bytes;  // slot_elements * sizeof(T)
  std::size_t payload_words;  // payload_bytes rounded up to whole 64-bit words
  std::size_t stride_words;   // stamp + payload, rounded up to whole cache lines
  std::size_t total_words;

  // Throws std::invalid_argument for fewer than 2 slots (one slot would always
  // be the one being overwritten) or for empty slots, std::length_error when
  // the storage size does not fit in std::size_t.
  static BroadcastGeometry compute(std::size_t slots, std::size_t slot_elements, std::size_t element_size) {
    if (slots < 2) throw std::invalid_argument("nowait::BroadcastRing: slots must be at least 2");
    if (slot_elements == 0)
      throw std::invalid_argument("nowait::BroadcastRing: slot_elements must be positive");
    constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
    constexpr std::size_t word = sizeof(std::uint64_t);
    auto fail = [] { throw std::length_error("nowait::BroadcastRing: storage size overflows std::size_t"); };
    if (slot_elements > max / element_size) fail();
    BroadcastGeometry g{};
    g.slots = slots;
    g.slot_elements = slot_elements;
    g.payload_bytes = slot_elements * element_size;
    g.payload_words = seqlock_words_for(g.payload_bytes);
    const std::size_t line = broadcast_words_per_line;
    if (g.payload_words > max - 1 - (line - 1)) fail();
    g.stride_words = (g.payload_words + 1 + line - 1) / line * line;
    if (g.stride_words > max / slots) fail();
    g.total_words = g.stride_words * slots;
    if (g.total_words > max / word) fail();
    return g;
  }
};

// Owns the cache-line-aligned array of words that holds every slot. Aligned so
// that slot k (which starts on a line boundary) never shares a line with slot
// k + 1: the writer filling one slot does not invalidate the line a reader is
// copying from the previous one.
class BroadcastWords {
 public:
  explicit BroadcastWords(std::size_t count)
      : words_(static_cast<BroadcastWord*>(
            ::operator new (count * sizeof(BroadcastWord), std::align_val_t{cache_line_size}))),
        count_(count) {
    for (std::size_t i = 0; i < count_; ++i) ::new (static_cast<void*>(words_ + i)) BroadcastWord(0);
  }
  BroadcastWords(const BroadcastWords&) = delete;
  BroadcastWords& operator=(const BroadcastWords&) = delete;
  ~BroadcastWords() {
    std::destroy_n(words_, count_);
    ::operator delete (static_cast<void*>(words_), std::align_val_t{cache_line_size});
  }

  BroadcastWord* data() const noexcept { return words_; }

 private:
  BroadcastWord* words_;
  std::size_t count_;
};

// Everything the endpoints share. `written` is the only word every call
// touches; alignas keeps it alone on its line, apart from the shared_ptr
// control block (bumped by subscribe) and the geometry.
struct alignas(cache_line_size) BroadcastShared {
  explicit BroadcastShared(const BroadcastGeometry& g) : geometry(g), words(g.total_words) {}

  // Items fully written so far; stored only by the writer.
  alignas(cache_line_size) std::atomic<std::uint64_t> written{0};
  // Read-only after construction; a line of its own so the writer's stores to
  // `written` do not keep evicting it from subscribers' caches.
  alignas(cache_line_size) const BroadcastGeometry geometry;
  const BroadcastWords words;
};

}  // namespace detail

// BroadcastRing<T>: one writer, any number of readers, each reader with its own
// cursor; every reader sees every item unless it falls more than `slots` items
// behind, in which case it is told exactly how many it lost. Each item is a
// block of `slot_elements` values of T, fixed at creation.
//
// Roles are types: create() returns the only Writer and a BroadcastRing (the
// hub), a copyable handle whose subscribe() makes a Reader. Writer and Reader
// are move-only; each belongs to one thread at a time.
//
//   call                   thread             progress                     allocates
//   create()               control            blocking                     yes, once
//   subscribe()            any                wait-free (refcount bump)    no
//   Writer::write()        writer             wait-free, O(slot_elements)  no
//   Writer::written()      writer             wait-free                    no
//   Reader::read()         that reader        wait-free, O(slot_elements)  no
//   Reader::skip_ahead()   that reader        wait-free                    no
//   Reader::position()     that reader        wait-free                    no
//   approx_* queries       any / that reader  wait-free                    no
//   destroying or move-assigning any endpoint: control thread (may free the ring)
//   using a moved-from hub, Writer or Reader: checked in debug builds (aborts)
//
// The storage is shared (std::shared_ptr) by the hub, the writer and every
// reader, and freed with the last of them, so readers may keep reading what is
// left after the writer and hub are gone, and may join and leave while the
// writer runs. Because the last owner frees memory, endpoints must be
// destroyed (and move-assigned over) off the real-time thread.
//
// Readers never delay the writer and never each other. A reader is never
// blocked, only starved: a reader whose copy of one block takes longer than
// slots - 1 writes keeps getting dropouts, so size `slots` for the worst stall
// of the slowest reader that must not lose data.
//
// T must be trivially copyable: blocks are copied as bytes, and a reader may
// copy bytes that it then discards.
template <class T>
class BroadcastRing {
  static_assert(std::is_trivially_copyable_v<T>, "BroadcastRing<T> copies T as bytes");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T>, "BroadcastRing<T> needs an unqualified T");

 public:
  class Writer;
  class Reader;

  // Allocates a ring of `slots` slots of `slot_elements` elements each and
  // returns its only writer and the hub that makes readers.
  // Preconditions: none; bad sizes throw.
  // Throws: std::invalid_argument if slots < 2 or slot_elements == 0;
  // std::length_error if the storage size would overflow std::size_t;
  // std::bad_alloc if it cannot be allocated.
  // Thread: control (off the real-time thread). Progress: blocking. Allocates: yes.
  [[nodiscard]] static std::pair<Writer, BroadcastRing> create(std::size_t slots,
                                                               std::size_t slot_elements = 1) {
    auto shared = std::make_shared<detail::BroadcastShared>(
        detail::BroadcastGeometry::compute(slots, slot_elements, sizeof(T)));
    Writer writer(shared);
    return {std::move(writer), BroadcastRing(std::move(shared))};
  }

  // Makes a reader that starts at the newest position: its position() is the
  // number of items written so far, so its first read() returns the next item
  // written after this call (or empty until then).
  // Preconditions: none. Returns: the new reader.
  // Thread: any. Progress: wait-free (one reference-count increment and one
  // load). Allocates: no. The reader shares ownership of the ring; destroy it
  // off the real-time thread.
  // Precondition (every hub function): the hub was not moved from (checked
  // in debug builds).
  [[nodiscard]] Reader subscribe() const noexcept {
    check_live();
    return Reader(shared_);
  }

  // The geometry fixed at creation. Thread: any. Wait-free. Allocates: no.
  std::size_t slots() const noexcept {
    check_live();
    return shared_->geometry.slots;
  }
  std::size_t slot_elements() const noexcept {
    check_live();
    return shared_->geometry.slot_elements;
  }

  // Items written so far; may be stale as soon as it returns.
  // Thread: any. Progress: wait-free. Allocates: no.
  std::uint64_t approx_written() const noexcept {
    check_live();
    // Relaxed: a monitoring estimate; nothing is read on the strength of it.
    return shared_->written.load(std::memory_order_relaxed);
  }

 private:
  explicit BroadcastRing(std::shared_ptr<detail::BroadcastShared> shared) noexcept
      : shared_(std::move(shared)) {}

  void check_live() const noexcept {
    NOWAIT_PRECONDITION(shared_ != nullptr, "BroadcastRing hub used after it was moved from");
  }

  std::shared_ptr<detail::BroadcastShared> shared_;
};

// The only writer of a ring. Move-only; a moved-from writer may only be
// destroyed or assigned to (using it otherwise is checked in debug builds).
template <class T>
class BroadcastRing<T>::Writer {
 public:
  // A moved-from writer holds no ring: were it to keep its pointers, a write
  // through it would rewind the shared count to its stale one.
  Writer(Writer&& other) noexcept
      : written_(std::exchange(other.written_, nullptr)),
        words_(std::exchange(other.words_, nullptr)),
        slots_(other.slots_),
        stride_words_(other.stride_words_),
        payload_words_(other.payload_words_),
        payload_bytes_(other.payload_bytes_),
        slot_elements_(other.slot_elements_),
        next_(other.next_),
        shared_(std::move(other.shared_)) {}
  // Control thread: may free the ring it held.
  Writer& operator=(Writer&& other) noexcept {
    if (this != &other) {
      written_ = std::exchange(other.written_, nullptr);
      words_ = std::exchange(other.words_, nullptr);
      slots_ = other.slots_;
      stride_words_ = other.stride_words_;
      payload_words_ = other.payload_words_;
      payload_bytes_ = other.payload_bytes_;
      slot_elements_ = other.slot_elements_;
      next_ = other.next_;
      shared_ = std::move(other.shared_);
    }
    return *this;
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() = default;  // control thread: may free the ring

  // Publishes `block` as the next item, overwriting the oldest slot whether or
  // not every reader has read it.
  // Precondition: block.size() == slot_elements(). Checked in debug builds;
  // with NDEBUG the first min(block.size(), slot_elements()) elements are
  // stored and the rest of the slot is zero-filled.
  // Thread: writer. Progress: wait-free, O(slot_elements), never looks at
  // readers. Allocates: no.
  void write(std::span<const T> block) noexcept NOWAIT_NONBLOCKING {
    check_live();
    NOWAIT_PRECONDITION(block.size() == slot_elements_,
                        "BroadcastRing::Writer::write: block.size() != slot_elements()");
    write_bytes(std::as_bytes(block));
  }

  // Publishes one element as the next item of a ring of single-element slots.
  // Precondition: slot_elements() == 1. Checked in debug builds; with NDEBUG
  // the item becomes the first element of the slot and the rest is zero-filled.
  // Thread: writer. Progress: wait-free. Allocates: no.
  void write(const T& item) noexcept NOWAIT_NONBLOCKING {
    check_live();
    NOWAIT_PRECONDITION(slot_elements_ == 1, "BroadcastRing::Writer::write(item) needs slot_elements() == 1");
    write_bytes(std::as_bytes(std::span<const T, 1>(&item, 1)));
  }

  // Items written so far by this writer; exact on the writer's thread.
  // Thread: writer. Progress: wait-free. Allocates: no.
  std::uint64_t written() const noexcept NOWAIT_NONBLOCKING {
    check_live();
    return next_;
  }

 private:
  friend class BroadcastRing;

  void check_live() const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(written_ != nullptr, "BroadcastRing::Writer used after it was moved from");
  }

  explicit Writer(std::shared_ptr<detail::BroadcastShared> shared) noexcept
      : written_(&shared->written),
        words_(shared->words.data()),
        slots_(shared->geometry.slots),
        stride_words_(shared->geometry.stride_words),
        payload_words_(shared->geometry.payload_words),
        payload_bytes_(shared->geometry.payload_bytes),
        slot_elements_(shared->geometry.slot_elements),
        shared_(std::move(shared)) {}

  void write_bytes(std::span<const std::byte> bytes) noexcept NOWAIT_NONBLOCKING {
    const std::uint64_t sequence = next_;
    detail::BroadcastWord* const slot = words_ + static_cast<std::size_t>(sequence % slots_) * stride_words_;
    // Relaxed: the release fence below orders this store before every payload store.
    slot[0].store(detail::stamp_busy(sequence), std::memory_order_relaxed);
    // Release fence after the busy stamp: a reader whose payload load reads any
    // later store also sees the busy stamp when it rechecks (the "fences"
    // edge at the top).
    detail::release_fence();
    detail::store_seqlock_words(slot + 1, payload_words_, bytes.data(),
                                std::min(bytes.size(), payload_bytes_));
    // Release: a reader that acquires the done stamp sees the whole payload
    // (the "done stamp" edge at the top).
    slot[0].store(detail::stamp_done(sequence), std::memory_order_release);
    next_ = sequence + 1;
    // Release: a reader that acquires `written` sees this item's stamp and
    // payload (the "written" edge at the top).
    written_->store(next_, std::memory_order_release);
  }

  // Hot fields are copied out of the shared state so write() touches only the
  // writer's own object, `written` and the slot.
  std::atomic<std::uint64_t>* written_;
  detail::BroadcastWord* words_;
  std::size_t slots_;
  std::size_t stride_words_;
  std::size_t payload_words_;
  std::size_t payload_bytes_;
  std::size_t slot_elements_;
  std::uint64_t next_ = 0;  // the writer's own count, so it never has to load `written`
  std::shared_ptr<detail::BroadcastShared> shared_;
};

// One reader's cursor into a ring. Move-only: make more with subscribe() on
// the hub. A moved-from reader may only be destroyed or assigned to (using it
// otherwise is checked in debug builds).
template <class T>
class BroadcastRing<T>::Reader {
 public:
  Reader(Reader&& other) noexcept
      : written_(std::exchange(other.written_, nullptr)),
        words_(std::exchange(other.words_, nullptr)),
        slots_(other.slots_),
        stride_words_(other.stride_words_),
        payload_bytes_(other.payload_bytes_),
        slot_elements_(other.slot_elements_),
        position_(other.position_),
        shared_(std::move(other.shared_)) {}
  // Control thread: may free the ring it held.
  Reader& operator=(Reader&& other) noexcept {
    if (this != &other) {
      written_ = std::exchange(other.written_, nullptr);
      words_ = std::exchange(other.words_, nullptr);
      slots_ = other.slots_;
      stride_words_ = other.stride_words_;
      payload_bytes_ = other.payload_bytes_;
      slot_elements_ = other.slot_elements_;
      position_ = other.position_;
      shared_ = std::move(other.shared_);
    }
    return *this;
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() = default;  // control thread: may free the ring

  // Copies the item at position() into the first slot_elements() elements of
  // `out` and advances past it.
  // Precondition: out.size() >= slot_elements(). Checked in debug builds; with
  // NDEBUG only out.size() elements are copied.
  // Returns: {item, its sequence, 0}; or {empty, position(), 0} when nothing
  // new has been written; or {dropout, new position(), lost} when the item at
  // position() was overwritten before or during the copy: the reader moves to
  // the oldest item the writer's next write will not touch, and `lost` counts
  // every item skipped. After empty or dropout the contents of `out` are
  // unspecified (a dropout may leave part of a discarded copy in it); elements
  // past slot_elements() are never touched.
  // Thread: this reader's owner. Progress: wait-free (a single attempt, O(slot_elements)).
  // Allocates: no.
  [[nodiscard]] ReadResult read(std::span<T> out) noexcept NOWAIT_NONBLOCKING {
    check_live();
    NOWAIT_PRECONDITION(out.size() >= slot_elements_,
                        "BroadcastRing::Reader::read: out.size() < slot_elements()");
    return read_bytes(std::as_writable_bytes(out));
  }

  // As read(std::span<T>), for rings of single-element slots.
  // Precondition: slot_elements() == 1. Checked in debug builds; with NDEBUG
  // the first element of the slot is copied.
  // Thread: this reader's owner. Progress: wait-free. Allocates: no.
  [[nodiscard]] ReadResult read(T& out) noexcept NOWAIT_NONBLOCKING {
    check_live();
    NOWAIT_PRECONDITION(slot_elements_ == 1, "BroadcastRing::Reader::read(item) needs slot_elements() == 1");
    return read_bytes(std::as_writable_bytes(std::span<T, 1>(&out, 1)));
  }

  // Jumps to the newest position, as if the reader had just subscribed: the
  // next read() returns the next item written after this call.
  // Returns: how many unread items were passed over. They are not reported
  // again as a dropout. 0 if the reader was caught up.
  // Thread: this reader's owner. Progress: wait-free. Allocates: no.
  std::uint64_t skip_ahead() noexcept NOWAIT_NONBLOCKING {
    check_live();
    // Relaxed: only the count is used; read() acquires `written` before touching a slot.
    const std::uint64_t written = written_->load(std::memory_order_relaxed);
    if (written <= position_) return 0;
    const std::uint64_t skipped = written - position_;
    position_ = written;
    return skipped;
  }

  // The sequence number of the next item this reader will try to read.
  // Thread: this reader's owner. Progress: wait-free. Allocates: no.
  std::uint64_t position() const noexcept NOWAIT_NONBLOCKING {
    check_live();
    return position_;
  }

  // Items written but not yet read or skipped by this reader; stale as soon as
  // it returns, and may exceed slots() (those items are already lost).
  // Thread: this reader's owner. Progress: wait-free. Allocates: no.
  std::uint64_t approx_behind() const noexcept NOWAIT_NONBLOCKING {
    check_live();
    // Relaxed: an estimate; nothing is read on the strength of it.
    const std::uint64_t written = written_->load(std::memory_order_relaxed);
    return written > position_ ? written - position_ : 0;
  }

 private:
  friend class BroadcastRing;

  explicit Reader(std::shared_ptr<detail::BroadcastShared> shared) noexcept
      : written_(&shared->written),
        words_(shared->words.data()),
        slots_(shared->geometry.slots),
        stride_words_(shared->geometry.stride_words),
        payload_bytes_(shared->geometry.payload_bytes),
        slot_elements_(shared->geometry.slot_elements),
        // Relaxed: the join point only needs to be a value `written` really had;
        // read() acquires `written` itself before touching a slot.
        position_(shared->written.load(std::memory_order_relaxed)),
        shared_(std::move(shared)) {}

  void check_live() const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(written_ != nullptr, "BroadcastRing::Reader used after it was moved from");
  }

  ReadResult read_bytes(std::span<std::byte> out) noexcept NOWAIT_NONBLOCKING {
    const std::uint64_t p = position_;
    // Acquire: pairs with the writer's release of `written`; the stamp and
    // payload of every item below `written` are visible ("written" edge).
    const std::uint64_t written = written_->load(std::memory_order_acquire);
    if (written <= p) return {ReadStatus::empty, p, 0};
    // Item p + slots, which reuses p's slot, is already complete: item p is gone.
    if (written - p > slots_) return drop_to(written);

    const detail::BroadcastWord* const slot = words_ + static_cast<std::size_t>(p % slots_) * stride_words_;
    const std::uint64_t expected = detail::stamp_done(p);
    // Acquire: pairs with the writer's release of the done stamp, so the copy
    // below starts from this item's payload or something newer, never older
    // ("done stamp" edge).
    const std::uint64_t before = slot[0].load(std::memory_order_acquire);
    // `written` > p guarantees before >= expected; anything else is a later item's stamp.
    if (before != expected) return drop_to(std::max(written, detail::items_started(before)));

    detail::load_seqlock_words(slot + 1, out.data(), std::min(out.size(), payload_bytes_));
    // Acquire fence before the recheck: if the copy read any word of a later
    // write, that write's busy stamp is visible to the recheck ("fences" edge).
    detail::acquire_fence();
    // Relaxed: ordered after the copy by the fence above.
    const std::uint64_t after = slot[0].load(std::memory_order_relaxed);
    if (after != expected) return drop_to(std::max(written, detail::items_started(after)));

    position_ = p + 1;
    return {ReadStatus::item, p, 0};
  }

  // Moves past an overwritten item. `head` is the number of items the writer
  // has written or started; it exceeds position_ + slots_ on every path that
  // calls this, so the new position is past the lost item and `lost` >= 2.
  ReadResult drop_to(std::uint64_t head) noexcept NOWAIT_NONBLOCKING {
    const std::uint64_t resume = head - slots_ + 1;
    const std::uint64_t lost = resume - position_;
    position_ = resume;
    return {ReadStatus::dropout, resume, lost};
  }

  // Hot fields are copied out of the shared state so read() touches only the
  // reader's own object, `written` and the slot.
  const std::atomic<std::uint64_t>* written_;
  const detail::BroadcastWord* words_;
  std::size_t slots_;
  std::size_t stride_words_;
  std::size_t payload_bytes_;
  std::size_t slot_elements_;
  std::uint64_t position_;
  std::shared_ptr<detail::BroadcastShared> shared_;
};

}  // namespace nowait
