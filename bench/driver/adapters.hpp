// bench/driver/adapters.hpp: one thin adapter per queue, all with the same
// interface, so that each scenario has exactly one driver and every peer runs
// through the same code (the atomic_queue benchmarks' method).
//
// Single items (uint64_t, never 0: atomic_queue's atomic-element queues
// reserve 0 as their empty marker):
//   explicit Q(std::size_t capacity);      // allocates; before the clock starts
//   bool try_push(std::uint64_t v);        // producer thread; false when full
//   bool try_pop(std::uint64_t& v);        // consumer thread; false when empty
// Bulk (float samples), for the peers that have a bulk path:
//   std::size_t push_some(const float* src, std::size_t n);  // copies up to n; returns how many
//   std::size_t pop_some(float* dst, std::size_t n);         // copies up to n out; returns how many
//
// Every adapter forwards to the queue's own fastest call for that operation and
// adds nothing else. Capacities are as passed to each constructor; queues that
// round up to a power of two (atomic_queue, nowait's storage) do so themselves.
#pragma once

#include <algorithm>
#include <atomic_queue/atomic_queue.h>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

#include "nowait/spsc_ring.hpp"

// ThreadSanitizer builds leave moodycamel::ReaderWriterQueue out. It orders
// its element data with standalone fences around relaxed atomics, which is
// correct under the C++ memory model but which TSan does not model: under
// GCC's TSan (the tsan preset) every hand-off is reported as a data race and
// GCC rejects the fences outright (-Wtsan). Checked with a two-thread test:
// boost's and atomic_queue's queues run clean under TSan, moodycamel's reports
// races on the elements, a false positive. (Its clang path annotates the
// fences for TSan instead.)
#if defined(__SANITIZE_THREAD__)
#define NWB_HAVE_MOODYCAMEL 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NWB_HAVE_MOODYCAMEL 0
#endif
#endif
#ifndef NWB_HAVE_MOODYCAMEL
#define NWB_HAVE_MOODYCAMEL 1
#include <readerwriterqueue/readerwriterqueue.h>
#endif

namespace nwbench {

// ------------------------------------------------------------------ nowait ---

// nowait's endpoints are separate objects, each meant to live with its own
// thread; an adapter that holds both must keep them on separate cache lines
// (two, against the adjacent-line prefetcher), or the producer's and the
// consumer's private indices would falsely share a line.
inline constexpr std::size_t endpoint_alignment = 2 * nowait::cache_line_size;

// nowait::SpscRing: try_push / try_pop on the two endpoints.
template <class T>
class NowaitSpsc {
 public:
  static constexpr const char* name = "nowait SpscRing";
  explicit NowaitSpsc(std::size_t capacity) : NowaitSpsc(nowait::SpscRing<T>::create(capacity)) {}
  bool try_push(T v) noexcept { return tx_.try_push(v); }
  bool try_pop(T& v) noexcept {
    auto item = rx_.try_pop();
    if (!item) return false;
    v = *item;
    return true;
  }

 private:
  explicit NowaitSpsc(
      std::pair<typename nowait::SpscRing<T>::Producer, typename nowait::SpscRing<T>::Consumer> ends)
      : tx_(std::move(ends.first)), rx_(std::move(ends.second)) {}
  alignas(endpoint_alignment) typename nowait::SpscRing<T>::Producer tx_;
  alignas(endpoint_alignment) typename nowait::SpscRing<T>::Consumer rx_;
};

// nowait::SpscRing through its chunk API: write_chunk / read_chunk expose the
// free or filled slots as two spans (the wrap-around), copied with memcpy and
// published with one commit.
class NowaitChunk {
 public:
  static constexpr const char* name = "nowait SpscRing chunks";
  explicit NowaitChunk(std::size_t capacity) : NowaitChunk(nowait::SpscRing<float>::create(capacity)) {}
  std::size_t push_some(const float* src, std::size_t n) noexcept {
    auto chunk = tx_.write_chunk(n);
    const auto a = chunk.first();
    const auto b = chunk.second();
    std::memcpy(a.data(), src, a.size_bytes());
    std::memcpy(b.data(), src + a.size(), b.size_bytes());
    const std::size_t k = chunk.size();
    chunk.commit(k);
    return k;
  }
  std::size_t pop_some(float* dst, std::size_t n) noexcept {
    auto chunk = rx_.read_chunk(n);
    const auto a = chunk.first();
    const auto b = chunk.second();
    std::memcpy(dst, a.data(), a.size_bytes());
    std::memcpy(dst + a.size(), b.data(), b.size_bytes());
    const std::size_t k = chunk.size();
    chunk.commit(k);
    return k;
  }

