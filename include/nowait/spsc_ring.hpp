// nowait/spsc_ring.hpp: a wait-free single-producer/single-consumer ring.
//
//   auto [tx, rx] = nowait::SpscRing<float>::create(4096);
//
// create() allocates once; after that every operation on either endpoint is
// wait-free and allocation-free, and is marked NOWAIT_NONBLOCKING, so either end
// may live on a real-time thread. The endpoints are move-only: exactly one
// thread owns the Producer and one owns the Consumer at any time, so misuse
// such as two producers does not compile.
//
// Functions that construct or destroy elements are NOWAIT_NONBLOCKING only when
// realtime_safe<T> holds (see rt.hpp): a ring of std::string works between
// ordinary threads, but pushing one from a real-time function does not compile.
//
// Contract (P = the thread owning the Producer, C = the thread owning the Consumer):
//
//   operation                              thread  progress   allocates
//   create(capacity)                       any     blocking   yes (throws on bad capacity)
//   try_push / try_emplace                 P       wait-free  no
//   write_chunk(n) + commit(k)             P       wait-free  no
//   write_chunk_exact(n) + commit(k)       P       wait-free  no
//   write_chunk_uninit(n) + commit(k)      P       wait-free  no
//   push_slice / push_from(first, last)    P       wait-free  no
//   try_pop / peek                         C       wait-free  no
//   read_chunk(n) + commit(k)              C       wait-free  no
//   read_chunk_exact(n) + commit(k)        C       wait-free  no
//   pop_slice                              C       wait-free  no
//   slots / available / capacity           own     wait-free  no
//   was_full / was_empty                   own     wait-free  no
//   is_abandoned                           own     wait-free  no
//   destroying an endpoint                 own     wait-free  frees when it is the last one
//
// Chunks. write_chunk(n) hands the producer up to n free slots and
// read_chunk(n) the consumer up to n items, each as two spans because the run
// may wrap around the end of the storage; commit(k) publishes (or releases)
// the first k and nothing is visible to the other side before it. The _exact
// variants return a chunk of exactly n or none, with the count there was
// (ExactChunk). Which element types a write chunk takes:
//   write_chunk         any default-constructible T. The slots are
//                       default-initialised when the chunk is made (nothing
//                       to do for trivial types such as float); commit(k)
//                       or dropping the chunk destroys the slots not
//                       published, so non-trivial T never leaks.
//   write_chunk_uninit  any T. The slots hold no objects: construct the first
//                       k in place (std::construct_at) before commit(k). Slots
//                       constructed but not committed are not destroyed by the
//                       ring: construct only what you commit.
// While a chunk is outstanding (made and neither committed nor destroyed) its
// endpoint must not be used, moved or destroyed: a push would land in a slot
// the chunk exposes and a pop would move the index under it. Debug builds
// check it in every endpoint operation, as they check moved-from endpoints
// and a commit of more than the chunk holds (release builds clamp that).
//
// Element lifetime: every element constructed in the ring is destroyed exactly
// once: by try_pop, pop_slice or ReadChunk::commit, or, for elements still in
// the ring, by whichever endpoint is destroyed last. Destroy endpoints off the
// real-time thread: the last one frees the storage.
//
// Layout and indices: head and tail are 64-bit counters that only grow; the
// slot of index i is i & mask over a power-of-two storage of at least
// `capacity` slots. The capacity a user asked for is enforced exactly (the ring
// holds at most `capacity` items); only the storage is rounded up, so that the
// slot lookup is a mask rather than a division. Unsigned wrap at 2^64 keeps
// every difference correct because 2^64 is a multiple of the storage size.
//
// Ordering, and why it holds on weakly ordered CPUs (AArch64). Each side
// writes one index and reads the other's; two acquire/release pairs carry
// everything:
//   tail: the producer constructs elements, then release-stores tail; the
//         consumer acquire-loads tail, then reads the elements. Construction
//         happens-before the reads.
//   head: the consumer reads and destroys elements, then release-stores head;
//         the producer acquire-loads head, then constructs in the freed slots.
//         The consumer's last access happens-before the reuse.
// Nothing else is shared on the hot path, and no code relies on a store
// becoming visible in program order without one of these edges (which x86
// gives for free and AArch64 does not: there a release store is an STLR and
// an acquire load an LDAR/LDAPR, which give exactly these edges and no more).
// The endpoint count adds a third edge, for is_abandoned() and destruction.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "nowait/rt.hpp"

namespace nowait {

template <class T>
class SpscRing;

namespace detail {

template <class T>
struct SpscState {
  // Each counter sits on its own cache line: the producer writes tail_ and the
  // consumer writes head_ on every operation, and sharing a line would make
  // each write invalidate the other core's copy (false sharing).
  alignas(cache_line_size) std::atomic<std::uint64_t> tail{0};
  alignas(cache_line_size) std::atomic<std::uint64_t> head{0};
  // Read only by is_abandoned() and the destructors, off the hot path; its own
  // line keeps it from disturbing the counters.
  alignas(cache_line_size) std::atomic<int> endpoints{2};
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  T* slots = nullptr;
  std::size_t storage_bytes = 0;

