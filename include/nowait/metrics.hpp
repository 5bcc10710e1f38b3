// nowait/metrics.hpp: telemetry whose write side costs about one relaxed
// atomic add, so hot threads can update it thousands of times a second while a
// dashboard, a status line or a scraper reads it.
//
//   nowait::Counter underruns;                            // setup, control thread
//   nowait::Histogram callback_ns(1'000, 1'000'000'000);  // 1 us .. 1 s
//   nowait::StageTimer mix("mix");
//
//   void process(Block& block) noexcept NOWAIT_NONBLOCKING {  // RT thread
//     nowait::ScopedTimer whole(callback_ns);                  // records when process returns
//     if (!read_inputs(block)) underruns.add();
//     { nowait::ScopedTimer t(mix); mix_inputs(block); }
//   }
//
//   auto h = callback_ns.snapshot();                      // control thread
//   std::cout << "p99 " << h.p99() << " ns over " << h.count() << " calls\n";
//
// A metric allocates, if at all, in its constructor only; the one read that
// allocates is a Histogram snapshot, a new object built on the control
// thread. Every write is marked NOWAIT_NONBLOCKING, so a real-time function
// may call it.
//
// Contract ("any" = any thread, any number at once; "control" = off the
// real-time thread):
//
//   operation                               thread   progress        allocates
//   Counter::add / value / snapshot_and_reset  any   wait-free       no
//   Counter::add_saturating                 any      lock-free (1)   no
//   Gauge<T>::set / value                   any      wait-free       no
//   Gauge<T>::add / sub (integral T)        any      wait-free       no
//   Gauge<T>::add / sub (floating T)        any      lock-free (1)   no
//   MaxGauge<T>::observe                    any      lock-free (1)   no
//   MaxGauge<T>::value / take_and_reset     any      wait-free       no
//   ShardedCounter(shards)                  control  blocking        yes, once (throws on 0 shards)
//   ShardedCounter::shard                   any      wait-free       no
//   ShardedCounter::Shard::add              any      wait-free       no
//   ShardedCounter::value / snapshot_and_reset  any  wait-free (2)   no
//   Histogram(lowest, highest, sub_buckets) control  blocking        yes, once (throws on a bad range)
//   Histogram::record                       any      wait-free (3)   no
//   Histogram::snapshot / snapshot_and_reset  control  blocking (4)  yes (the snapshot)
//   StageTimer(name)                        control  blocking        yes, the name
//   StageTimer::record                      any      wait-free (3)   no
//   StageTimer::snapshot / snapshot_and_reset  any   wait-free       no
//   ScopedTimer (construct and destroy)     any      as its sink's record, plus two clock reads
//
// (1) A compare-and-swap loop that retries only when another thread changed
//     the value between its load and its CAS, so some thread always makes
//     progress. With a single writing thread only a concurrent reset can cause
//     a retry, and after one retry the value is at its reset state, so that
//     writer finishes in at most two attempts.
// (2) Wait-free in the number of shards: one load or exchange per shard.
// (3) Counts, sums and totals are one fetch_add each. The running maximum
//     (and a histogram's minimum) is one load when the value is not a new
//     extreme, the common case; otherwise it is (1): wait-free for a single
//     recording thread, lock-free when several threads record new extremes at
//     the same moment.
// (4) Blocks on a mutex shared with other snapshot callers and waits for the
//     record() calls already in flight to finish (see Histogram).
//
// All metrics are neither copyable nor movable: the hot side holds references
// to them. Counters and sums wrap modulo 2^64 unless the operation says it
// saturates (2^64 ns is 584 years).
//
// Memory orders: a metric publishes no other data, so its updates are relaxed
// unless a comment says otherwise; a reader wants each number, not an order
// between numbers. The one exception is the histogram's phase protocol, whose
// orders are explained beside it.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "nowait/rt.hpp"

namespace nowait {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "nowait metrics need lock-free 64-bit atomics: a lock inside record() would block");

// ---------------------------------------------------------------------------
// Counter

// A 64-bit event count. Place counters that different threads update at the
// same time on separate cache lines (alignas(cache_line_size)); a Counter is
// not padded itself so that a struct of counters one thread updates together
// stays compact.
class Counter {
 public:
  constexpr Counter() noexcept = default;
  constexpr explicit Counter(std::uint64_t initial) noexcept : value_(initial) {}
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds n, wrapping modulo 2^64. Thread: any. Wait-free; no allocation.
  void add(std::uint64_t n = 1) noexcept NOWAIT_NONBLOCKING {
    value_.fetch_add(n, std::memory_order_relaxed);  // relaxed: a count orders no other data
  }

  // Adds n, but a sum past UINT64_MAX sticks at UINT64_MAX instead of
  // wrapping; a saturated counter stays saturated until it is reset. Use it
  // consistently: a plain add() on a saturated counter wraps it.
  // Thread: any. Lock-free (see (1) above); no allocation.
  void add_saturating(std::uint64_t n) noexcept NOWAIT_NONBLOCKING {
    constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t current = value_.load(std::memory_order_relaxed);  // relaxed: a count orders no other data
    // Strong, not weak: a failure then always means another thread changed the
    // value, which is what the lock-free argument counts on.
    while (!value_.compare_exchange_strong(current, current > top - n ? top : current + n,
                                           std::memory_order_relaxed,     // relaxed: as above
                                           std::memory_order_relaxed)) {  // relaxed: as above
    }
  }

