// nowait/snapshot.hpp: handing a current value from the threads that produce it
// to the threads that look at it, without a lock. Three shapes:
//
//   SeqlockCell<T>     a small trivially copyable value (a counter snapshot, a
//                      meter reading) that readers copy out. One writer stores,
//                      or any thread updates it with try_update.
//   TripleBuffer<T>    one writer hands whole values of any T (a block of meter
//                      data) to one reader; both sides wait-free, nothing copied.
//   SharedSnapshot<T>  an immutable, possibly large T (a configuration, a
//                      routing table) that control threads replace and many
//                      readers, real-time ones included, use in place.
//
//   nowait::SeqlockCell<Levels> levels;
//   levels.store(now);                                  // RT thread: wait-free
//   Levels seen = levels.load();                        // any thread
//
//   auto [tx, rx] = nowait::TripleBuffer<MeterBlock>::create(MeterBlock{});
//   fill(tx.back()); tx.publish();                      // RT thread: wait-free
//   if (rx.update()) draw(rx.front());                  // UI thread: wait-free
//
//   nowait::SharedSnapshot<Routing> routing(Routing{}, 4);  // up to 4 readers
//   auto reader = routing.make_reader();                // once, off the RT thread
//   { auto g = reader.read(); use(*g); }                // RT thread: wait-free
//   routing.publish(Routing{...});                      // control: allocates, frees old values
//
// Which one: SeqlockCell when a copy of T is cheap and several threads read;
// TripleBuffer when T is big or not trivially copyable and there is exactly
// one reader; SharedSnapshot when T is immutable and shared by many readers,
// or too big to copy on every read.
//
// Contracts (W = the writer, R = a reader, C = a control thread):
//
//   call                              thread  progress                           allocates
//   SeqlockCell()                     any     wait-free                          no
//   SeqlockCell::store                W       wait-free (one RMW, O(sizeof T))   no
//   SeqlockCell::try_store            any     wait-free                          no
//   SeqlockCell::try_update(f)        any     wait-free if f is                  no (f may)
//   SeqlockCell::try_load()           any     wait-free (one attempt)            no
//   SeqlockCell::try_load(attempts)   any     wait-free (bounded attempts)       no
//   SeqlockCell::load()               any     lock-free (see below)              no
//   TripleBuffer::create              C       blocking                           yes, once
//   Writer::back / publish            W       wait-free (one exchange)           no
//   Reader::update / front            R       wait-free (one exchange at most)   no
//   destroying a TripleBuffer end     C       blocking                           frees (the last end)
//   (a moved-from TripleBuffer end may only be destroyed or assigned to: checked in debug builds)
//   SharedSnapshot(initial, readers)  C       blocking                           yes
//   try_make_reader                   any     wait-free, O(max_readers)          no (nullopt when slots run
//   out) make_reader                       C       wait-free, O(max_readers)          no; when slots run out
//   it throws
//                                                                                length_error, which
//                                                                                allocates
//   Reader::read, ~Guard              R       wait-free (three atomics)          no, never frees
//   destroying a snapshot Reader      R       wait-free                          no
//   publish                           C       blocking (publishers' mutex)       publish(T): yes; frees
//   reclaim                           C       blocking (publishers' mutex)       no; frees old values
//   ~SharedSnapshot                   C       blocking                           frees
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "nowait/detail/seqlock_words.hpp"
#include "nowait/rt.hpp"