  static constexpr std::align_val_t storage_alignment{std::max(alignof(T), cache_line_size)};

  SpscState(std::uint64_t cap, std::uint64_t storage, std::uint64_t first_index)
      : tail(first_index), head(first_index), capacity(cap), mask(storage - 1) {
    // Rounded up to whole cache lines so the last slots never share a line
    // with an unrelated heap object.
    storage_bytes = (static_cast<std::size_t>(storage) * sizeof(T) + cache_line_size - 1) / cache_line_size *
                    cache_line_size;
    slots = static_cast<T*>(::operator new(storage_bytes, storage_alignment));
  }

  SpscState(const SpscState&) = delete;
  SpscState& operator=(const SpscState&) = delete;

  ~SpscState() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      // Relaxed: the last endpoint's acq_rel decrement already ordered every
      // store the other endpoint made before it let go.
      const std::uint64_t end = tail.load(std::memory_order_relaxed);
      for (std::uint64_t i = head.load(std::memory_order_relaxed); i != end; ++i)
        std::destroy_at(slots + (i & mask));
    }
    ::operator delete(slots, storage_bytes, storage_alignment);
  }

  // The k slots starting at index, split into the part before the end of the
  // storage and the part wrapped to its start.
  std::pair<std::span<T>, std::span<T>> run(std::uint64_t index,
                                            std::size_t k) const noexcept NOWAIT_NONBLOCKING {
    const auto offset = static_cast<std::size_t>(index & mask);
    const std::size_t in_first = std::min(k, static_cast<std::size_t>(mask + 1) - offset);
    return {std::span<T>(slots + offset, in_first), std::span<T>(slots, k - in_first)};
  }
};

// Destroys the elements [from, to) of a run given as two spans.
template <class T>
void destroy_run(std::span<T> first, std::span<T> second, std::size_t from, std::size_t to) noexcept
    NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
  if constexpr (!std::is_trivially_destructible_v<T>) {
    for (std::size_t i = from; i < to; ++i)
      std::destroy_at(i < first.size() ? first.data() + i : second.data() + (i - first.size()));
  }
}

// Default-initialises every slot of a run: no code for trivially
// default-constructible T, T's default constructor otherwise. If one throws,
// the slots built before it are destroyed again and the exception propagates.
template <class T>
void default_construct_run(std::span<T> first,
                           std::span<T> second) noexcept(std::is_nothrow_default_constructible_v<T>)
    NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
  if constexpr (!std::is_trivially_default_constructible_v<T>) {
    // A guard, not a catch: nonblocking code cannot catch (nor can std::
    // uninitialized_default_construct, which does, be used in it).
    struct DestroyBuilt {
      std::span<T> first;
      std::span<T> second;
      std::size_t built = 0;
      bool done = false;
      ~DestroyBuilt() {
        if (!done) destroy_run(first, second, 0, built);
      }
    } guard{first, second};
    for (; guard.built < first.size(); ++guard.built)
      ::new (static_cast<void*>(first.data() + guard.built)) T;
    for (; guard.built < first.size() + second.size(); ++guard.built)
      ::new (static_cast<void*>(second.data() + (guard.built - first.size()))) T;
    guard.done = true;
  }
}

// Gives up one of a two-ended object's references and frees the shared state
// when it was the last; used by every primitive whose state two move-only
// endpoints share (State needs an atomic<int> `endpoints`). acq_rel: the
// release publishes this side's final stores, the acquire (for the last one)
// makes the other side's visible before cleanup. Edges: everything an
// endpoint did happens-before its decrement; the other side's acquire load in
// is_abandoned(), or the last decrement, reads it and so sees all of it. (The
// decrements form one release sequence, so the last one synchronises with
// both earlier ones.)
template <class State>
void release_endpoint(State*& state) noexcept {
  if (state != nullptr && state->endpoints.fetch_sub(1, std::memory_order_acq_rel) == 1) delete state;
  state = nullptr;
}

// An input iterator whose elements construct a T (push_from).
template <class It, class T>
concept InputIteratorOf = std::input_iterator<It> && std::constructible_from<T, std::iter_reference_t<It>>;

// Whether push_from(first, last) cannot throw: neither the iterator nor the
// construction of a T from its element.
template <class T, class It, class S>
inline constexpr bool nothrow_push_from =
    std::is_nothrow_constructible_v<T, std::iter_reference_t<It>>&& noexcept(
        *std::declval<It&>()) && noexcept(++std::declval<It&>()) && noexcept(std::declval<It&>() ==
                                                                             std::declval<S&>());

// Builds a ring whose indices start at first_index. create() starts at 0;
// tests start near 2^64 to exercise the wrap of the counters.
template <class T>
auto make_spsc_ring(std::size_t capacity, std::uint64_t first_index);

}  // namespace detail