  // The current count. Thread: any. Wait-free; no allocation.
  std::uint64_t value() const noexcept NOWAIT_NONBLOCKING {
    return value_.load(std::memory_order_relaxed);  // relaxed: a count orders no other data
  }

  // Returns the count and sets it to zero in one atomic exchange, so an add
  // racing with it lands either in the value returned or in the next one,
  // never in neither. Thread: any. Wait-free; no allocation.
  std::uint64_t snapshot_and_reset() noexcept NOWAIT_NONBLOCKING {
    return value_.exchange(0, std::memory_order_relaxed);  // relaxed: a count orders no other data
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// ---------------------------------------------------------------------------
// Gauge

// The value types a Gauge or MaxGauge may hold: integers (not bool) and
// floating point, as long as their atomics never take a lock.
template <class T>
concept MetricValue = (std::integral<T> && !std::same_as<T, bool>) || std::floating_point<T>;

// A value that goes up and down: a level, a lag, a queue depth. Use
// Gauge<std::int64_t>, Gauge<std::uint64_t> or Gauge<double>. Integer add/sub
// wrap like unsigned arithmetic (for signed T too: atomic arithmetic is
// defined to wrap).
template <MetricValue T>
class Gauge {
  static_assert(std::atomic<T>::is_always_lock_free, "Gauge<T> needs a lock-free std::atomic<T>");

 public:
  constexpr Gauge() noexcept = default;
  constexpr explicit Gauge(T initial) noexcept : value_(initial) {}
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value. Thread: any. Wait-free; no allocation.
  void set(T v) noexcept NOWAIT_NONBLOCKING {
    value_.store(v, std::memory_order_relaxed);  // relaxed: a gauge orders no other data
  }

  // Adds / subtracts d. Thread: any. Wait-free for integers; for floating
  // point a CAS loop, lock-free (see (1) above). No allocation.
  void add(T d) noexcept NOWAIT_NONBLOCKING {
    if constexpr (std::integral<T>) {
      value_.fetch_add(d, std::memory_order_relaxed);  // relaxed: a gauge orders no other data
    } else {
      T current = value_.load(std::memory_order_relaxed);  // relaxed: a gauge orders no other data
      while (!value_.compare_exchange_strong(current, current + d,
                                             std::memory_order_relaxed,     // relaxed: as above
                                             std::memory_order_relaxed)) {  // relaxed: as above
      }
    }
  }
  void sub(T d) noexcept NOWAIT_NONBLOCKING {
    if constexpr (std::integral<T>) {
      value_.fetch_sub(d, std::memory_order_relaxed);  // relaxed: a gauge orders no other data
    } else {
      add(-d);
    }
  }

  // The current value. Thread: any. Wait-free; no allocation.
  T value() const noexcept NOWAIT_NONBLOCKING {
    return value_.load(std::memory_order_relaxed);  // relaxed: a gauge orders no other data
  }

 private:
  std::atomic<T> value_{T{}};
};

// ---------------------------------------------------------------------------
// MaxGauge

// The largest value observed since construction or the last take_and_reset().
// Empty, it holds std::numeric_limits<T>::lowest(): 0 for unsigned T, so a
// MaxGauge of durations or depths reads 0 until something is observed. A NaN
// never raises a floating-point MaxGauge.
template <MetricValue T = std::uint64_t>
class MaxGauge {
  static_assert(std::atomic<T>::is_always_lock_free, "MaxGauge<T> needs a lock-free std::atomic<T>");

 public:
  static constexpr T empty_value = std::numeric_limits<T>::lowest();

  constexpr MaxGauge() noexcept = default;
  MaxGauge(const MaxGauge&) = delete;
  MaxGauge& operator=(const MaxGauge&) = delete;

  // Raises the maximum to v if v is larger. One load when v is not larger;
  // otherwise a CAS that retries only while other threads raise the maximum
  // (or reset it) in between: lock-free (see (1) above). Thread: any. No
  // allocation.
  void observe(T v) noexcept NOWAIT_NONBLOCKING {
    T current = max_.load(std::memory_order_relaxed);  // relaxed: a gauge orders no other data
    while (v > current && !max_.compare_exchange_strong(current, v,
                                                        std::memory_order_relaxed,     // relaxed: as above
                                                        std::memory_order_relaxed)) {  // relaxed: as above
    }
  }

  // The maximum so far, or empty_value. Thread: any. Wait-free; no allocation.
  T value() const noexcept NOWAIT_NONBLOCKING {
    return max_.load(std::memory_order_relaxed);  // relaxed: a gauge orders no other data
  }

  // Returns the maximum and restarts from empty_value in one exchange, so an
  // observation racing with it counts in this interval or the next.
  // Thread: any. Wait-free; no allocation.
  T take_and_reset() noexcept NOWAIT_NONBLOCKING {
    return max_.exchange(empty_value, std::memory_order_relaxed);  // relaxed: a gauge orders no other data
  }

 private:
  std::atomic<T> max_{empty_value};
};

// ---------------------------------------------------------------------------
// ShardedCounter

// A counter for many writing threads. Each writer adds to its own slot on its
// own cache line, so writers on different cores never contend for a line;
// reads sum the slots. A writer takes a Shard handle once, off the hot path
// (clang's nonblocking check forbids thread_local access, so a handle is how a
// real-time function finds its slot):
//
//   nowait::ShardedCounter frames(8);
//   auto shard = frames.shard();   // per thread, at setup
//   shard.add(256);                // hot path: one uncontended relaxed add
//
// Shards are handed out round-robin; with more writers than slots two writers
// share a slot, which stays correct (slot adds are atomic) and merely contends.
class ShardedCounter {
  // One slot per cache line: two writers' slots on one line would make every
  // add invalidate the other core's copy (false sharing), the very contention
  // sharding removes.
  struct alignas(cache_line_size) Slot {
    std::atomic<std::uint64_t> value{0};
  };

 public:
  // A writer's handle to one slot. Copies share the slot (still correct).
  // Must not outlive its ShardedCounter.
  class Shard {
   public:
    // An unbound shard; assign one from ShardedCounter::shard() before add().
    constexpr Shard() noexcept = default;

    // Adds n to this shard's slot, wrapping modulo 2^64.
    // Precondition: the shard is bound (debug-checked).
    // Thread: any. Wait-free; no allocation.
    void add(std::uint64_t n = 1) const noexcept NOWAIT_NONBLOCKING {
      NOWAIT_PRECONDITION(slot_ != nullptr, "ShardedCounter::Shard::add on an unbound shard");
      slot_->fetch_add(n, std::memory_order_relaxed);  // relaxed: a count orders no other data
    }

    // The slot this shard adds to, in [0, shard_count()). For diagnostics and tests.
    std::size_t index() const noexcept NOWAIT_NONBLOCKING { return index_; }

   private:
    friend class ShardedCounter;
    Shard(std::atomic<std::uint64_t>* slot, std::size_t index) noexcept : slot_(slot), index_(index) {}
    std::atomic<std::uint64_t>* slot_ = nullptr;
    std::size_t index_ = 0;
  };

  // The default slot count: the hardware thread count, at least 1.
  static std::size_t default_shard_count() noexcept {
    return std::max<std::size_t>(1, std::thread::hardware_concurrency());
  }

  // Allocates `shards` zeroed slots. Throws std::invalid_argument when shards
  // is 0. Thread: control. Blocking; allocates.
  explicit ShardedCounter(std::size_t shards = default_shard_count())
      : slots_(make_slots(shards)), shard_count_(shards) {}
  ShardedCounter(const ShardedCounter&) = delete;
  ShardedCounter& operator=(const ShardedCounter&) = delete;

  // Hands out the next slot, round-robin. Call once per writing thread, at
  // setup. Thread: any. Wait-free; no allocation.
  Shard shard() noexcept NOWAIT_NONBLOCKING {
    // relaxed: only spreads writers over slots; any order is correct.
    const std::size_t index = next_shard_.fetch_add(1, std::memory_order_relaxed) % shard_count_;
    return Shard(&slots_[index].value, index);
  }

  std::size_t shard_count() const noexcept NOWAIT_NONBLOCKING { return shard_count_; }

  // The sum of the slots, read one by one: an add concurrent with the call may
  // or may not be included. Thread: any. Wait-free (one load per slot); no
  // allocation.
  std::uint64_t value() const noexcept NOWAIT_NONBLOCKING {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < shard_count_; ++i)
      sum += slots_[i].value.load(std::memory_order_relaxed);  // relaxed: a count orders no other data
    return sum;
  }

  // Returns the sum and zeroes every slot, each with one exchange: an add that
  // races with it lands in this result or in a later one, never in neither and
  // never in both. Thread: any. Wait-free (one exchange per slot); no allocation.
  std::uint64_t snapshot_and_reset() noexcept NOWAIT_NONBLOCKING {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < shard_count_; ++i)
      sum += slots_[i].value.exchange(0, std::memory_order_relaxed);  // relaxed: a count orders no other data
    return sum;
  }