namespace nowait {

// ===========================================================================
// SeqlockCell<T>
//
// A two-copy seqlock (the "latch" variant of Linux's seqcount_latch): a
// sequence word and two copies of T. Let k be the number of completed writes;
// the newest value is in copy k % 2 (the initial value counts as write 0, in
// copy 0). The sequence word is
//   2k       idle: the newest value is write k, in copy k % 2;
//   2k + 1   write k + 1 is in progress, filling copy (k + 1) % 2.
// A writer never touches the copy that holds the newest value, so a reader can
// copy that one while a write is in progress: a read fails only when a second
// write starts during it (write k + 2 is the next to overwrite copy k % 2), and
// a writer that stalls mid-write never stalls a reader.
//
// Writer (store, try_store, try_update):
//   fetch_or(1) on the sequence (acquire): if the bit was already set another
//   write is in flight and this one gives up, changing nothing (OR-ing a set
//   bit is a no-op). Otherwise the writer owns the cell until it clears the bit:
//   release fence; copy (k + 1) % 2 stored word by word (relaxed);
//   sequence = 2k + 2 (release). A try_update whose function declines puts
//   back 2k (release): no copy was touched, so readers lose nothing.
// Reader (try_load):
//   s0 = sequence (acquire); k = s0 / 2; copy k % 2 loaded word by word
//   (relaxed); acquire fence; s1 = sequence (relaxed). Keep the copy iff
//   s1 <= 2k + 2, i.e. write k + 2 had not started.
// Why the recheck is sound: if the reader's copy read any word from a write
// j >= k + 2 (the writes that reuse copy k % 2), that write's release fence and
// the reader's acquire fence synchronise, so j's busy stamp 2j - 1 >= 2k + 3
// happens-before the recheck and s1 is that stamp or a value written after it.
// Every value the sequence takes after a busy stamp 2j - 1 is at least 2j - 1:
// completed writes only raise it, a failed fetch_or writes back the value it
// found, and a declined update puts back the even value it found, which came
// after that stamp. Older writes to copy k % 2 cannot
// be read at all: the acquire of s0 synchronises with the release that ended
// write k (directly, or through the read-modify-writes that continue its
// release sequence), and write k happens-after every earlier write, since each
// writer acquires its predecessor's release.
//
// Why the copies are atomic words: a reader copies bytes that a writer may be
// storing at that moment and decides afterwards whether to keep them. With
// memcpy that concurrent access is a data race, undefined behaviour whether or
// not the copy is discarded, and what ThreadSanitizer reports. The copies are
// arrays of std::atomic<std::uint64_t> accessed with relaxed loads and stores
// (detail/seqlock_words.hpp, shared with BroadcastRing), ordered by the two
// fences above (H.-J. Boehm, "Can seqlocks get along with programming language
// memory models?", 2012). On x86-64 and AArch64 each relaxed access is a plain
// move, so a copy costs one move per 8 bytes.
//
// Weak ordering. Every step of the argument above is a happens-before edge of
// the C++ model (release/acquire on the sequence word, the fence pair around
// the copies, and RMWs continuing release sequences), none a consequence of
// x86's stronger ordering, so it holds on AArch64, where the release store is
// STLR, the acquire load LDAR/LDAPR, the fetch_or an acquiring LDSET (or an
// LDAXR/STXR loop) and the fences DMB ISH / DMB ISHLD.
//
// Progress. Writers are wait-free: one read-modify-write decides, nobody waits
// for anybody (on x86-64 the fetch_or whose result is only tested for bit 0
// compiles to one `lock bts`; on AArch64 with LSE to one `ldsetal`). try_load
// is wait-free. load() repeats try_load until it succeeds, and an attempt fails
// only if a write started while it copied, so it is lock-free: some write
// always completed in the meantime. Its bound in time: with writes (of all
// writers together) starting more than 2C apart, where C is the time of one
// copy of T, load() succeeds at its first or second attempt (unless the
// reader itself is preempted). It never waits for a write in progress, not
// even one whose thread was preempted.
// ===========================================================================
template <class T>
class SeqlockCell {
  static_assert(std::is_trivially_copyable_v<T>, "SeqlockCell<T> copies T as bytes");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T>, "SeqlockCell<T> needs an unqualified T");

 public:
  using value_type = T;

  // Makes a cell holding T{}.
  // Thread: any (before the cell is shared). Wait-free. Allocates: no.
  SeqlockCell() noexcept requires std::is_nothrow_default_constructible_v<T> : SeqlockCell(T{}) {}

  // Makes a cell holding `initial`.
  // Thread: any (before the cell is shared). Wait-free. Allocates: no.
  explicit SeqlockCell(const T& initial) noexcept {
    // Copy 1 stays zero: no reader looks at it before write 1 has filled it.
    write_copy(0, initial);
  }

  SeqlockCell(const SeqlockCell&) = delete;
  SeqlockCell& operator=(const SeqlockCell&) = delete;

  // Replaces the value with `value`.
  // Thread: the cell's single designated writer.
  // Precondition: no other call that writes (store, try_store, try_update) is
  // in flight on the cell. Checked in debug builds (a clash aborts); with
  // NDEBUG a clashing store is dropped: the cell keeps the other writer's
  // value and is never torn. For cells that several threads write, use
  // try_store or try_update and handle `false`.
  // Progress: wait-free, one read-modify-write and O(sizeof(T)). Allocates: no.
  void store(const T& value) noexcept NOWAIT_NONBLOCKING {
    const bool stored = try_store(value);
    NOWAIT_PRECONDITION(stored, "SeqlockCell::store: another store or try_update is in flight");
    static_cast<void>(stored);
  }

  // Replaces the value with `value` unless another write is in flight.
  // Returns: true if stored; false (changing nothing) if another store,
  // try_store or try_update held the cell at that moment.
  // Thread: any. Progress: wait-free. Allocates: no.
  [[nodiscard]] bool try_store(const T& value) noexcept NOWAIT_NONBLOCKING {
    if (!acquire_write()) return false;
    publish_owned(owned_sequence(), value);
    return true;
  }