// What write_chunk_exact() and read_chunk_exact() return: either a chunk of
// exactly the size asked for, or no chunk and the number of free slots (write)
// or readable items (read) the request found, which was less than asked.
//
//   if (auto c = tx.write_chunk_exact(256)) { fill(c->first(), c->second()); c->commit_all(); }
//   else wait_for(256 - c.available());
//
// Move-only, like the chunk it holds; destroying it without committing drops
// the chunk (see the chunk types). Every function is wait-free and allocates
// nothing.
template <class Chunk>
class ExactChunk {
 public:
  // Whether the request got its chunk.
  bool has_value() const noexcept NOWAIT_NONBLOCKING { return chunk_.has_value(); }
  explicit operator bool() const noexcept NOWAIT_NONBLOCKING { return has_value(); }
  // The chunk. Precondition: has_value() (checked in debug builds).
  Chunk& operator*() noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(has_value(), "ExactChunk: no chunk; the request found too few");
    return *chunk_;
  }
  Chunk* operator->() noexcept NOWAIT_NONBLOCKING { return &**this; }
  const Chunk& operator*() const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(has_value(), "ExactChunk: no chunk; the request found too few");
    return *chunk_;
  }
  const Chunk* operator->() const noexcept NOWAIT_NONBLOCKING { return &**this; }
  // The free slots (write) or readable items (read) the request found: less
  // than asked when it failed, at least as many when it succeeded. A lower
  // bound, as slots() and available() are: the other side may have added more.
  std::size_t available() const noexcept NOWAIT_NONBLOCKING { return available_; }

 private:
  template <class>
  friend class SpscRing;
  explicit ExactChunk(std::size_t available) noexcept : available_(available) {}
  ExactChunk(Chunk&& chunk, std::size_t available) noexcept
      : chunk_(std::in_place, std::move(chunk)), available_(available) {}

  std::optional<Chunk> chunk_;
  std::size_t available_;
};

template <class T>
class SpscRing {
  static_assert(std::is_nothrow_destructible_v<T>, "SpscRing elements must have a non-throwing destructor");
  static_assert(std::is_nothrow_move_constructible_v<T> || std::is_nothrow_copy_constructible_v<T>,
                "SpscRing elements must be movable or copyable without throwing");

 public:
  class Producer;
  class Consumer;

  // A run of up to n free slots, exposed as two spans because the run may wrap
  // around the end of the storage (second() is empty when it does not).
  // Nothing is visible to the consumer until commit(k). Made by write_chunk
  // (the slots hold default-initialised T) or write_chunk_uninit (the slots
  // hold nothing until the caller constructs them); see the top of the file.
  // While it is outstanding its Producer must not be used, moved or destroyed.
  class WriteChunk {
   public:
    // Move-only: a copy could be committed a second time and publish the same
    // slots twice. A moved-from chunk is empty and already committed.
    WriteChunk(WriteChunk&& other) noexcept
        : producer_(std::exchange(other.producer_, nullptr)),
          first_(std::exchange(other.first_, {})),
          second_(std::exchange(other.second_, {})),
          constructed_(other.constructed_) {}
    WriteChunk& operator=(WriteChunk&&) = delete;
    WriteChunk(const WriteChunk&) = delete;
    WriteChunk& operator=(const WriteChunk&) = delete;

    // Dropping a chunk uncommitted publishes nothing; the slots write_chunk
    // constructed are destroyed again. Thread: producer. Wait-free; no allocation.
    ~WriteChunk() NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      if (producer_ != nullptr) finish(0);
    }

    // The slots, in order; fill them, then commit. Thread: producer.
    std::span<T> first() const noexcept NOWAIT_NONBLOCKING { return first_; }
    std::span<T> second() const noexcept NOWAIT_NONBLOCKING { return second_; }
    // Number of slots in the chunk.
    std::size_t size() const noexcept NOWAIT_NONBLOCKING { return first_.size() + second_.size(); }