 private:
  static std::unique_ptr<Slot[]> make_slots(std::size_t shards) {
    if (shards == 0) throw std::invalid_argument("ShardedCounter: shard count must be at least 1");
    return std::make_unique<Slot[]>(shards);  // over-aligned new: every slot starts a cache line
  }

  std::unique_ptr<Slot[]> slots_;
  std::size_t shard_count_;
  // Touched only by shard(), at setup; its own line keeps it off the slots.
  alignas(cache_line_size) std::atomic<std::size_t> next_shard_{0};
};

// ---------------------------------------------------------------------------
// Histogram bucket layout

// The fixed log-linear buckets of a Histogram (the HdrHistogram scheme).
//
// With S = sub_buckets (a power of two, S = 2^p), every value v maps to a raw
// bucket:
//   shift = max(0, floor(log2 v) - p)        (0 for v < 2S)
//   raw   = shift * S + (v >> shift)
// So values below 2S get buckets of width 1, and each power of two above,
// [2^e, 2^(e+1)) with e >= p + 1, is split into S buckets of equal width
// 2^(e-p). A bucket of width w starts at S*w or above, so every bucket is at
// most 1/S of its lower bound wide:
//
//   relative error bound: a value reported as its bucket's bound differs from
//   the true value by less than 1/S of the true value (max_relative_error()),
//   and by nothing when the value is below 2S.
//
// A layout keeps only the buckets from the one holding `lowest` to the one
// holding `highest`; the first and last are clipped to the range, so every
// bucket bound lies in [lowest, highest]. Values outside the range are counted
// by the Histogram in an underflow or an overflow bucket, never dropped.
//
// Example, lowest 1, highest 100, S = 4: [1] [2] ... [7] (width 1), then
// [8,9] [10,11] [12,13] [14,15], [16,19] ... [28,31], [32,39] ... [56,63],
// [64,79] [80,95] [96,100]: 22 buckets.
class HistogramLayout {
 public:
  static constexpr std::uint32_t max_sub_buckets = 1u << 14;