  // Read-modify-write without a lock: if no other write is in flight, takes the
  // cell, calls f(copy) on a copy of the current value and, if f returns true
  // (or returns void), publishes the copy.
  // f: invocable as f(T&), returning something convertible to bool, or void.
  // While f runs, readers still load the previous value and every other write
  // to this cell fails at once, so keep f short; it must not expect another
  // write to this cell to succeed (it will not: nothing here ever waits, so
  // nothing can deadlock either). If f throws, the cell is released unchanged
  // and the exception propagates.
  // Returns: true if f's value was published; false if another write was in
  // flight (f was not called) or f returned false.
  // Thread: any. Progress: wait-free, as long as f is. Allocates: not itself.
  template <class F>
  bool try_update(F&& f) noexcept(std::is_nothrow_invocable_v<F&, T&>) {
    static_assert(std::is_invocable_v<F&, T&>, "SeqlockCell::try_update needs f(T&)");
    if (!acquire_write()) return false;
    const std::uint64_t busy = owned_sequence();
    // The newest value is in copy k % 2, where busy == 2k + 1. We own the cell,
    // so no store can race with these loads.
    T value = read_copy((busy >> 1) & 1);
    bool publish = true;
    {
      ReleaseUnchanged on_throw{sequence_, busy - 1};
      if constexpr (std::is_void_v<std::invoke_result_t<F&, T&>>) {
        std::invoke(f, value);
      } else {
        publish = static_cast<bool>(std::invoke(f, value));
      }
      on_throw.armed = false;
    }
    if (!publish) {
      // Release: the next writer to take the cell sees the newest copy, as it
      // would after a completed write (its acquire pairs with this store).
      sequence_.store(busy - 1, std::memory_order_release);
      return false;
    }
    publish_owned(busy, value);
    return true;
  }

  // Copies the value out in one attempt.
  // Returns: the value of the newest write completed when the call read the
  // sequence, or nullopt if two writes started during the copy. A single
  // write in progress does not make it fail.
  // Thread: any. Progress: wait-free, O(sizeof(T)). Allocates: no.
  [[nodiscard]] std::optional<T> try_load() const noexcept NOWAIT_NONBLOCKING {
    // Acquire: synchronises with the release that completed write k (directly
    // or through the read-modify-writes that follow it), so copy k % 2 is whole.
    const std::uint64_t before = sequence_.load(std::memory_order_acquire);
    const std::uint64_t newest = before >> 1;
    std::array<std::byte, sizeof(T)> bytes{};
    detail::load_seqlock_words(copy(newest & 1), bytes.data(), sizeof(T));
    // Acquire fence before the recheck: if the copy read any word of a later
    // write, that write's stamp is visible to the recheck.
    detail::acquire_fence();
    // Relaxed: ordered after the copy by the acquire fence above.
    const std::uint64_t after = sequence_.load(std::memory_order_relaxed);
    // Write newest + 2, the next to overwrite this copy, sets 2 * newest + 3 first.
    if (after > 2 * newest + 2) return std::nullopt;
    return std::bit_cast<T>(bytes);
  }

  // try_load() repeated up to `max_attempts` times (at least once).
  // Returns: the first successful copy, or nullopt if every attempt failed.
  // Thread: any. Progress: wait-free, O(max_attempts * sizeof(T)). Allocates: no.
  [[nodiscard]] std::optional<T> try_load(std::size_t max_attempts) const noexcept NOWAIT_NONBLOCKING {
    std::optional<T> value = try_load();
    for (std::size_t i = 1; !value && i < max_attempts; ++i) value = try_load();
    return value;
  }

  // Copies the value out, retrying until no second write overlaps the copy.
  // Returns: the value of a write completed at some point during the call.
  // Thread: any. Progress: lock-free: an attempt fails only because a write
  // started meanwhile, and it never waits for a write in progress. With writes
  // starting more than two copy-times apart it returns by its second attempt;
  // a real-time reader facing writers it cannot bound should use try_load.
  // Allocates: no.
  [[nodiscard]] T load() const noexcept NOWAIT_NONBLOCKING {
    for (;;) {
      if (std::optional<T> value = try_load()) return *value;
    }
  }

 private:
  static constexpr std::size_t words_per_copy = detail::seqlock_words_for(sizeof(T));

  // Restores the stamp a writer found, if the update function throws.
  struct ReleaseUnchanged {
    std::atomic<std::uint64_t>& sequence;
    std::uint64_t idle;
    bool armed = true;
    ~ReleaseUnchanged() {
      // Release: as for a declined update in try_update.
      if (armed) sequence.store(idle, std::memory_order_release);
    }
  };

  // Sets the busy bit. Returns true if this call set it and so owns the cell.
  bool acquire_write() noexcept NOWAIT_NONBLOCKING {
    // Acquire: pairs with the release that ended the previous write (or
    // restored the stamp), so its copy is visible to try_update and this
    // write's stores come after the previous ones to the same copy.
    return (sequence_.fetch_or(1, std::memory_order_acquire) & 1) == 0;
  }

  // The odd sequence value while this thread owns the cell.
  std::uint64_t owned_sequence() const noexcept NOWAIT_NONBLOCKING {
    // Relaxed: this thread's own fetch_or is the latest change; other writers'
    // failed fetch_or calls since then wrote the same value back.
    return sequence_.load(std::memory_order_relaxed);
  }

