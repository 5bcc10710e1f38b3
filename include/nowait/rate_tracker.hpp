// nowait/rate_tracker.hpp: instant and average rates from cumulative counters.
//
//   nowait::RateTracker<2> rates;                        // e.g. frames in, frames dropped
//   auto r = rates.update({frames_in.load(), dropped.load()});
//   r.instant[0];   // frames per second since the previous update() by any thread
//   r.average[0];   // frames per second since the first update()
//
// A status line, an HTTP handler and a metrics scraper may all call update()
// on the same tracker at the same time, with no mutex: the previous snapshot
// (timestamp and counts) lives in a SeqlockCell, and each call takes it over
// with SeqlockCell::try_update.
//
// Semantics, per counter:
//   instant = (counts - previous counts) / (now - previous time)
//   average = (counts - first counts) / (now - first time)
// where "previous" is the newest snapshot stored when the call ran and "first"
// is the snapshot of the first call. The first call (any call that finds no
// snapshot yet) returns all zeros and becomes the first snapshot.
//   - An interval of zero or less (two calls at the same clock reading, or a
//     call whose clock reading is older than the stored snapshot) gives 0 for
//     that rate and 0 seconds: never a division by zero, NaN or infinity.
//   - A counter that went backwards (it was reset) gives 0 for that interval;
//     the stored snapshot moves to the new, lower count, so the next interval
//     is measured from it. Its average is 0 while the count stays below the
//     first snapshot's (the average assumes counters only grow: after a reset,
//     make a new tracker for a meaningful average).
//
// Concurrency: a call stores its snapshot only if its timestamp is not older
// than the stored one, so the stored snapshot never moves back in time, even
// when a thread reads the clock and then loses the CPU. A call that finds the
// cell held by another call (try_update fails) does not wait: it computes its
// rates against the newest stored snapshot and stores nothing; its interval
// is then counted again by the next call that does store. Counts should be
// sampled just before update(), so that they belong with its timestamp.
//
// Contract:
//   call                thread  progress                                     allocates
//   RateTracker(clock)  any     blocking                                     the clock's copy
//   update(counts)      any     lock-free (plus the clock), O(N)             no
//   size()              any     wait-free                                    no
// update() is lock-free rather than wait-free because a call that loses the
// race reads the snapshot with SeqlockCell::load(), which retries only when
// two other calls store while it copies. It is not NOWAIT_NONBLOCKING because
// the clock is a std::function; counters are read on the control side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>

#include "nowait/rt.hpp"
#include "nowait/snapshot.hpp"

namespace nowait {

template <std::size_t N>
class RateTracker {
  static_assert(N > 0, "RateTracker<N> tracks at least one counter");

 public:
  using Counts = std::array<std::uint64_t, N>;
  // Returns a timestamp in nanoseconds from a clock that does not go backwards.
  using Clock = std::function<std::int64_t()>;

  struct Rates {
    std::array<double, N> instant{};  // per second, since the previous snapshot
    std::array<double, N> average{};  // per second, since the first snapshot
    double interval_seconds = 0.0;    // the interval `instant` covers; 0 if none
    double elapsed_seconds = 0.0;     // the interval `average` covers; 0 if none
  };

  // Makes a tracker with no snapshot yet, timed by `clock_ns` (nanoseconds).
  // The default is nowait::monotonic_ns; tests pass a fake clock.
  // Throws: std::invalid_argument if clock_ns is empty.
  // Thread: any. Progress: blocking. Allocates: whatever copying the clock does.
  explicit RateTracker(Clock clock_ns = Clock(&read_monotonic_ns)) : clock_(std::move(clock_ns)) {
    if (!clock_) throw std::invalid_argument("nowait::RateTracker: the clock is empty");
  }

  RateTracker(const RateTracker&) = delete;
  RateTracker& operator=(const RateTracker&) = delete;

  // Reads the clock and returns the rates of `counts` (cumulative totals)
  // since the previous call by any thread and since the first call, then
  // stores this call's snapshot if no other call holds the cell and it is not
  // older than the stored one. See the semantics at the top of this file.
  // Returns: all zeros on the first call.
  // Thread: any, concurrently with other calls. Progress: lock-free, O(N),
  // plus the clock. Allocates: no (unless the clock does).
  Rates update(const Counts& counts) {
    const std::int64_t now = clock_();
    Rates rates;
    bool computed = false;
    previous_.try_update([&](Snapshot& stored) noexcept {
      rates = rates_since(stored, now, counts);
      computed = true;
      if (!stored.started) {
        stored = Snapshot{now, now, counts, counts, true};
        return true;
      }
      // Never move the stored snapshot back in time.
      if (now < stored.last_ns) return false;
      stored.last_ns = now;
      stored.last_counts = counts;
      return true;
    });
    // Another call held the cell: measure against the newest stored snapshot.
    if (!computed) rates = rates_since(previous_.load(), now, counts);
    return rates;
  }

  // The number of counters. Thread: any. Wait-free.
  static constexpr std::size_t size() noexcept { return N; }

 private:
  struct Snapshot {
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    Counts first_counts{};
    Counts last_counts{};
    bool started = false;
  };

  static std::int64_t read_monotonic_ns() noexcept { return monotonic_ns(); }

  // Seconds from `then` to `now`, or 0 if `now` is not later. The difference
  // is taken in unsigned arithmetic, so no clock values can overflow it.
  static double seconds_between(std::int64_t then, std::int64_t now) noexcept {
    if (now <= then) return 0.0;
    const std::uint64_t ns = static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(then);
    return static_cast<double>(ns) / 1e9;
  }

  static double per_second(std::uint64_t then, std::uint64_t now, double seconds) noexcept {
    if (seconds <= 0.0 || now < then) return 0.0;
    return static_cast<double>(now - then) / seconds;
  }

  static Rates rates_since(const Snapshot& stored, std::int64_t now, const Counts& counts) noexcept {
    Rates rates;
    if (!stored.started) return rates;
    rates.interval_seconds = seconds_between(stored.last_ns, now);
    rates.elapsed_seconds = seconds_between(stored.first_ns, now);
    for (std::size_t i = 0; i < N; ++i) {
      rates.instant[i] = per_second(stored.last_counts[i], counts[i], rates.interval_seconds);
      rates.average[i] = per_second(stored.first_counts[i], counts[i], rates.elapsed_seconds);
    }
    return rates;
  }

  SeqlockCell<Snapshot> previous_;
  Clock clock_;
};

}  // namespace nowait