  // Throws std::invalid_argument unless lowest <= highest and sub_buckets is a
  // power of two in [1, max_sub_buckets]. Thread: any. No allocation.
  HistogramLayout(std::uint64_t lowest, std::uint64_t highest, std::uint32_t sub_buckets)
      : lowest_(lowest), highest_(highest), sub_buckets_(sub_buckets) {
    if (lowest > highest) throw std::invalid_argument("HistogramLayout: lowest must not exceed highest");
    if (sub_buckets == 0 || sub_buckets > max_sub_buckets || !std::has_single_bit(sub_buckets))
      throw std::invalid_argument("HistogramLayout: sub_buckets must be a power of two in [1, 16384]");
    sub_bits_ = std::countr_zero(sub_buckets);
    first_raw_ = raw_index(lowest);
    bucket_count_ = static_cast<std::size_t>(raw_index(highest) - first_raw_ + 1);
  }

  std::uint64_t lowest() const noexcept NOWAIT_NONBLOCKING { return lowest_; }
  std::uint64_t highest() const noexcept NOWAIT_NONBLOCKING { return highest_; }
  std::uint32_t sub_buckets() const noexcept NOWAIT_NONBLOCKING { return sub_buckets_; }
  // The number of in-range buckets (underflow and overflow not included).
  std::size_t bucket_count() const noexcept NOWAIT_NONBLOCKING { return bucket_count_; }
  // 1/S: see the error bound above.
  double max_relative_error() const noexcept NOWAIT_NONBLOCKING { return 1.0 / sub_buckets_; }

  // The in-range bucket that holds v. Precondition: lowest() <= v <= highest()
  // (debug-checked). Thread: any. Wait-free; no allocation.
  std::size_t bucket_index(std::uint64_t v) const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(v >= lowest_ && v <= highest_, "HistogramLayout::bucket_index: value out of range");
    return static_cast<std::size_t>(raw_index(v) - first_raw_);
  }

  // The smallest and the largest value bucket i holds (both inclusive, so
  // upper_bound is the Prometheus `le`). Precondition: i < bucket_count().
  std::uint64_t lower_bound(std::size_t i) const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(i < bucket_count_, "HistogramLayout::lower_bound: no such bucket");
    return std::max(raw_lower(first_raw_ + i), lowest_);
  }
  std::uint64_t upper_bound(std::size_t i) const noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(i < bucket_count_, "HistogramLayout::upper_bound: no such bucket");
    const std::uint64_t raw = first_raw_ + i;
    // lower + (width - 1), never lower + width: the top bucket ends at UINT64_MAX.
    return std::min(raw_lower(raw) + ((std::uint64_t{1} << raw_shift(raw)) - 1), highest_);
  }

  friend bool operator==(const HistogramLayout& a, const HistogramLayout& b) noexcept {
    return a.lowest_ == b.lowest_ && a.highest_ == b.highest_ && a.sub_buckets_ == b.sub_buckets_;
  }

 private:
  std::uint64_t raw_index(std::uint64_t v) const noexcept NOWAIT_NONBLOCKING {
    const int shift = std::max(0, static_cast<int>(std::bit_width(v)) - 1 - sub_bits_);
    return static_cast<std::uint64_t>(shift) * sub_buckets_ + (v >> shift);
  }
  // raw / S is 0 or 1 for the width-1 buckets (shift 0) and shift + 1 above.
  int raw_shift(std::uint64_t raw) const noexcept NOWAIT_NONBLOCKING {
    const auto octave = static_cast<int>(raw >> sub_bits_);
    return octave == 0 ? 0 : octave - 1;
  }
  std::uint64_t raw_lower(std::uint64_t raw) const noexcept NOWAIT_NONBLOCKING {
    const int shift = raw_shift(raw);
    return (raw - static_cast<std::uint64_t>(shift) * sub_buckets_) << shift;
  }

  std::uint64_t lowest_;
  std::uint64_t highest_;
  std::uint32_t sub_buckets_;
  int sub_bits_ = 0;
  std::uint64_t first_raw_ = 0;
  std::size_t bucket_count_ = 0;
};

// ---------------------------------------------------------------------------
// HistogramSnapshot