  // Completes write k + 1, where busy == 2k + 1.
  void publish_owned(std::uint64_t busy, const T& value) noexcept NOWAIT_NONBLOCKING {
    // Release fence after the busy stamp: a reader whose copy reads any of the
    // following stores also sees the stamp change when it rechecks.
    detail::release_fence();
    const std::uint64_t done = busy + 1;
    write_copy((done >> 1) & 1, value);
    // Release: a reader or writer that acquires this stamp sees the whole copy.
    sequence_.store(done, std::memory_order_release);
  }

  void write_copy(std::size_t which, const T& value) noexcept NOWAIT_NONBLOCKING {
    detail::store_seqlock_words(copy(which), words_per_copy, reinterpret_cast<const std::byte*>(&value),
                                sizeof(T));
  }

  T read_copy(std::size_t which) const noexcept NOWAIT_NONBLOCKING {
    std::array<std::byte, sizeof(T)> bytes{};
    detail::load_seqlock_words(copy(which), bytes.data(), sizeof(T));
    return std::bit_cast<T>(bytes);
  }

  detail::SeqlockWord* copy(std::size_t which) noexcept { return words_.data() + which * words_per_copy; }
  const detail::SeqlockWord* copy(std::size_t which) const noexcept {
    return words_.data() + which * words_per_copy;
  }

  // The sequence and both copies are read together by every reader, so they
  // share lines; the cell as a whole starts on its own line so that unrelated
  // data written by other threads does not share them.
  alignas(cache_line_size) std::atomic<std::uint64_t> sequence_{0};
  std::array<detail::SeqlockWord, 2 * words_per_copy> words_{};
};

// ===========================================================================
// TripleBuffer<T>
//
// Three buffers: the writer owns one (back), the reader owns one (front) and
// the third (middle) is in between. One atomic byte holds the middle buffer's
// index and a "fresh" bit that says it holds a value the reader has not taken.
//   publish(): middle = exchange(middle, back | fresh); back = old middle.
//   update():  if fresh: middle = exchange(middle, front); front = old middle.
// Each side swaps its own buffer with the middle one, so the two never hold
// the same buffer and neither ever waits. The reader always gets the newest
// published value: anything published and not taken is overwritten in the
// middle by the next publish.
// ===========================================================================
template <class T>
class TripleBuffer {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "TripleBuffer<T> needs a mutable object type");
  static_assert(std::is_nothrow_destructible_v<T>, "TripleBuffer<T> needs a non-throwing destructor");

 public:
  class Writer;
  class Reader;

  // Allocates the three buffers, each a copy of `initial`, and returns the
  // only writer and the only reader. Until the first publish, front() is
  // `initial` and back() is a copy of it.
  // Throws: std::bad_alloc, or whatever copying T throws.
  // Thread: control. Progress: blocking. Allocates: yes, once; nothing after.
  [[nodiscard]] static std::pair<Writer, Reader> create(const T& initial) {
    auto shared = std::make_shared<State>(initial);
    Writer writer(shared);
    return {std::move(writer), Reader(std::move(shared))};
  }

  // create(T{}).
  [[nodiscard]] static std::pair<Writer, Reader> create() requires std::is_default_constructible_v<T> {
    return create(T{});
  }

 private:
  static constexpr std::uint8_t index_mask = 0x3;
  static constexpr std::uint8_t fresh_bit = 0x4;

  // Each buffer on lines of its own: the writer filling back() must not
  // invalidate the lines the reader is reading front() from.
  struct alignas(cache_line_size) Buffer {
    explicit Buffer(const T& initial) : value(initial) {}
    T value;
  };

  struct State {
    explicit State(const T& initial) : buffers{Buffer(initial), Buffer(initial), Buffer(initial)} {}
    std::array<Buffer, 3> buffers;
    // The writer starts with buffer 0, the reader with buffer 2.
    alignas(cache_line_size) std::atomic<std::uint8_t> middle{1};
  };
  static_assert(std::atomic<std::uint8_t>::is_always_lock_free, "the index byte must be lock-free");
};