 private:
  explicit NowaitChunk(std::pair<nowait::SpscRing<float>::Producer, nowait::SpscRing<float>::Consumer> ends)
      : tx_(std::move(ends.first)), rx_(std::move(ends.second)) {}
  alignas(endpoint_alignment) nowait::SpscRing<float>::Producer tx_;
  alignas(endpoint_alignment) nowait::SpscRing<float>::Consumer rx_;
};

// ------------------------------------------------------------------- peers ---

// boost::lockfree::spsc_queue with its capacity set at run time.
template <class T>
class BoostSpsc {
 public:
  static constexpr const char* name = "boost::lockfree::spsc_queue";
  explicit BoostSpsc(std::size_t capacity) : q_(capacity) {}
  bool try_push(T v) noexcept { return q_.push(v); }
  bool try_pop(T& v) noexcept { return q_.pop(v); }
  // The bulk path: push(const T*, n) / pop(T*, n) copy a run in one call.
  std::size_t push_some(const T* src, std::size_t n) noexcept { return q_.push(src, n); }
  std::size_t pop_some(T* dst, std::size_t n) noexcept { return q_.pop(dst, n); }

 private:
  boost::lockfree::spsc_queue<T> q_;
};

#if NWB_HAVE_MOODYCAMEL
// moodycamel::ReaderWriterQueue; try_enqueue never allocates, so the queue
// stays at the capacity it was built with.
class MoodycamelRwq {
 public:
  static constexpr const char* name = "moodycamel::ReaderWriterQueue";
  explicit MoodycamelRwq(std::size_t capacity) : q_(capacity) {}
  bool try_push(std::uint64_t v) noexcept { return q_.try_enqueue(v); }
  bool try_pop(std::uint64_t& v) noexcept { return q_.try_dequeue(v); }

 private:
  moodycamel::ReaderWriterQueue<std::uint64_t> q_;
};
#endif

// atomic_queue::AtomicQueueB2<T, ..., SPSC = true>: run-time capacity, any T
// (a state byte per slot).
class AtomicQueueB2Spsc {
 public:
  static constexpr const char* name = "atomic_queue AtomicQueueB2 SPSC";
  explicit AtomicQueueB2Spsc(std::size_t capacity) : q_(static_cast<unsigned>(capacity)) {}
  bool try_push(std::uint64_t v) noexcept { return q_.try_push(v); }
  bool try_pop(std::uint64_t& v) noexcept { return q_.try_pop(v); }

 private:
  atomic_queue::AtomicQueueB2<std::uint64_t, std::allocator<std::uint64_t>, /*MAXIMIZE_THROUGHPUT=*/true,
                              /*TOTAL_ORDER=*/false, /*SPSC=*/true>
      q_;
};

// atomic_queue::AtomicQueue<uint64_t, N, NIL = 0, ..., SPSC = true>: the
// fastest variant that fits uint64_t items. The capacity is a template
// argument and the slots are the atomics themselves (0 marks an empty slot),
// so a push or pop touches one line fewer than B2. Minimise-contention index
// shuffling on, as atomic_queue's defaults have it. Heap-allocated: 512 KiB at
// the larger capacity.
template <unsigned Capacity>
class AtomicQueueSpsc {
 public:
  static constexpr const char* name = "atomic_queue AtomicQueue SPSC";
  explicit AtomicQueueSpsc(std::size_t) : q_(std::make_unique<Queue>()) {}
  bool try_push(std::uint64_t v) noexcept { return q_->try_push(v); }
  bool try_pop(std::uint64_t& v) noexcept { return q_->try_pop(v); }

 private:
  using Queue = atomic_queue::AtomicQueue<std::uint64_t, Capacity, /*NIL=*/0, /*MINIMIZE_CONTENTION=*/true,
                                          /*MAXIMIZE_THROUGHPUT=*/true, /*TOTAL_ORDER=*/false, /*SPSC=*/true>;
  std::unique_ptr<Queue> q_;
};

// std::mutex + std::deque: the design nowait replaces. try_push / try_pop take
// the lock (blocking); try_lock_push is the "real-time" variant that gives up
// rather than wait when the lock is taken.
template <class T>
class MutexDeque {
 public:
  static constexpr const char* name = "std::mutex + std::deque";
  explicit MutexDeque(std::size_t capacity) : capacity_(capacity) {}
  bool try_push(T v) {
    std::lock_guard lock(mutex_);
    if (q_.size() >= capacity_) return false;
    q_.push_back(v);
    return true;
  }
  bool try_lock_push(T v) {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || q_.size() >= capacity_) return false;
    q_.push_back(v);
    return true;
  }
  bool try_pop(T& v) {
    std::lock_guard lock(mutex_);
    if (q_.empty()) return false;
    v = q_.front();
    q_.pop_front();
    return true;
  }
  std::size_t push_some(const T* src, std::size_t n) {
    std::lock_guard lock(mutex_);
    const std::size_t k = std::min(n, capacity_ - q_.size());
    q_.insert(q_.end(), src, src + k);
    return k;
  }
  std::size_t pop_some(T* dst, std::size_t n) {
    std::lock_guard lock(mutex_);
    const std::size_t k = std::min(n, q_.size());
    std::copy_n(q_.begin(), k, dst);
    q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(k));
    return k;
  }

 private:
  std::mutex mutex_;
  std::deque<T> q_;
  std::size_t capacity_;
};

}  // namespace nwbench