// A plain copy of a Histogram's counts, taken consistently (see Histogram):
// count() is exactly the sum of every bucket, underflow and overflow
// included, and sum/min/max cover exactly the same recorded values. Every
// function is a pure computation on the copy. Thread: any (the snapshot
// belongs to whoever took it). No function allocates except buckets() and
// cumulative_buckets(), which return vectors.
class HistogramSnapshot {
 public:
  struct Bucket {
    std::uint64_t lower_bound;  // inclusive
    std::uint64_t upper_bound;  // inclusive
    std::uint64_t count;
  };
  struct CumulativeBucket {
    std::uint64_t upper_bound;       // inclusive: Prometheus `le`
    std::uint64_t cumulative_count;  // values <= upper_bound, underflow included
  };

  // An empty snapshot of the given layout. Allocates the bucket counts.
  explicit HistogramSnapshot(const HistogramLayout& layout)
      : layout_(layout), counts_(layout.bucket_count(), 0) {}

  const HistogramLayout& layout() const noexcept { return layout_; }

  // Every recorded value: the in-range buckets plus underflow and overflow
  // (kept as it is folded, so the call is O(1)).
  std::uint64_t count() const noexcept { return count_; }
  // The exact sum of every recorded value (out-of-range ones too), modulo 2^64.
  std::uint64_t sum() const noexcept { return sum_; }
  // The exact smallest and largest recorded value (out-of-range ones too); 0 when empty.
  std::uint64_t min() const noexcept { return count() == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return count() == 0 ? 0 : max_; }
  // sum() / count(), or 0 when empty.
  double mean() const noexcept {
    const std::uint64_t n = count();
    return n == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(n);
  }
  // Values below layout().lowest() and above layout().highest().
  std::uint64_t underflow() const noexcept { return underflow_; }
  std::uint64_t overflow() const noexcept { return overflow_; }

  // The number of in-range buckets, and the count of bucket i, whose bounds
  // are layout().lower_bound(i) and upper_bound(i). Precondition:
  // i < bucket_count() (debug-checked).
  std::size_t bucket_count() const noexcept { return counts_.size(); }
  std::uint64_t bucket_value_count(std::size_t i) const noexcept {
    NOWAIT_PRECONDITION(i < counts_.size(), "HistogramSnapshot::bucket_value_count: no such bucket");
    return counts_[i];
  }

  // Every in-range bucket with its bounds and count, lowest first.
  std::vector<Bucket> buckets() const {
    std::vector<Bucket> out;
    out.reserve(counts_.size());
    for (std::size_t i = 0; i < counts_.size(); ++i)
      out.push_back({layout_.lower_bound(i), layout_.upper_bound(i), counts_[i]});
    return out;
  }

  // (upper_bound, values <= upper_bound) for every in-range bucket, lowest
  // first: the Prometheus `_bucket{le=...}` series. Underflow is counted in
  // every entry (all its values lie below the first bound); the `+Inf` entry
  // is count(), which adds the overflow.
  std::vector<CumulativeBucket> cumulative_buckets() const {
    std::vector<CumulativeBucket> out;
    out.reserve(counts_.size());
    std::uint64_t running = underflow_;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      running += counts_[i];
      out.push_back({layout_.upper_bound(i), running});
    }
    return out;
  }

  // The nearest-rank q-th percentile, q in [0, 100] (clamped; NaN counts as
  // 0; taken to 7 decimal places): the smallest recorded value t such that
  // at least q% of the values are <= t, i.e. the value of rank
  // ceil(q/100 * count()), a rank computed exactly at any count. Reported as
  // r with t <= r < t * (1 + max_relative_error()), and r == t when
  // t < 2 * sub_buckets. The lowest rank is min() and the highest is max(),
  // exactly; a rank that falls among out-of-range values is reported as
  // min() (underflow) or max() (overflow), their only known bounds. 0 when
  // empty.
  std::uint64_t percentile(double q) const noexcept {
    const std::uint64_t n = count();
    if (n == 0) return 0;
    q = q > 0.0 ? std::min(q, 100.0) : 0.0;
    // The rank ceil(q/100 * n), in integers, so that it is exact at any n: q
    // is first rounded to 7 decimal places, where every decimal a caller
    // writes (99.9, 99.9999) lands on its exact value, then q/100 is
    // parts / scale. With n = a * scale + b, parts * n / scale is
    // parts * a + parts * b / scale, where neither product can overflow:
    // parts * a <= n, and parts * b < scale^2 = 10^18 < 2^64.
    constexpr std::uint64_t scale = 1'000'000'000;
    const auto parts = static_cast<std::uint64_t>(std::llround(q * 1e7));  // 0 ..= scale
    const std::uint64_t a = n / scale;
    const std::uint64_t b = n % scale;
    const std::uint64_t rank = std::clamp<std::uint64_t>(parts * a + (parts * b + scale - 1) / scale, 1, n);
    if (rank == 1) return min_;
    if (rank == n) return max_;
    std::uint64_t seen = underflow_;
    if (rank <= seen) return min_;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (rank <= seen) return std::min(layout_.upper_bound(i), max_);
    }
    return max_;
  }
  std::uint64_t p50() const noexcept { return percentile(50.0); }
  std::uint64_t p90() const noexcept { return percentile(90.0); }
  std::uint64_t p99() const noexcept { return percentile(99.0); }
  std::uint64_t p999() const noexcept { return percentile(99.9); }

 private:
  friend class Histogram;

  HistogramLayout layout_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t underflow_ = 0;
  std::uint64_t overflow_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