// The only writer of a triple buffer. Move-only; a moved-from writer may only
// be destroyed or assigned to (using it otherwise is checked in debug
// builds). Destroy it off the real-time thread: if it is the last end, it
// frees the buffers.
template <class T>
class TripleBuffer<T>::Writer {
 public:
  // A moved-from writer holds no buffers: were it to keep its pointer, it
  // could publish into the moved-to writer's buffer behind its back.
  Writer(Writer&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)), back_(other.back_), shared_(std::move(other.shared_)) {}
  Writer& operator=(Writer&& other) noexcept {
    if (this != &other) {
      state_ = std::exchange(other.state_, nullptr);
      back_ = other.back_;
      shared_ = std::move(other.shared_);
    }
    return *this;
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() = default;

  // The buffer to fill before publish(). It holds an older value (whatever
  // the reader or the writer left in it), so overwrite all of it that matters.
  // The reference stays valid until publish().
  // Thread: writer. Progress: wait-free. Allocates: no.
  T& back() noexcept NOWAIT_NONBLOCKING {
    check_live();
    return state_->buffers[back_].value;
  }

  // Hands back() to the reader as the newest value and takes another buffer
  // as back(). A value published earlier and not yet taken is dropped.
  // Thread: writer. Progress: wait-free, one exchange. Allocates: no.
  void publish() noexcept NOWAIT_NONBLOCKING {
    check_live();
    // acq_rel: release hands the filled buffer to the reader; acquire takes
    // back the buffer the reader gave up, after its last read of it. Edges
    // (every change of `middle` is an exchange, so each one reads the one
    // before): the writer's fill -> this exchange -> the reader's exchange
    // that takes the buffer -> its reads; and the reader's last reads of a
    // buffer -> its exchange that gives it back -> this exchange -> the
    // writer's next fill of it.
    const std::uint8_t old =
        state_->middle.exchange(static_cast<std::uint8_t>(back_ | fresh_bit), std::memory_order_acq_rel);
    back_ = static_cast<std::uint8_t>(old & index_mask);
  }

  // back() = value; publish().
  // Thread: writer. Progress: wait-free, plus T's copy assignment. Allocates:
  // only if T's copy assignment does.
  void publish(const T& value) noexcept(std::is_nothrow_copy_assignable_v<T>)
      NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
    back() = value;
    publish();
  }

 private:
  friend class TripleBuffer;
  explicit Writer(std::shared_ptr<State> shared) noexcept
      : state_(shared.get()), shared_(std::move(shared)) {}

  void check_live() const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(state_ != nullptr, "TripleBuffer::Writer used after it was moved from");
  }

  State* state_;
  std::uint8_t back_ = 0;
  std::shared_ptr<State> shared_;  // keeps the buffers alive; never touched on the hot path
};

// The only reader of a triple buffer. Move-only; see Writer for moves and
// destruction.
template <class T>
class TripleBuffer<T>::Reader {
 public:
  Reader(Reader&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        front_(other.front_),
        shared_(std::move(other.shared_)) {}
  Reader& operator=(Reader&& other) noexcept {
    if (this != &other) {
      state_ = std::exchange(other.state_, nullptr);
      front_ = other.front_;
      shared_ = std::move(other.shared_);
    }
    return *this;
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() = default;

  // Takes the newest published value as front(), if there is one the reader
  // has not taken yet.
  // Returns: true if front() changed to a newer value; false if nothing was
  // published since the last update (front() is unchanged).
  // Thread: reader. Progress: wait-free, one load and at most one exchange.
  // Allocates: no.
  bool update() noexcept NOWAIT_NONBLOCKING {
    check_live();
    // Relaxed: only a hint; the exchange below is what synchronises.
    if ((state_->middle.load(std::memory_order_relaxed) & fresh_bit) == 0) return false;
    // acq_rel: acquire makes the writer's fill of the fresh buffer visible;
    // release hands back the old front after this thread's last read of it.
    // Only this thread clears the fresh bit, so the middle buffer taken here
    // is still fresh (the writer may have replaced it with a newer one). The
    // edges are spelled out at Writer::publish().
    const std::uint8_t old = state_->middle.exchange(front_, std::memory_order_acq_rel);
    front_ = static_cast<std::uint8_t>(old & index_mask);
    return true;
  }

  // The value taken by the latest update() (or the initial value). Valid
  // until the next update().
  // Thread: reader. Progress: wait-free. Allocates: no.
  const T& front() const noexcept NOWAIT_NONBLOCKING {
    check_live();
    return state_->buffers[front_].value;
  }

 private:
  friend class TripleBuffer;
  explicit Reader(std::shared_ptr<State> shared) noexcept
      : state_(shared.get()), shared_(std::move(shared)) {}

  void check_live() const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(state_ != nullptr, "TripleBuffer::Reader used after it was moved from");
  }

  State* state_;
  std::uint8_t front_ = 2;
  std::shared_ptr<State> shared_;
};

// ===========================================================================
// SharedSnapshot<T>
//
// The equivalent of Go's atomic.Value for an immutable T: publishers swap in a
// new heap-allocated value; readers use the current one in place, with no
// lock, no reference count and no allocation, and an old value is deleted
// only when no reader can still see it, always by a publishing (control)
// thread, never by a reader.
//
// Reclamation: hazard pointers with publisher help, which makes reads
// wait-free. Each reader owns a slot, claimed once off the real-time thread
// (make_reader; at most max_readers at a time, fixed at construction). A slot
// holds 0 (not reading), PENDING (a read has started) or the address of the
// value the reader is using.
//   Reader::read():  slot = PENDING; p = current; CAS(slot: PENDING -> p).
//                    If the CAS fails, a publisher has put its new value into
//                    the slot; the reader uses that one instead. Three atomic
//                    operations and no loop: wait-free.
//   ~Guard():        slot = 0.
//   publish(v):      under the publishers' mutex: old = exchange(current, v);
//                    for each slot: if it is PENDING, CAS it to v (helping);
//                    remember every address the slots hold; delete every
//                    retired value (old ones included) that no slot holds.
//   reclaim():       the same scan without a new value.
// Why no reader ever uses a deleted value: all of the above are seq_cst, so
// they fall in one total order. Take a reader that loaded p from `current`,
// and the publisher that swapped p out. If the reader's PENDING came after the
// publisher's scan of its slot, its load of `current` came after the swap too,
// so it did not see p. Otherwise the scan found either PENDING, and replaced it
// with v so the reader's CAS fails and it uses v, which is current and now in
// its slot; or p, and p is kept until a later scan finds the slot no longer
// holding it; or 0, and the reader is done with p. A value a publisher
// installs stays in the slot until the guard ends, so later scans see it.
// Readers never wait for publishers, nor publishers for readers: a reader that
// holds a guard forever only keeps that one value alive.
// On AArch64 the seq_cst operations compile to STLR / LDAR (and acquiring
// and releasing CAS), and an LDAR is never satisfied before the same
// thread's earlier STLR is visible to all cores, so the store-then-load
// pattern above (slot = PENDING, then load `current`; exchange `current`,
// then load the slots) keeps its single total order without an extra fence.
// Bound on memory: after a scan, at most max_readers retired values are left
// (each slot protects at most one), so at most max_readers + 1 values exist.
//
// Progress: read() and ~Guard() are wait-free. publish() and reclaim() take a
// mutex shared only by publishers and reclaimers (readers never touch it), so
// they are blocking between control threads, and run in O(max_readers +
// retired) plus the destructors they run.
// ===========================================================================
namespace detail {
// Declared for tests, which define it to drive a read one step at a time.
template <class T>
struct SharedSnapshotTestProbe;
// Its address marks a slot whose read has started: no T can live there.
inline constexpr unsigned char shared_snapshot_pending_tag = 0;
}  // namespace detail

template <class T>
class SharedSnapshot {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "SharedSnapshot<T> needs a mutable object type");
  static_assert(std::is_nothrow_destructible_v<T>, "SharedSnapshot<T> needs a non-throwing destructor");

