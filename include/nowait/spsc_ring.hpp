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
//   operation                        thread  progress   allocates
//   create(capacity)                 any     blocking   yes (throws on bad capacity)
//   try_push / try_emplace           P       wait-free  no
//   write_chunk(n) + commit(k)       P       wait-free  no
//   push_slice                       P       wait-free  no
//   try_pop / peek                   C       wait-free  no
//   read_chunk(n) + commit(k)        C       wait-free  no
//   pop_slice                        C       wait-free  no
//   slots / available / capacity     own     wait-free  no
//   is_abandoned                     own     wait-free  no
//   destroying an endpoint           own     wait-free  frees when it is the last one
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
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
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
};

// Gives up one of a two-ended object's references and frees the shared state
// when it was the last; used by every primitive whose state two move-only
// endpoints share (State needs an atomic<int> `endpoints`). acq_rel: the
// release publishes this side's final stores, the acquire (for the last one)
// makes the other side's visible before cleanup.
template <class State>
void release_endpoint(State*& state) noexcept {
  if (state != nullptr && state->endpoints.fetch_sub(1, std::memory_order_acq_rel) == 1) delete state;
  state = nullptr;
}

// Builds a ring whose indices start at first_index. create() starts at 0;
// tests start near 2^64 to exercise the wrap of the counters.
template <class T>
auto make_spsc_ring(std::size_t capacity, std::uint64_t first_index);

}  // namespace detail