namespace detail {

// A fixed array of zeroed 64-bit atomics that starts on a cache line, so its
// first counts share no line with whatever the allocator put before it.
class AtomicWords {
 public:
  explicit AtomicWords(std::size_t n)
      : size_(n), words_(static_cast<std::atomic<std::uint64_t>*>(::operator new(bytes(n), alignment))) {
    std::uninitialized_value_construct_n(words_, n);
  }
  AtomicWords(const AtomicWords&) = delete;
  AtomicWords& operator=(const AtomicWords&) = delete;
  ~AtomicWords() {
    std::destroy_n(words_, size_);
    ::operator delete(words_, bytes(size_), alignment);
  }

  std::atomic<std::uint64_t>& operator[](std::size_t i) const noexcept NOWAIT_NONBLOCKING {
    return words_[i];
  }

 private:
  static constexpr std::align_val_t alignment{cache_line_size};
  static std::size_t bytes(std::size_t n) {
    return (n * sizeof(std::atomic<std::uint64_t>) + cache_line_size - 1) / cache_line_size * cache_line_size;
  }
  std::size_t size_;
  std::atomic<std::uint64_t>* words_;
};

}  // namespace detail

// ---------------------------------------------------------------------------
// Histogram

// A distribution of u64 values (typically nanoseconds) over the fixed
// log-linear buckets of a HistogramLayout, with exact count, sum, min and max.
//
//   nowait::Histogram h(1'000, 1'000'000'000);  // 1 us .. 1 s, 32 sub-buckets: < 3.2% error
//   h.record(ns);                               // any thread, wait-free
//   auto s = h.snapshot();                      // control thread
//
// Consistent snapshots while writers run: a writer/reader phaser (after
// HdrHistogram's WriterReaderPhaser). The counts exist twice, one set per
// phase; writers always record into the active phase, and a snapshot flips the
// phase, waits until the writers already inside the old phase have left it,
// and only then reads and zeroes the old phase's counts, which no writer can
// touch any more. Each record() therefore lands entirely in exactly one
// snapshot interval: no value is lost, counted twice or split between count,
// sum and extremes.
//
// The phase and the writers inside it live in one 64-bit word, `start`: bit
// 63 is the active phase, the low 63 bits count the writers that have entered
// it. `end[p]` counts writers that have left phase p.
//
//   writer (record):  t = start.fetch_add(1)            enter; p = t >> 63
//                     counts[p][bucket(v)] += 1; sum[p] += v; min/max[p]
//                     end[p].fetch_add(1)               leave
//   reader (flip):    p = active phase, q = 1 - p       (under the reader mutex)
//                     end[q] = q << 63                  q is idle: drained at the last flip
//                     t = start.exchange(q << 63)       new writers now enter q
//                     wait until end[p] == t            every writer that entered p has left
//                     fold counts[p] into the totals and zero them
//
// The wait is the only blocking step and is bounded by the record() calls in
// flight at the flip: each is a handful of instructions, unless its thread is
// preempted inside it. Writers never wait. 2^63 records in one phase would
// carry into the phase bit: centuries at any rate.
//
// The totals are owned by the readers, under a mutex, so snapshot() and
// snapshot_and_reset() may be called from several control threads.
class Histogram {
 public:
  using Snapshot = HistogramSnapshot;

  // Allocates both phases' counts, once. Throws std::invalid_argument for a
  // bad layout (see HistogramLayout). Thread: control. Blocking; allocates.
  explicit Histogram(const HistogramLayout& layout)
      : layout_(layout),
        stride_(round_up_to_line(layout.bucket_count() + 2)),
        counts_(2 * stride_),
        totals_(layout) {}
  Histogram(std::uint64_t lowest, std::uint64_t highest, std::uint32_t sub_buckets = 32)
      : Histogram(HistogramLayout(lowest, highest, sub_buckets)) {}
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  const HistogramLayout& layout() const noexcept NOWAIT_NONBLOCKING { return layout_; }

  // Counts v: in its bucket when lowest <= v <= highest, else in underflow or
  // overflow; adds it to the sum and to the running min and max.
  // Thread: any, any number at once. Wait-free (see (3) at the top); no
  // allocation.
  void record(std::uint64_t v) noexcept NOWAIT_NONBLOCKING {
    // acquire: pairs with the reader's release exchange, so the zeroing of
    // this phase's counts at its last fold happens before our adds to them.
    // Edge: zeroing -> release exchange of start -> this RMW, which reads it
    // or a later RMW of its release sequence (every change of start is an RMW).
    const std::uint64_t ticket = hot_.start.fetch_add(1, std::memory_order_acquire);
    const auto phase = static_cast<std::size_t>(ticket >> 63);
    const std::size_t slot = phase * stride_ + slot_of(v);
    counts_[slot].fetch_add(1, std::memory_order_relaxed);    // relaxed: ordered by `end`
    hot_.sum[phase].fetch_add(v, std::memory_order_relaxed);  // relaxed: ordered by `end`
    Extremes& extremes = extremes_[phase];
    std::uint64_t low = extremes.min.load(std::memory_order_relaxed);  // relaxed: ordered by `end`
    while (v < low &&
           !extremes.min.compare_exchange_strong(low, v,
                                                 std::memory_order_relaxed,     // relaxed: as above
                                                 std::memory_order_relaxed)) {  // relaxed: as above
    }
    std::uint64_t high = extremes.max.load(std::memory_order_relaxed);  // relaxed: ordered by `end`
    while (v > high &&
           !extremes.max.compare_exchange_strong(high, v,
                                                 std::memory_order_relaxed,     // relaxed: as above
                                                 std::memory_order_relaxed)) {  // relaxed: as above
    }
    // release: the reader's acquire load of end[phase] that sees every writer
    // gone must also see every count this writer added. Edge: our adds ->
    // this RMW -> the reader's acquire load, which reads the last add to
    // end[phase]; that add continues the release sequence of every earlier
    // one, so the load synchronises with every writer of the phase.
    hot_.end[phase].fetch_add(1, std::memory_order_release);
  }