  struct Slot;

 public:
  class Reader;
  class Guard;

  // Makes a snapshot holding `initial` that up to `max_readers` readers may
  // read at the same time.
  // Throws: std::invalid_argument if max_readers is 0 or initial is null;
  // std::bad_alloc. Thread: control. Progress: blocking. Allocates: yes.
  SharedSnapshot(std::unique_ptr<T> initial, std::size_t max_readers)
      : slots_(make_slots(max_readers)), slot_count_(max_readers) {
    if (!initial) throw std::invalid_argument("nowait::SharedSnapshot: initial value is null");
    // Room for the most values that can wait for readers, plus the one a
    // publish adds before it scans: no reallocation after construction.
    retired_.reserve(max_readers + 1);
    protected_.reserve(max_readers);
    // Relaxed: the snapshot is not shared yet; whatever shares it publishes it.
    current_.store(initial.release(), std::memory_order_relaxed);
  }

  // As above, with a heap copy of `initial`.
  SharedSnapshot(T initial, std::size_t max_readers)
      : SharedSnapshot(std::make_unique<T>(std::move(initial)), max_readers) {}

  SharedSnapshot(const SharedSnapshot&) = delete;
  SharedSnapshot& operator=(const SharedSnapshot&) = delete;

  // Deletes the current value and every retired one.
  // Precondition: no Reader of this snapshot exists (checked in debug builds).
  // Thread: control. Progress: blocking. Frees: yes.
  ~SharedSnapshot() {
    for (std::size_t i = 0; i < slot_count_; ++i) {
      // Acquire: pairs with ~Reader's release, so its last guard's reads are done.
      NOWAIT_PRECONDITION(!slots_[i].claimed.load(std::memory_order_acquire),
                          "SharedSnapshot destroyed while a Reader still exists");
    }
    // Relaxed: nothing runs concurrently with destruction (no reader exists,
    // and no publisher may still be using the object).
    delete current_.load(std::memory_order_relaxed);
    for (const T* value : retired_) delete value;
  }