// Chunks expose storage to the caller, so they need element types whose
// objects may be created and discarded by plain byte copies.
template <class T>
concept ChunkElement = std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>;

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
  // Nothing is visible to the consumer until commit(k). Must be committed or
  // dropped before its Producer is moved or used again.
  class WriteChunk {
   public:
    // Move-only: a copy could be committed a second time and publish the same
    // slots twice. A moved-from chunk is empty and already committed.
    WriteChunk(WriteChunk&& other) noexcept
        : producer_(std::exchange(other.producer_, nullptr)),
          first_(std::exchange(other.first_, {})),
          second_(std::exchange(other.second_, {})) {}
    WriteChunk& operator=(WriteChunk&&) = delete;
    WriteChunk(const WriteChunk&) = delete;
    WriteChunk& operator=(const WriteChunk&) = delete;

    // The free slots, in order; fill them, then commit. Thread: producer.
    std::span<T> first() const noexcept { return first_; }
    std::span<T> second() const noexcept { return second_; }
    // Number of slots in the chunk: min(n, free slots) at the time of the call.
    std::size_t size() const noexcept { return first_.size() + second_.size(); }

    // Publishes the first k slots of the chunk to the consumer, in order.
    // Precondition: k <= size() and the chunk was not committed before (both
    // checked in debug builds; in release k is clamped to size() and a second
    // commit publishes nothing). Thread: producer. Wait-free; no allocation.
    void commit(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(k <= size(), "WriteChunk::commit: more than the chunk holds");
      NOWAIT_PRECONDITION(producer_ != nullptr, "WriteChunk::commit: chunk already committed");
      if (producer_ == nullptr) return;
      producer_->publish(std::min(k, size()));
      producer_ = nullptr;
    }
    // commit(size()).
    void commit_all() noexcept NOWAIT_NONBLOCKING { commit(size()); }

   private:
    friend class Producer;
    WriteChunk(Producer* producer, std::span<T> first, std::span<T> second) noexcept
        : producer_(producer), first_(first), second_(second) {}
    Producer* producer_;
    std::span<T> first_;
    std::span<T> second_;
  };

  // A run of up to n readable items, as two spans (see WriteChunk). The items
  // stay in the ring until commit(k) releases the first k of them.
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

    std::span<T> first() const noexcept { return first_; }
    std::span<T> second() const noexcept { return second_; }
    // Number of items in the chunk: min(n, items available) at the time of the call.
    std::size_t size() const noexcept { return first_.size() + second_.size(); }

    // Destroys the first k items of the chunk and hands their slots back to the
    // producer. Precondition: k <= size(), not committed before (debug-checked;
    // clamped / ignored in release). Thread: consumer. Wait-free; no allocation.
    void commit(std::size_t k) noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      NOWAIT_PRECONDITION(k <= size(), "ReadChunk::commit: more than the chunk holds");
      NOWAIT_PRECONDITION(consumer_ != nullptr, "ReadChunk::commit: chunk already committed");
      if (consumer_ == nullptr) return;
      k = std::min(k, size());
      if constexpr (!std::is_trivially_destructible_v<T>) {
        const std::size_t in_first = std::min(k, first_.size());
        std::destroy_n(first_.data(), in_first);
        std::destroy_n(second_.data(), k - in_first);
      }
      consumer_->release(k);
      consumer_ = nullptr;
    }
    // commit(size()).
    void commit_all() noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) { commit(size()); }

   private:
    friend class Consumer;
    ReadChunk(Consumer* consumer, std::span<T> first, std::span<T> second) noexcept
        : consumer_(consumer), first_(first), second_(second) {}
    Consumer* consumer_;
    std::span<T> first_;
    std::span<T> second_;
  };

  // The writing end. Move-only; owned by one thread at a time.
  class Producer {
   public:
    Producer(Producer&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), tail_(other.tail_), head_cache_(other.head_cache_) {}
    Producer& operator=(Producer&& other) noexcept {
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
    // Thread: producer, off the real-time thread (frees when the consumer is gone).
    ~Producer() { detail::release_endpoint(state_); }

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
      check_live();
      if (!has_free(1)) return false;
      std::construct_at(slot(tail_), std::forward<Args>(args)...);
      publish(1);
      return true;
    }

    // Reserves up to n free slots (fewer when fewer are free, empty when the
    // ring is full; n larger than capacity() is clamped to it). Nothing is
    // published before commit(k). Requires a trivially copyable T, since the
    // slots hold no objects yet. Thread: producer. Wait-free; no allocation.
    [[nodiscard]] WriteChunk write_chunk(std::size_t n) noexcept NOWAIT_NONBLOCKING requires ChunkElement<T> {
      check_live();
      has_free(n);
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, free_slots()));
      auto [first, second] = split(tail_, k);
      return WriteChunk(this, first, second);
    }

    // Copies as many leading items of src as fit and publishes them at once.
    // Returns how many were copied (0 when full). If a copy throws, the copies
    // made before it are published and the exception propagates. Thread: producer. Wait-free;
    // no allocation.
    std::size_t push_slice(std::span<const T> src) noexcept(std::is_nothrow_copy_constructible_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_live();
      has_free(src.size());
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(src.size(), free_slots()));
      auto [first, second] = split(tail_, k);
      // Publishes whatever was built when it goes out of scope, so a copy that
      // throws part-way leaves the earlier copies pushed (and later destroyed)
      // rather than leaked. A guard, not a catch: nonblocking code cannot catch.
      struct PublishBuilt {
        Producer& producer;
        std::size_t built = 0;
        ~PublishBuilt() { producer.publish(built); }
      } guard{*this};
      for (; guard.built < first.size(); ++guard.built)
        std::construct_at(first.data() + guard.built, src[guard.built]);
      for (; guard.built < k; ++guard.built)
        std::construct_at(second.data() + (guard.built - first.size()), src[guard.built]);
      return k;
    }

    // A lower bound on the free slots: exact as of the last look at the
    // consumer's index, and the consumer can only free more meanwhile.
    // Thread: producer. Wait-free; no allocation.
    std::size_t slots() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      // Relaxed: an estimate only; every push re-reads head with acquire
      // before it reuses a slot.
      return static_cast<std::size_t>(state_->capacity -
                                      (tail_ - state_->head.load(std::memory_order_relaxed)));
    }

    // The most items the ring holds at once, as passed to create().
    std::size_t capacity() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      return static_cast<std::size_t>(state_->capacity);
    }

    // True once the Consumer has been destroyed: nothing pushed from now on
    // will be read. Thread: producer. Wait-free; no allocation.
    bool is_abandoned() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      // Relaxed: the producer only needs the fact, not data published with it.
      return state_->endpoints.load(std::memory_order_relaxed) < 2;
    }

   private:
    friend class WriteChunk;
    friend auto detail::make_spsc_ring<T>(std::size_t, std::uint64_t);
    explicit Producer(detail::SpscState<T>* state) noexcept
        : state_(state), tail_(state->tail.load(std::memory_order_relaxed)), head_cache_(tail_) {}
    // (relaxed above: the state is not yet shared with any other thread.)

    void check_live() const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(state_ != nullptr, "SpscRing::Producer used after it was moved from");
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
      // Acquire: the consumer's release store of head follows its last read or
      // destruction of the slots it frees, so reusing them cannot race.
      head_cache_ = state_->head.load(std::memory_order_acquire);
      return free_slots() >= n;
    }

    // Splits k slots starting at index into the part before the end of the
    // storage and the part wrapped to its start.
    std::pair<std::span<T>, std::span<T>> split(std::uint64_t index,
                                                std::size_t k) const noexcept NOWAIT_NONBLOCKING {
      const std::size_t offset = static_cast<std::size_t>(index & state_->mask);
      const std::size_t to_end = static_cast<std::size_t>(state_->mask + 1) - offset;
      const std::size_t in_first = std::min(k, to_end);
      return {std::span<T>(state_->slots + offset, in_first), std::span<T>(state_->slots, k - in_first)};
    }

    void publish(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      tail_ += k;
      // Release: the consumer's acquire load of tail must see the elements
      // constructed in these slots.
      state_->tail.store(tail_, std::memory_order_release);
    }

    detail::SpscState<T>* state_;
    std::uint64_t tail_;        // the producer's own index, the only writer of state_->tail
    std::uint64_t head_cache_;  // last seen consumer index; refreshed only when the ring looks full
  };

  // The reading end. Move-only; owned by one thread at a time.
  class Consumer {
   public:
    Consumer(Consumer&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), head_(other.head_), tail_cache_(other.tail_cache_) {}
    Consumer& operator=(Consumer&& other) noexcept {
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
    // Thread: consumer, off the real-time thread (frees when the producer is gone).
    ~Consumer() { detail::release_endpoint(state_); }

    // Removes the oldest item and returns it, or returns nullopt when the ring
    // is empty. Thread: consumer. Wait-free; no allocation.
    [[nodiscard]] std::optional<T> try_pop() noexcept NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      check_live();
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
      check_live();
      return has_items(1) ? slot(head_) : nullptr;
    }

    // Exposes up to n of the oldest items (fewer when fewer are there; n larger
    // than capacity() is clamped to it) without removing them; commit(k)
    // removes the first k. Thread: consumer. Wait-free; no allocation.
    [[nodiscard]] ReadChunk read_chunk(std::size_t n) noexcept NOWAIT_NONBLOCKING {
      check_live();
      has_items(n);
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, tail_cache_ - head_));
      const std::size_t offset = static_cast<std::size_t>(head_ & state_->mask);
      const std::size_t in_first = std::min(k, static_cast<std::size_t>(state_->mask + 1) - offset);
      return ReadChunk(this, std::span<T>(state_->slots + offset, in_first),
                       std::span<T>(state_->slots, k - in_first));
    }

    // Moves as many of the oldest items as fit into dst, in order, and removes
    // them. Returns how many were moved (0 when empty). Thread: consumer.
    // Wait-free; no allocation.
    std::size_t pop_slice(std::span<T> dst) noexcept(std::is_nothrow_move_assignable_v<T>)
        NOWAIT_NONBLOCKING_IF(realtime_safe_v<T>) {
      ReadChunk chunk = read_chunk(dst.size());
      std::move(chunk.first().begin(), chunk.first().end(), dst.begin());
      std::move(chunk.second().begin(), chunk.second().end(), dst.begin() + chunk.first().size());
      const std::size_t k = chunk.size();
      chunk.commit(k);
      return k;
    }

    // A lower bound on the items waiting: exact as of the last look at the
    // producer's index, and the producer can only add more meanwhile.
    // Thread: consumer. Wait-free; no allocation.
    std::size_t available() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      // Relaxed: an estimate only; every read re-loads tail with acquire
      // before it touches an element.
      return static_cast<std::size_t>(state_->tail.load(std::memory_order_relaxed) - head_);
    }

    // The most items the ring holds at once, as passed to create().
    std::size_t capacity() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      return static_cast<std::size_t>(state_->capacity);
    }

    // True once the Producer has been destroyed. Items it pushed before that
    // are all still readable: after this returns true, an empty ring stays
    // empty for good. Thread: consumer. Wait-free; no allocation.
    bool is_abandoned() const noexcept NOWAIT_NONBLOCKING {
      check_live();
      // Acquire: pairs with the producer's acq_rel decrement, which follows
      // its last tail store, so a later read sees every item it pushed.
      return state_->endpoints.load(std::memory_order_acquire) < 2;
    }

   private:
    friend class ReadChunk;
    friend auto detail::make_spsc_ring<T>(std::size_t, std::uint64_t);
    explicit Consumer(detail::SpscState<T>* state) noexcept
        : state_(state), head_(state->head.load(std::memory_order_relaxed)), tail_cache_(head_) {}
    // (relaxed above: the state is not yet shared with any other thread.)

    void check_live() const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(state_ != nullptr, "SpscRing::Consumer used after it was moved from");
    }
    T* slot(std::uint64_t index) const noexcept NOWAIT_NONBLOCKING {
      return state_->slots + (index & state_->mask);
    }

    // True when at least n items are readable; refreshes the cached producer
    // index only when the cache says there are too few.
    bool has_items(std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
      if (tail_cache_ - head_ >= n) return true;
      // Acquire: pairs with the producer's release store of tail, making the
      // elements it constructed visible before we read them.
      tail_cache_ = state_->tail.load(std::memory_order_acquire);
      return tail_cache_ - head_ >= n;
    }

    void release(std::size_t k) noexcept NOWAIT_NONBLOCKING {
      head_ += k;
      // Release: our reads and destruction of these slots must happen before
      // the producer, after its acquire load of head, writes into them again.
      state_->head.store(head_, std::memory_order_release);
    }

    detail::SpscState<T>* state_;
    std::uint64_t head_;        // the consumer's own index, the only writer of state_->head
    std::uint64_t tail_cache_;  // last seen producer index; refreshed only when the ring looks empty
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