  // Everything recorded since construction or the last snapshot_and_reset(),
  // up to the moment of the call; records that start during the call land in
  // the next snapshot. Thread: control (any thread that may block).
  // Blocking (see above); allocates the snapshot.
  HistogramSnapshot snapshot() {
    std::lock_guard<std::mutex> lock(reader_mutex_);
    flip_and_fold();
    return totals_;
  }

  // As snapshot(), then starts a new interval: the next snapshot holds only
  // what is recorded after this one. The intervals of successive calls, plus a
  // final snapshot(), add up to exactly everything recorded.
  // Thread: control. Blocking; allocates the snapshot.
  HistogramSnapshot snapshot_and_reset() {
    std::lock_guard<std::mutex> lock(reader_mutex_);
    flip_and_fold();
    HistogramSnapshot out = totals_;
    totals_ = HistogramSnapshot(layout_);
    return out;
  }

 private:
  static constexpr std::uint64_t phase_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t no_min = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::size_t words_per_line = cache_line_size / sizeof(std::uint64_t);

  static std::size_t round_up_to_line(std::size_t words) {
    return (words + words_per_line - 1) / words_per_line * words_per_line;
  }

  // Index of v's count within a phase: the in-range buckets, then underflow,
  // then overflow.
  std::size_t slot_of(std::uint64_t v) const noexcept NOWAIT_NONBLOCKING {
    if (v < layout_.lowest()) return layout_.bucket_count();
    if (v > layout_.highest()) return layout_.bucket_count() + 1;
    return layout_.bucket_index(v);
  }

  // Reader side of the phaser (caller holds reader_mutex_).
  void flip_and_fold() {
    // relaxed: only readers change the phase bit and the mutex orders them.
    const std::uint64_t old_base = hot_.start.load(std::memory_order_relaxed) & phase_bit;
    const std::uint64_t new_base = old_base ^ phase_bit;
    const auto old_phase = static_cast<std::size_t>(old_base >> 63);
    const auto new_phase = old_phase ^ 1;
    // relaxed: published to the new phase's writers by the release exchange below.
    hot_.end[new_phase].store(new_base, std::memory_order_relaxed);
    // release: writers that enter the new phase (acquire) must see its counts
    // zeroed by the previous fold and end[new_phase] reset (the edge is
    // spelled out at record()'s acquire).
    const std::uint64_t at_flip = hot_.start.exchange(new_base, std::memory_order_release);
    // acquire: seeing the last writer's release add to end[old] makes every
    // count added in the old phase visible (the adds form one release
    // sequence; see record()). The spin reads no count before it succeeds.
    while (hot_.end[old_phase].load(std::memory_order_acquire) != at_flip) std::this_thread::yield();

    // The old phase is quiescent: no writer is inside it and none can enter
    // before the next flip, so relaxed exchanges read and zero it.
    auto take = [](std::atomic<std::uint64_t>& word, std::uint64_t reset) {
      return word.exchange(reset, std::memory_order_relaxed);  // relaxed: quiescent, see above
    };
    const std::size_t base = old_phase * stride_;
    const std::size_t n = layout_.bucket_count();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t c = take(counts_[base + i], 0);
      totals_.counts_[i] += c;
      totals_.count_ += c;
    }
    const std::uint64_t under = take(counts_[base + n], 0);
    const std::uint64_t over = take(counts_[base + n + 1], 0);
    totals_.underflow_ += under;
    totals_.overflow_ += over;
    totals_.count_ += under + over;
    totals_.sum_ += take(hot_.sum[old_phase], 0);
    totals_.min_ = std::min(totals_.min_, take(extremes_[old_phase].min, no_min));
    totals_.max_ = std::max(totals_.max_, take(extremes_[old_phase].max, 0));
  }

  // Every record() writes start and end[p] and adds to sum[p]: one line holds
  // them all, so a record moves one contended line rather than three.
  struct alignas(cache_line_size) HotLine {
    std::atomic<std::uint64_t> start{0};
    std::atomic<std::uint64_t> end[2] = {0, 0};
    std::atomic<std::uint64_t> sum[2] = {0, 0};
  };
  // Read by every record() but written only by a new extreme: on their own
  // line they stay in every core's cache instead of being invalidated by
  // each record's write to the hot line.
  struct alignas(cache_line_size) Extremes {
    std::atomic<std::uint64_t> min{no_min};
    std::atomic<std::uint64_t> max{0};
  };

  HistogramLayout layout_;
  std::size_t stride_;          // words per phase, a whole number of cache lines
  detail::AtomicWords counts_;  // phase p's counts at [p * stride_, p * stride_ + bucket_count + 2)
  HotLine hot_;
  Extremes extremes_[2];
  std::mutex reader_mutex_;
  HistogramSnapshot totals_;  // folded counts since the last reset; guarded by reader_mutex_
};