  // Claims a reader slot and returns the reader that owns it, or nullopt
  // when all max_readers slots are taken.
  // Thread: any. Progress: wait-free, O(max_readers). Allocates: no. The
  // Reader must be destroyed before the snapshot; it may be moved to the
  // thread that reads.
  [[nodiscard]] std::optional<Reader> try_make_reader() noexcept NOWAIT_NONBLOCKING {
    for (std::size_t i = 0; i < slot_count_; ++i) {
      bool expected = false;
      // Acquire: pairs with the release in ~Reader, so the slot's previous
      // owner has finished with it (its hazard is 0). Edge: the old owner's
      // last guard ends (hazard = 0) -> its release store of `claimed` ->
      // this CAS, which reads it.
      if (slots_[i].claimed.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                                    std::memory_order_relaxed)) {
        return Reader(*this, slots_[i]);
      }
    }
    return std::nullopt;
  }

  // As try_make_reader, for callers that treat running out of slots as an
  // error. Throws: std::length_error if all max_readers slots are taken;
  // only that throw allocates (the exception object).
  // Thread: control (off the real-time thread, since it may throw). Progress:
  // wait-free, O(max_readers). Allocates: no, except to throw.
  [[nodiscard]] Reader make_reader() {
    if (std::optional<Reader> reader = try_make_reader()) return std::move(*reader);
    throw std::length_error("nowait::SharedSnapshot: all max_readers reader slots are in use");
  }

  // Makes `value` the current value, then deletes every old value no reader
  // can still see. Readers that start a read after this call see `value`.
  // Throws: std::invalid_argument if value is null (nothing changes).
  // Thread: control; several threads may publish. Progress: blocking (a mutex
  // shared with other publishers and reclaim, never with readers).
  // Allocates: no (the caller allocated `value`). Frees: old values.
  void publish(std::unique_ptr<T> value) {
    if (!value) throw std::invalid_argument("nowait::SharedSnapshot::publish: value is null");
    const std::lock_guard lock(mutex_);
    const T* const fresh = value.release();
    // seq_cst: with the readers' seq_cst slot stores and loads this is the
    // store-load pattern the reclamation argument needs (see the header).
    retired_.push_back(current_.exchange(fresh, std::memory_order_seq_cst));
    scan_and_free(fresh);
  }

  // publish() of a heap copy of `value`. Allocates: yes.
  void publish(T value) { publish(std::make_unique<T>(std::move(value))); }

  // Deletes every retired value that no reader holds any more, e.g. after a
  // reader that held an old value for a long time let go.
  // Returns: how many values were deleted.
  // Thread: control. Progress: blocking (publishers' mutex). Allocates: no.
  std::size_t reclaim() {
    const std::lock_guard lock(mutex_);
    return scan_and_free(nullptr);
  }

  // Old values not yet deleted because a reader may still hold them.
  // Thread: control. Progress: blocking (publishers' mutex). Allocates: no.
  std::size_t retired_count() const {
    const std::lock_guard lock(mutex_);
    return retired_.size();
  }

  // The reader limit fixed at construction. Thread: any. Wait-free.
  std::size_t max_readers() const noexcept { return slot_count_; }

 private:
  static std::uintptr_t address(const T* value) noexcept { return reinterpret_cast<std::uintptr_t>(value); }
  static std::uintptr_t pending() noexcept {
    return reinterpret_cast<std::uintptr_t>(&detail::shared_snapshot_pending_tag);
  }

  // One reader's hazard, alone on its line: each reader writes only its own
  // line, so readers never contend with each other.
  struct alignas(cache_line_size) Slot {
    std::atomic<std::uintptr_t> hazard{0};
    std::atomic<bool> claimed{false};
  };

  static std::unique_ptr<Slot[]> make_slots(std::size_t count) {
    if (count == 0) throw std::invalid_argument("nowait::SharedSnapshot: max_readers must be positive");
    return std::make_unique<Slot[]>(count);
  }

  // Called with mutex_ held. `help_with` is the value just published (or null
  // from reclaim, where a PENDING slot cannot lead to a retired value: its
  // read started after the last publish's scan, so it loads a value that is
  // current now or was current after that scan).
  std::size_t scan_and_free(const T* help_with) {
    protected_.clear();
    for (std::size_t i = 0; i < slot_count_; ++i) {
      // seq_cst: see publish().
      std::uintptr_t held = slots_[i].hazard.load(std::memory_order_seq_cst);
      if (held == pending() && help_with != nullptr) {
        // seq_cst: as above. On failure `held` becomes what the reader claimed
        // (protected below), or 0 or a new PENDING, which protect nothing old.
        if (slots_[i].hazard.compare_exchange_strong(held, address(help_with), std::memory_order_seq_cst)) {
          held = address(help_with);
        }
      }
      if (held != 0 && held != pending()) protected_.push_back(held);
    }
    std::sort(protected_.begin(), protected_.end());
    const auto still_held = [this](const T* value) {
      return std::binary_search(protected_.begin(), protected_.end(), address(value));
    };
    const auto freed = std::partition(retired_.begin(), retired_.end(), still_held);
    const auto count = static_cast<std::size_t>(retired_.end() - freed);
    for (auto it = freed; it != retired_.end(); ++it) delete *it;
    retired_.erase(freed, retired_.end());
    return count;
  }

  // Every reader loads it on every read and only publishers store it: a line
  // of its own keeps publishers' other writes (mutex, lists) off readers' caches.
  alignas(cache_line_size) std::atomic<const T*> current_{nullptr};
  alignas(cache_line_size) std::unique_ptr<Slot[]> slots_;
  std::size_t slot_count_;
  mutable std::mutex mutex_;
  std::vector<const T*> retired_;          // guarded by mutex_
  std::vector<std::uintptr_t> protected_;  // guarded by mutex_; scratch for scan_and_free
};