    // Publishes the first k slots of the chunk to the consumer, in order, and
    // ends the chunk: a chunk from write_chunk destroys its other slots; one
    // from write_chunk_uninit must hold constructed objects in exactly its
    // first k slots. Precondition: k <= size() and the chunk was not committed
    // before (both checked in debug builds; in release k is clamped to size()
    // and a second commit publishes nothing). Thread: producer. Wait-free; no
    // allocation. Publishing 0 stores nothing to the shared index.
    void commit(std::size_t k) noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      NOWAIT_PRECONDITION(k <= size(), "WriteChunk::commit: more than the chunk holds");
      NOWAIT_PRECONDITION(producer_ != nullptr, "WriteChunk::commit: chunk already committed");
      if (producer_ == nullptr) return;
      finish(std::min(k, size()));
    }
    // commit(size()).
    void commit_all() noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) { commit(size()); }

   private:
    friend class Producer;
    WriteChunk(Producer* producer, std::span<T> first, std::span<T> second, bool constructed) noexcept
        : producer_(producer), first_(first), second_(second), constructed_(constructed) {}

    void finish(std::size_t k) noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      if (constructed_) detail::destroy_run(first_, second_, k, size());
      producer_->chunk_outstanding_ = false;
      producer_->publish(k);
      producer_ = nullptr;
    }

    Producer* producer_;  // null once committed
    std::span<T> first_;
    std::span<T> second_;
    bool constructed_;  // the chunk default-initialised its slots and destroys those it does not publish
  };

  // A run of up to n readable items, as two spans (see WriteChunk). The items
  // stay in the ring until commit(k) releases the first k of them. While it is
  // outstanding its Consumer must not be used, moved or destroyed.
  class ReadChunk {
   public:
    // Move-only: a copy could be committed a second time and publish the same
    // slots twice. A moved-from chunk is empty and already committed.
    ReadChunk(ReadChunk&& other) noexcept
        : consumer_(std::exchange(other.consumer_, nullptr)),
          first_(std::exchange(other.first_, {})),
          second_(std::exchange(other.second_, {})) {}
    ReadChunk& operator=(ReadChunk&&) = delete;
    ReadChunk(const ReadChunk&) = delete;
    ReadChunk& operator=(const ReadChunk&) = delete;

    // Dropping a chunk uncommitted leaves every item in the ring.
    // Thread: consumer. Wait-free; no allocation.
    ~ReadChunk() NOWAIT_NONBLOCKING {
      if (consumer_ != nullptr) consumer_->chunk_outstanding_ = false;
    }

    std::span<T> first() const noexcept NOWAIT_NONBLOCKING { return first_; }
    std::span<T> second() const noexcept NOWAIT_NONBLOCKING { return second_; }
    // Number of items in the chunk.
    std::size_t size() const noexcept NOWAIT_NONBLOCKING { return first_.size() + second_.size(); }

    // Destroys the first k items of the chunk and hands their slots back to the
    // producer. Precondition: k <= size(), not committed before (debug-checked;
    // clamped / ignored in release). Thread: consumer. Wait-free; no
    // allocation. Releasing 0 stores nothing to the shared index.
    void commit(std::size_t k) noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      NOWAIT_PRECONDITION(k <= size(), "ReadChunk::commit: more than the chunk holds");
      NOWAIT_PRECONDITION(consumer_ != nullptr, "ReadChunk::commit: chunk already committed");
      if (consumer_ == nullptr) return;
      consumer_->chunk_outstanding_ = false;
      consumer_->consume(first_, second_, std::min(k, size()));
      consumer_ = nullptr;
    }
    // commit(size()).
    void commit_all() noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) { commit(size()); }

   private:
    friend class Consumer;
    ReadChunk(Consumer* consumer, std::span<T> first, std::span<T> second) noexcept
        : consumer_(consumer), first_(first), second_(second) {}
    Consumer* consumer_;  // null once committed
    std::span<T> first_;
    std::span<T> second_;
  };

  // The writing end. Move-only; owned by one thread at a time.
  class Producer {
   public:
    // Precondition (both moves): no chunk of either endpoint involved is
    // outstanding (debug-checked): the chunk would keep pointing at the old object.
    Producer(Producer&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), tail_(other.tail_), head_cache_(other.head_cache_) {
      NOWAIT_PRECONDITION(!other.chunk_outstanding_,
                          "SpscRing::Producer moved while its write chunk is outstanding");
    }
    Producer& operator=(Producer&& other) noexcept {
      NOWAIT_PRECONDITION(!chunk_outstanding_ && !other.chunk_outstanding_,
                          "SpscRing::Producer moved while its write chunk is outstanding");
      if (this != &other) {
        detail::release_endpoint(state_);
        state_ = std::exchange(other.state_, nullptr);
        tail_ = other.tail_;
        head_cache_ = other.head_cache_;
      }
      return *this;
    }
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;
    // Thread: producer, off the real-time thread (frees when the consumer is
    // gone). Precondition: no write chunk outstanding (debug-checked).
    ~Producer() {
      NOWAIT_PRECONDITION(!chunk_outstanding_,
                          "SpscRing::Producer destroyed while its write chunk is outstanding");
      detail::release_endpoint(state_);
    }

    // Appends a copy of / moves `value` into the ring. Returns false when the
    // ring is full; `value` is then left untouched, so the caller still owns it
    // and can retry (it is moved from only on success).
    // Thread: producer. Wait-free; no allocation.
    [[nodiscard]] bool try_push(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      return try_emplace(value);
    }
    [[nodiscard]] bool try_push(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      return try_emplace(std::move(value));
    }

    // Constructs an element in place from args. Returns false, constructing
    // nothing, when the ring is full. Thread: producer. Wait-free; no allocation.
    template <class... Args>
    [[nodiscard]] bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_usable();
      if (!has_free(1)) return false;
      std::construct_at(slot(tail_), std::forward<Args>(args)...);
      publish(1);
      return true;
    }

    // Reserves up to n free slots (fewer when fewer are free, empty when the
    // ring is full; n larger than capacity() is clamped to it) and
    // default-initialises them: nothing happens for trivially
    // default-constructible T (float, std::uint64_t), T's default constructor
    // runs otherwise (a struct with member initialisers, std::complex).
    // Nothing is published before commit(k). If a default constructor throws,
    // the slots built before it are destroyed, no chunk is made and the
    // exception propagates. Thread: producer. Wait-free; no allocation.
    [[nodiscard]] WriteChunk write_chunk(std::size_t n) noexcept(std::is_nothrow_default_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) requires std::default_initializable<T> {
      check_usable();
      has_free(n);
      return make_constructed_chunk(static_cast<std::size_t>(std::min<std::uint64_t>(n, free_slots())));
    }

    // As write_chunk, but exactly n slots or none: when fewer than n are free
    // (or n > capacity()) it makes no chunk and reports the free slots it found
    // (see ExactChunk). Thread: producer. Wait-free; no allocation.
    [[nodiscard]] ExactChunk<WriteChunk> write_chunk_exact(std::size_t n) noexcept(
        std::is_nothrow_default_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) requires std::default_initializable<T> {
      check_usable();
      has_free(n);
      const auto found = static_cast<std::size_t>(free_slots());
      if (found < n) return ExactChunk<WriteChunk>(found);
      return ExactChunk<WriteChunk>(make_constructed_chunk(n), found);
    }

    // Reserves up to n free slots (as write_chunk) for any T, constructing
    // nothing: the spans are raw storage. Construct the elements in place, in
    // order from the first slot (std::construct_at(&chunk.first()[i], ...)),
    // then commit(k): exactly the first k slots must hold objects by then, and
    // they become the consumer's. Objects constructed past the k committed
    // are not destroyed by the ring. Thread: producer. Wait-free; no allocation.
    // (Nonblocking for realtime_safe T only, like the chunk's commit, which
    // may destroy elements of a chunk from write_chunk.)
    [[nodiscard]] WriteChunk write_chunk_uninit(std::size_t n) noexcept
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_usable();
      has_free(n);
      return make_chunk(static_cast<std::size_t>(std::min<std::uint64_t>(n, free_slots())), false);
    }

    // Copies as many leading items of src as fit and publishes them at once.
    // Returns how many were copied (0 when full). If a copy throws, the copies
    // made before it are published and the exception propagates. Thread:
    // producer. Wait-free; no allocation.
    std::size_t push_slice(std::span<const T> src) noexcept(std::is_nothrow_copy_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_usable();
      has_free(src.size());
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), free_slots()));
      auto [first, second] = state_->run(tail_, k);
      // Publishes whatever was built when it goes out of scope, so a copy that
      // throws part-way leaves the earlier copies pushed (and later destroyed)
      // rather than leaked. A guard, not a catch: nonblocking code cannot catch.
      PublishBuilt guard{*this};
      for (; guard.built < first.size(); ++guard.built)
        std::construct_at(first.data() + guard.built, src[guard.built]);
      for (; guard.built < k; ++guard.built)
        std::construct_at(second.data() + (guard.built - first.size()), src[guard.built]);
      return k;
    }

    // Constructs elements from *first, *++first, ... until the ring is full or
    // first == last, and publishes them at once. `first` is left at the first
    // element not pushed, so a later call carries on from there. Returns how
    // many were pushed (0 when full). For move-only T pass move iterators
    // (std::make_move_iterator) or a view whose elements are prvalues: each
    // element is constructed from *first, so an lvalue is copied. If an
    // iterator operation or a construction throws, the elements built before
    // it are published and the exception propagates.
    // Thread: producer. Wait-free: at most capacity() elements; no allocation.
    template <detail::InputIteratorOf<T> It, std::sentinel_for<It> S>
    std::size_t push_from(It& first, S last) noexcept(detail::nothrow_push_from<T, It, S>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_usable();
      // Consult the consumer's index once, and only if the cached one does not
      // already leave room for everything (or, for an unsized range, for a
      // whole ring).
      if constexpr (std::sized_sentinel_for<S, It>) {
        has_free(static_cast<std::uint64_t>(std::max<std::iter_difference_t<It>>(0, last - first)));
      } else {
        has_free(state_->capacity);
      }
      auto [a, b] = state_->run(tail_, static_cast<std::size_t>(free_slots()));
      PublishBuilt guard{*this};  // see push_slice
      for (; guard.built < a.size() && !(first == last); ++first) {
        std::construct_at(a.data() + guard.built, *first);
        ++guard.built;
      }
      for (; guard.built < a.size() + b.size() && !(first == last); ++first) {
        std::construct_at(b.data() + (guard.built - a.size()), *first);
        ++guard.built;
      }
      return guard.built;
    }

    // A lower bound on the free slots: exact as of the last look at the
    // consumer's index, and the consumer can only free more meanwhile.
    // Thread: producer. Wait-free; no allocation.
    std::size_t slots() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      // Relaxed: an estimate only; every push re-reads head with acquire
      // before it reuses a slot.
      return static_cast<std::size_t>(state_->capacity -
                                      (tail_ - state_->head.load(std::memory_order_relaxed)));
    }

    // slots() == 0: the ring was full when the call looked. The consumer may
    // have freed slots since, so true may already be stale; false stays true
    // until this producer pushes. Thread: producer. Wait-free; no allocation.
    bool was_full() const noexcept NOWAIT_NONBLOCKING { return slots() == 0; }

    // The most items the ring holds at once, as passed to create().
    std::size_t capacity() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      return static_cast<std::size_t>(state_->capacity);
    }

    // True once the Consumer has been destroyed: nothing pushed from now on
    // will be read, and everything the consumer did, including its last reads
    // of items (and of whatever they point to), happened before this
    // returned true. Thread: producer. Wait-free; no allocation.
    bool is_abandoned() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      // Acquire: pairs with the consumer's acq_rel decrement. Edge: its last
      // reads of items happen-before the decrement, which this load reads, so
      // they happen-before whatever the producer does on the strength of the
      // answer (free what the items pointed to, say). Relaxed would give the
      // fact without that edge, and AArch64 could then let the consumer's
      // last reads still be in flight.
      return state_->endpoints.load(std::memory_order_acquire) < 2;
    }

   private:
    friend class WriteChunk;
    friend auto detail::make_spsc_ring<T>(std::size_t, std::uint64_t);
    explicit Producer(detail::SpscState<T>* state) noexcept
        : state_(state), tail_(state->tail.load(std::memory_order_relaxed)), head_cache_(tail_) {}
    // (relaxed above: the state is not yet shared with any other thread.)

    // Every public operation first checks that this endpoint may be used: it
    // was not moved from, and none of its chunks is outstanding.
    void check_usable() const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(state_ != nullptr, "SpscRing::Producer used after it was moved from");
      NOWAIT_PRECONDITION(
          !chunk_outstanding_,
          "SpscRing::Producer used while its write chunk is outstanding (commit or drop it first)");
    }
    T* slot(std::uint64_t index) const noexcept NOWAIT_NONBLOCKING {
      return state_->slots + (index & state_->mask);
    }
    std::uint64_t free_slots() const noexcept NOWAIT_NONBLOCKING {
      return state_->capacity - (tail_ - head_cache_);
    }

    // True when at least n slots are free. Consults the shared head only when
    // the cached copy says there is not enough room: on the common path the
    // producer touches no line the consumer writes.
    bool has_free(std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
      if (free_slots() >= n) return true;
      // Acquire: pairs with the consumer's release store of head (release()).
      // Edge: its reads and destruction of the slots it frees happen-before
      // that store, which this load reads, so they happen-before our
      // construction in those slots: no race on AArch64 either.
      head_cache_ = state_->head.load(std::memory_order_acquire);
      return free_slots() >= n;
    }

    // A chunk of the k slots at tail_; `constructed` when their objects exist.
    WriteChunk make_chunk(std::size_t k, bool constructed) noexcept
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      auto [first, second] = state_->run(tail_, k);
      chunk_outstanding_ = true;
      return WriteChunk(this, first, second, constructed);
    }

    WriteChunk make_constructed_chunk(std::size_t k) noexcept(std::is_nothrow_default_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      auto [first, second] = state_->run(tail_, k);
      detail::default_construct_run(first, second);
      return make_chunk(k, true);
    }

    // Publishes the elements built so far when it goes out of scope.
    struct PublishBuilt {
      Producer& producer;
      std::size_t built = 0;
      ~PublishBuilt() { producer.publish(built); }
    };

    void publish(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      // Nothing new: store nothing. Storing the unchanged index would still
      // take the line away from the consumer's core on every idle attempt.
      if (k == 0) return;
      tail_ += k;
      // Release: pairs with the consumer's acquire load of tail (has_items).
      // Edge: the construction of these elements happens-before this store;
      // a load that reads it makes them visible before the consumer reads them.
      state_->tail.store(tail_, std::memory_order_release);
    }

    detail::SpscState<T>* state_;
    std::uint64_t tail_;              // the producer's own index, the only writer of state_->tail
    std::uint64_t head_cache_;        // last seen consumer index; refreshed only when the ring looks full
    bool chunk_outstanding_ = false;  // a WriteChunk of this producer is neither committed nor destroyed
  };

  // The reading end. Move-only; owned by one thread at a time.
  class Consumer {
   public:
    // Precondition (both moves): no chunk of either endpoint involved is
    // outstanding (debug-checked): the chunk would keep pointing at the old object.
    Consumer(Consumer&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), head_(other.head_), tail_cache_(other.tail_cache_) {
      NOWAIT_PRECONDITION(!other.chunk_outstanding_,
                          "SpscRing::Consumer moved while its read chunk is outstanding");
    }
    Consumer& operator=(Consumer&& other) noexcept {
      NOWAIT_PRECONDITION(!chunk_outstanding_ && !other.chunk_outstanding_,
                          "SpscRing::Consumer moved while its read chunk is outstanding");
      if (this != &other) {
        detail::release_endpoint(state_);
        state_ = std::exchange(other.state_, nullptr);
        head_ = other.head_;
        tail_cache_ = other.tail_cache_;
      }
      return *this;
    }
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;
    // Thread: consumer, off the real-time thread (frees when the producer is
    // gone). Precondition: no read chunk outstanding (debug-checked).
    ~Consumer() {
      NOWAIT_PRECONDITION(!chunk_outstanding_,
                          "SpscRing::Consumer destroyed while its read chunk is outstanding");
      detail::release_endpoint(state_);
    }

    // Removes the oldest item and returns it, or returns nullopt when the ring
    // is empty. Thread: consumer. Wait-free; no allocation.
    [[nodiscard]] std::optional<T> try_pop() noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_usable();
      if (!has_items(1)) return std::nullopt;
      T* item = slot(head_);
      // move_if_noexcept: the class requires a nothrow move or a nothrow copy,
      // and this picks the one that cannot throw, so noexcept holds.
      std::optional<T> out(std::move_if_noexcept(*item));
      std::destroy_at(item);
      release(1);
      return out;
    }

    // The oldest item, left in the ring, or nullptr when the ring is empty. The
    // pointer stays valid until that item is popped. Thread: consumer.
    // Wait-free; no allocation.
    [[nodiscard]] T* peek() noexcept NOWAIT_NONBLOCKING {
      check_usable();
      return has_items(1) ? slot(head_) : nullptr;
    }

    // Exposes up to n of the oldest items (fewer when fewer are there; n larger
    // than capacity() is clamped to it) without removing them; commit(k)
    // removes the first k. Thread: consumer. Wait-free; no allocation.
    [[nodiscard]] ReadChunk read_chunk(std::size_t n) noexcept NOWAIT_NONBLOCKING {
      check_usable();
      has_items(n);
      return make_chunk(static_cast<std::size_t>(std::min<std::uint64_t>(n, tail_cache_ - head_)));
    }

    // As read_chunk, but exactly n items or none: when fewer than n are
    // readable it makes no chunk and reports how many it found (see
    // ExactChunk). Thread: consumer. Wait-free; no allocation.
    [[nodiscard]] ExactChunk<ReadChunk> read_chunk_exact(std::size_t n) noexcept NOWAIT_NONBLOCKING {
      check_usable();
      has_items(n);
      const auto found = static_cast<std::size_t>(tail_cache_ - head_);
      if (found < n) return ExactChunk<ReadChunk>(found);
      return ExactChunk<ReadChunk>(make_chunk(n), found);
    }

    // Moves as many of the oldest items as fit into dst, in order, and removes
    // them. Returns how many were moved (0 when empty). If a move-assignment
    // throws, the items already moved out are removed (they were delivered),
    // the rest stay in the ring, and the exception propagates.
    // Thread: consumer. Wait-free; no allocation.
    std::size_t pop_slice(std::span<T> dst) noexcept(std::is_nothrow_move_assignable_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      if constexpr (std::is_nothrow_move_assignable_v<T>) {
        // Nothing can stop part-way: move the whole chunk (memmove for
        // trivial T), then commit it.
        ReadChunk chunk = read_chunk(dst.size());
        const auto in_first = static_cast<std::ptrdiff_t>(chunk.first().size());
        std::move(chunk.first().begin(), chunk.first().end(), dst.begin());
        std::move(chunk.second().begin(), chunk.second().end(), dst.begin() + in_first);
        const std::size_t k = chunk.size();
        chunk.commit(k);
        return k;
      } else {
        check_usable();
        has_items(dst.size());
        const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(dst.size(), tail_cache_ - head_));
        auto [first, second] = state_->run(head_, k);
        // Removes whatever was moved out when it goes out of scope, so an
        // assignment that throws part-way does not leave the moved-from shells
        // in the ring to be delivered again. A guard, not a catch: nonblocking
        // code cannot catch.
        struct ConsumeMoved {
          Consumer& consumer;
          std::span<T> first;
          std::span<T> second;
          std::size_t moved = 0;
          ~ConsumeMoved() { consumer.consume(first, second, moved); }
        } guard{*this, first, second};
        for (; guard.moved < first.size(); ++guard.moved) dst[guard.moved] = std::move(first[guard.moved]);
        for (; guard.moved < k; ++guard.moved)
          dst[guard.moved] = std::move(second[guard.moved - first.size()]);
        return k;
      }
    }

    // A lower bound on the items waiting: exact as of the last look at the
    // producer's index, and the producer can only add more meanwhile.
    // Thread: consumer. Wait-free; no allocation.
    std::size_t available() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      // Relaxed: an estimate only; every read re-loads tail with acquire
      // before it touches an element.
      return static_cast<std::size_t>(state_->tail.load(std::memory_order_relaxed) - head_);
    }

    // available() == 0: the ring was empty when the call looked. The producer
    // may have pushed since, so true may already be stale; false stays true
    // until this consumer pops. Thread: consumer. Wait-free; no allocation.
    bool was_empty() const noexcept NOWAIT_NONBLOCKING { return available() == 0; }

    // The most items the ring holds at once, as passed to create().
    std::size_t capacity() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      return static_cast<std::size_t>(state_->capacity);
    }

    // True once the Producer has been destroyed. Items it pushed before that
    // are all still readable: after this returns true, an empty ring stays
    // empty for good. Thread: consumer. Wait-free; no allocation.
    bool is_abandoned() const noexcept NOWAIT_NONBLOCKING {
      check_usable();
      // Acquire: pairs with the producer's acq_rel decrement. Edge: its last
      // tail store happens-before the decrement, which this load reads, so a
      // later acquire load of tail reads that store or a later one: every
      // item it pushed is seen.
      return state_->endpoints.load(std::memory_order_acquire) < 2;
    }

   private:
    friend class ReadChunk;
    friend auto detail::make_spsc_ring<T>(std::size_t, std::uint64_t);
    explicit Consumer(detail::SpscState<T>* state) noexcept
        : state_(state), head_(state->head.load(std::memory_order_relaxed)), tail_cache_(head_) {}
    // (relaxed above: the state is not yet shared with any other thread.)

    // Every public operation first checks that this endpoint may be used: it
    // was not moved from, and none of its chunks is outstanding.
    void check_usable() const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(state_ != nullptr, "SpscRing::Consumer used after it was moved from");
      NOWAIT_PRECONDITION(
          !chunk_outstanding_,
          "SpscRing::Consumer used while its read chunk is outstanding (commit or drop it first)");
    }
    T* slot(std::uint64_t index) const noexcept NOWAIT_NONBLOCKING {
      return state_->slots + (index & state_->mask);
    }

    // True when at least n items are readable; refreshes the cached producer
    // index only when the cache says there are too few.
    bool has_items(std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
      if (tail_cache_ - head_ >= n) return true;
      // Acquire: pairs with the producer's release store of tail (publish()).
      // Edge: the construction of every element below the tail read here
      // happens-before that store, so it happens-before our reads of them.
      tail_cache_ = state_->tail.load(std::memory_order_acquire);
      return tail_cache_ - head_ >= n;
    }

    ReadChunk make_chunk(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      auto [first, second] = state_->run(head_, k);
      chunk_outstanding_ = true;
      return ReadChunk(this, first, second);
    }

    // Destroys the first k items of the run and hands their slots back.
    void consume(std::span<T> first, std::span<T> second, std::size_t k) noexcept
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      detail::destroy_run(first, second, 0, k);
      release(k);
    }

    void release(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      // Nothing freed: store nothing (see Producer::publish).
      if (k == 0) return;
      head_ += k;
      // Release: pairs with the producer's acquire load of head (has_free).
      // Edge: our reads and destruction of these slots happen-before this
      // store, so they happen-before the producer's next writes into them.
      state_->head.store(head_, std::memory_order_release);
    }

    detail::SpscState<T>* state_;
    std::uint64_t head_;              // the consumer's own index, the only writer of state_->head
    std::uint64_t tail_cache_;        // last seen producer index; refreshed only when the ring looks empty
    bool chunk_outstanding_ = false;  // a ReadChunk of this consumer is neither committed nor destroyed
  };

  // Creates a ring holding up to `capacity` items and returns its two ends.
  // Throws std::invalid_argument for capacity 0 and std::length_error when the
  // storage would not fit in memory's address range (std::bad_alloc when it
  // fits but cannot be allocated). Thread: any, off the real-time thread.
  // Blocking; allocates once.
  static std::pair<Producer, Consumer> create(std::size_t capacity) {
    return detail::make_spsc_ring<T>(capacity, 0);
  }

  SpscRing() = delete;
};

template <class T>
auto detail::make_spsc_ring(std::size_t capacity, std::uint64_t first_index) {
  using Ring = SpscRing<T>;
  if (capacity == 0) throw std::invalid_argument("nowait::SpscRing::create: capacity must be at least 1");
  constexpr auto max_bytes = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max());
  const auto cap = static_cast<std::uint64_t>(capacity);
  if (cap > max_bytes / sizeof(T) || std::bit_ceil(cap) > max_bytes / sizeof(T))
    throw std::length_error("nowait::SpscRing::create: capacity too large for the address space");
  auto* state = new detail::SpscState<T>(cap, std::bit_ceil(cap), first_index);
  return std::pair<typename Ring::Producer, typename Ring::Consumer>(typename Ring::Producer(state),
                                                                     typename Ring::Consumer(state));
}

}  // namespace nowait