// ---------------------------------------------------------------------------
// StageTimer

// The total, count and maximum duration of one named stage of a pipeline
// ("mix", "encode", "inference"). record() is three independent atomics, not
// a transaction: a snapshot taken while a record() is in flight may include
// its count but not yet its duration. Each field on its own is exact: the sum
// of every snapshot_and_reset() result plus a final snapshot() equals, field
// by field, everything recorded.
//
// alignas: the three fields a record() writes share one line that nothing
// else writes, so a record moves exactly one line and no neighbour's writes
// invalidate it.
class alignas(cache_line_size) StageTimer {
 public:
  struct Snapshot {
    std::uint64_t count = 0;
    std::uint64_t total_ns = 0;
    std::uint64_t max_ns = 0;
    // total_ns / count, or 0 when count is 0.
    double mean_ns() const noexcept {
      return count == 0 ? 0.0 : static_cast<double>(total_ns) / static_cast<double>(count);
    }
  };

  // Thread: control. Blocking; allocates a copy of the name.
  explicit StageTimer(std::string_view name = {}) : name_(name) {}
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

  std::string_view name() const noexcept { return name_; }

  // Adds one duration. Thread: any. Wait-free (see (3) at the top); no allocation.
  void record(std::uint64_t ns) noexcept NOWAIT_NONBLOCKING {
    count_.fetch_add(1, std::memory_order_relaxed);             // relaxed: each field is a counter on its own
    total_.fetch_add(ns, std::memory_order_relaxed);            // relaxed: as above
    std::uint64_t high = max_.load(std::memory_order_relaxed);  // relaxed: as above
    while (ns > high && !max_.compare_exchange_strong(high, ns,
                                                      std::memory_order_relaxed,     // relaxed: as above
                                                      std::memory_order_relaxed)) {  // relaxed: as above
    }
  }

  // The current fields, each read once. Thread: any. Wait-free; no allocation.
  Snapshot snapshot() const noexcept NOWAIT_NONBLOCKING {
    return {count_.load(std::memory_order_relaxed),  // relaxed: each field is a counter on its own
            total_.load(std::memory_order_relaxed),  // relaxed: as above
            max_.load(std::memory_order_relaxed)};   // relaxed: as above
  }

  // Returns the fields and zeroes them, each with one exchange (never a load
  // followed by a store), so a racing record() lands in this result or a
  // later one, field by field, and is never lost. Thread: any. Wait-free; no
  // allocation.
  Snapshot snapshot_and_reset() noexcept NOWAIT_NONBLOCKING {
    return {count_.exchange(0, std::memory_order_relaxed),  // relaxed: each field is a counter on its own
            total_.exchange(0, std::memory_order_relaxed),  // relaxed: as above
            max_.exchange(0, std::memory_order_relaxed)};   // relaxed: as above
  }

 private:
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> max_{0};
  std::string name_;
};

// ---------------------------------------------------------------------------
// ScopedTimer

// What a ScopedTimer can record into: StageTimer and Histogram.
template <class Sink>
concept DurationSink = requires(Sink& sink, std::uint64_t ns) {
  { sink.record(ns) }
  noexcept;
};

// Reads monotonic_ns() when constructed and again when destroyed, and records
// the difference into a StageTimer or a Histogram:
//
//   { nowait::ScopedTimer t(mix_timer);  mix(block); }
//
// Usable inside NOWAIT_NONBLOCKING functions: both clock reads are vDSO calls
// (see rt.hpp) and the record is the sink's wait-free record(). Thread: the
// one that created it. Neither copyable nor movable.
template <DurationSink Sink>
class ScopedTimer {
 public:
  explicit ScopedTimer(Sink& sink) noexcept NOWAIT_NONBLOCKING : sink_(sink), start_ns_(monotonic_ns()) {}
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;
  ~ScopedTimer() NOWAIT_NONBLOCKING { sink_.record(elapsed_ns()); }

  // Nanoseconds since construction. Thread: the owner. Wait-free; no allocation.
  std::uint64_t elapsed_ns() const noexcept NOWAIT_NONBLOCKING {
    // CLOCK_MONOTONIC never goes back; the guard keeps a difference of 0 for
    // a clock that did from wrapping to 2^64.
    const std::int64_t now = monotonic_ns();
    return now > start_ns_ ? static_cast<std::uint64_t>(now - start_ns_) : 0;
  }

 private:
  Sink& sink_;
  std::int64_t start_ns_;
};

template <class Sink>
ScopedTimer(Sink&) -> ScopedTimer<Sink>;

}  // namespace nowait