// Keeps one value alive while a reader uses it; obtained from Reader::read().
// Move-only. A reader has at most one live guard at a time.
template <class T>
class SharedSnapshot<T>::Guard {
 public:
  Guard(Guard&& other) noexcept
      : value_(std::exchange(other.value_, nullptr)), hazard_(std::exchange(other.hazard_, nullptr)) {}
  Guard& operator=(Guard&&) = delete;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // Lets go of the value; a later publish or reclaim may delete it.
  // Thread: the reader's. Progress: wait-free, one store. Never frees.
  ~Guard() NOWAIT_NONBLOCKING {
    // Release: this reader's reads of the value happen before the publisher's
    // scan that sees the cleared slot and deletes the value. Edge: the reads
    // -> this store -> the publisher's seq_cst (so acquiring) load of the
    // slot that reads 0 -> its delete.
    if (hazard_ != nullptr) hazard_->store(0, std::memory_order_release);
  }

  // The value, consistent and unchanging for the guard's lifetime.
  // Precondition: the guard was not moved from.
  const T& operator*() const noexcept NOWAIT_NONBLOCKING { return *value_; }
  const T* operator->() const noexcept NOWAIT_NONBLOCKING { return value_; }
  const T* get() const noexcept NOWAIT_NONBLOCKING { return value_; }

 private:
  friend class Reader;
  Guard(const T* value, std::atomic<std::uintptr_t>& hazard) noexcept : value_(value), hazard_(&hazard) {}

  const T* value_;
  std::atomic<std::uintptr_t>* hazard_;
};

// One registered reader: a claimed slot. Move-only; a moved-from reader may
// only be destroyed or assigned to. It may be moved to, and used from, any one
// thread at a time, including a real-time thread.
template <class T>
class SharedSnapshot<T>::Reader {
 public:
  Reader(Reader&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)), slot_(std::exchange(other.slot_, nullptr)) {}
  Reader& operator=(Reader&& other) noexcept {
    if (this != &other) {
      release();
      owner_ = std::exchange(other.owner_, nullptr);
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Gives the slot back for another make_reader().
  // Precondition: no guard of this reader is alive (checked in debug builds).
  // Thread: any. Progress: wait-free. Frees: no.
  ~Reader() NOWAIT_NONBLOCKING { release(); }

  // Returns a guard on the current value. The value stays valid, and never
  // changes, until the guard is destroyed, whatever is published meanwhile.
  // Precondition: this reader has no other live guard, and was not moved from
  // (checked in debug builds).
  // Thread: the reader's (real-time allowed). Progress: wait-free: three
  // atomic operations on this reader's slot and `current`, no loop.
  // Allocates: no. Frees: never.
  [[nodiscard]] Guard read() noexcept NOWAIT_NONBLOCKING { return claim(announce()); }

 private:
  friend class SharedSnapshot;
  friend struct detail::SharedSnapshotTestProbe<T>;

  Reader(SharedSnapshot& owner, Slot& slot) noexcept NOWAIT_NONBLOCKING : owner_(&owner), slot_(&slot) {}

  // First half of read(): marks the slot PENDING and loads the current value.
  const T* announce() noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(slot_ != nullptr, "SharedSnapshot::Reader used after a move");
    // Relaxed: only this thread stores a nonzero hazard into its own slot.
    NOWAIT_PRECONDITION(slot_->hazard.load(std::memory_order_relaxed) == 0,
                        "SharedSnapshot::Reader::read: a guard of this reader is still alive");
    // seq_cst: ordered before the load of `current` below, against the
    // publisher's exchange of `current` and scan of this slot (see the header).
    slot_->hazard.store(pending(), std::memory_order_seq_cst);
    // seq_cst: as above; it also acquires the value's construction.
    return owner_->current_.load(std::memory_order_seq_cst);
  }

  // Second half: protects `loaded`, unless a publisher has meanwhile put its
  // new value in the slot, in which case that one is used.
  Guard claim(const T* loaded) noexcept NOWAIT_NONBLOCKING {
    std::uintptr_t expected = pending();
    // seq_cst: see announce(). On failure the load acquires the helping
    // publisher's CAS, and with it the construction of its value.
    if (slot_->hazard.compare_exchange_strong(expected, address(loaded), std::memory_order_seq_cst)) {
      return Guard(loaded, slot_->hazard);
    }
    return Guard(reinterpret_cast<const T*>(expected), slot_->hazard);
  }

  void release() noexcept NOWAIT_NONBLOCKING {
    if (slot_ == nullptr) return;
    // Relaxed: the slot is idle unless this thread's own guard is alive; a
    // publisher only ever replaces PENDING, which read() never leaves behind.
    NOWAIT_PRECONDITION(slot_->hazard.load(std::memory_order_relaxed) == 0,
                        "SharedSnapshot::Reader destroyed while its guard is alive");
    // Release: pairs with make_reader's acquire; the next owner finds the slot idle.
    slot_->claimed.store(false, std::memory_order_release);
    slot_ = nullptr;
    owner_ = nullptr;
  }

  SharedSnapshot* owner_;
  Slot* slot_;
};

}  // namespace nowait
