// Scenarios 1, 2 and 5: single-item SPSC throughput, round-trip latency, and
// the "mutex vs lock-free" push table. One driver per scenario; every peer
// goes through it via its adapter (adapters.hpp).
#include <string>
#include <thread>
#include <vector>

#include "adapters.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;
using ull = unsigned long long;

// Sum of 1..n, the checksum of every single-item scenario.
constexpr u64 triangle(u64 n) { return n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2); }

// ---------------------------------------------------------- 1. throughput ---

// The producer (core A) pushes 1..n, retrying while full; the consumer (core
// B) pops until it has n, checking that each item is the next in sequence and
// summing them. Time: from the start gate to the consumer's last pop.
template <class Q>
Sample throughput_run(std::size_t capacity, u64 n) {
  Q q(capacity);
  StartGate gate(1);
  std::int64_t t_end = 0;
  u64 sum = 0;
  std::thread consumer = pinned_thread(machine().cpu_b, [&] {
    gate.arrive_and_wait();
    u64 expected = 1, s = 0;
    while (expected <= n) {
      u64 v = 0;
      if (q.try_pop(v)) {
        if (v != expected)
          verification_failed("%s: popped %llu where %llu was next", Q::name, static_cast<ull>(v),
                              static_cast<ull>(expected));
        s += v;
        ++expected;
      } else {
        cpu_relax();
      }
    }
    t_end = now_ns();
    sum = s;
  });
  gate.open();
  const std::int64_t t0 = now_ns();
  for (u64 i = 1; i <= n; ++i)
    while (!q.try_push(i)) cpu_relax();
  consumer.join();
  if (sum != triangle(n))
    verification_failed("%s: items summed to %llu, expected %llu", Q::name, static_cast<ull>(sum),
                        static_cast<ull>(triangle(n)));
  const double seconds = static_cast<double>(t_end - t0) * 1e-9;
  return {static_cast<double>(n) / seconds / 1e6, {{"seconds", seconds}}};
}

template <class Q>
Peer throughput_peer(std::size_t capacity, u64 n) {
  return {Q::name, "spsc", [capacity, n] { return throughput_run<Q>(capacity, n); }};
}

template <unsigned Capacity>
void throughput_case(u64 n) {
  // The mutex peer moves a tenth as many items: at a few million items per
  // second the full count would take most of the time budget, and a rate
  // over a tenth of the items is as steady.
  const u64 n_mutex = std::max<u64>(1, n / 10);
  CaseSpec spec{
      "spsc_throughput",
      "cap" + std::to_string(Capacity),
      "1. SPSC throughput, capacity " + std::to_string(Capacity),
      "M items/s",
      Better::higher,
      Normalize::rate_per_round_trip,
      std::to_string(n) + " uint64_t items per run (std::mutex + std::deque: " + std::to_string(n_mutex) +
          "), single-item push/pop, producer and consumer pinned to two cores; 'per probe RT' = items "
          "moved per cache-line round trip"};
  results().push_back(run_case(spec, {
    throughput_peer<NowaitSpsc<u64>>(Capacity, n), throughput_peer<BoostSpsc<u64>>(Capacity, n),
#if NWB_HAVE_MOODYCAMEL
        throughput_peer<MoodycamelRwq>(Capacity, n),
#endif
        throughput_peer<AtomicQueueB2Spsc>(Capacity, n),
        throughput_peer<AtomicQueueSpsc<Capacity>>(Capacity, n),
        throughput_peer<MutexDeque<u64>>(Capacity, n_mutex),
  }));
}

// ---------------------------------------------------------- 2. round trip ---

// Ping-pong through two queues: core A pushes i into `there`, core B pops it
// and pushes it into `back`, core A pops it. Each round trip is timed alone,
// exactly as the cache-line probe times its own.
template <class Q>
Sample round_trip_run(u64 n) {
  Q there(4096), back(4096);
  std::vector<std::int64_t> samples(static_cast<std::size_t>(n));
  StartGate gate(1);
  std::thread ponger = pinned_thread(machine().cpu_b, [&] {
    gate.arrive_and_wait();
    for (u64 i = 1; i <= n; ++i) {
      u64 v = 0;
      while (!there.try_pop(v)) cpu_relax();
      if (v != i)
        verification_failed("%s round trip: ponger got %llu where %llu was next", Q::name,
                            static_cast<ull>(v), static_cast<ull>(i));
      while (!back.try_push(v)) cpu_relax();
    }
  });
  gate.open();
  u64 sum = 0;
  for (u64 i = 1; i <= n; ++i) {
    const std::int64_t t0 = now_ns();
    while (!there.try_push(i)) cpu_relax();
    u64 v = 0;
    while (!back.try_pop(v)) cpu_relax();
    samples[i - 1] = now_ns() - t0;
    if (v != i)
      verification_failed("%s round trip: pinger got %llu back for %llu", Q::name, static_cast<ull>(v),
                          static_cast<ull>(i));
    sum += v;
  }
  ponger.join();
  if (sum != triangle(n)) verification_failed("%s round trip: checksum mismatch", Q::name);
  const double med = quantile_ns(samples, 0.5);
  const double p99 = quantile_ns(samples, 0.99);
  const double p999 = quantile_ns(samples, 0.999);
  return {med, {{"p99_ns", p99}, {"p99.9_ns", p999}}};
}

template <class Q>
Peer round_trip_peer(u64 n) {
  return {Q::name, "spsc", [n] { return round_trip_run<Q>(n); }};
}

// ------------------------------------------------- 5. mutex vs lock-free ---

// The push a real-time thread would make: nowait's try_push, or a try_lock
// around the deque (give up rather than wait for the lock).
template <class Q>
bool rt_push(Q& q, u64 v) {
  if constexpr (requires { q.try_lock_push(v); })
    return q.try_lock_push(v);
  else
    return q.try_push(v);
}

// Uncontended: one thread pushes a batch of 256 then pops it, n items in all;
// only the pushes are timed. Every push must succeed and every pop return the
// next item in sequence.
template <class Q>
Sample uncontended_run(u64 n) {
  Q q(4096);
  constexpr u64 batch = 256;
  std::int64_t push_ns = 0, pop_ns = 0;
  u64 next_push = 1, next_pop = 1, sum = 0;
  while (next_push <= n) {
    const u64 end = std::min(n + 1, next_push + batch);
    const std::int64_t t0 = now_ns();
    for (; next_push < end; ++next_push)
      if (!rt_push(q, next_push)) verification_failed("%s: an uncontended push failed", Q::name);
    const std::int64_t t1 = now_ns();
    for (u64 v = 0; next_pop < end; ++next_pop) {
      if (!q.try_pop(v) || v != next_pop) verification_failed("%s: an uncontended pop failed", Q::name);
      sum += v;
    }
    const std::int64_t t2 = now_ns();
    push_ns += t1 - t0;
    pop_ns += t2 - t1;
  }
  if (sum != triangle(n)) verification_failed("%s: uncontended checksum mismatch", Q::name);
  return {static_cast<double>(push_ns) / static_cast<double>(n),
          {{"pop_ns", static_cast<double>(pop_ns) / static_cast<double>(n)}}};
}

// Contended: core B hammers the structure with pops in a tight loop (the
// mutex peer takes its lock for every attempt) while core A makes n push
// attempts, 16 back to back per batch with a 30 us pause between batches,
// enough for the consumer to empty the ring even when every item costs it
// two slow cache-line round trips (a consumer polling a near-empty ring), so that failures come from
// contention rather than a full ring. A push that fails is dropped, as a real-time thread would drop it. The
// consumer checks that what arrives is strictly increasing and that it sums to what the producer managed to
// push. Reports the mean time per push attempt, the 99th percentile of a batch's time per attempt, and the
// failed attempts.
template <class Q>
Sample contended_run(u64 n) {
  constexpr u64 batch = 16;
  constexpr std::int64_t gap_ns = 30'000;
  Q q(4096);
  StartGate gate(1);
  std::atomic<bool> done{false};
  u64 received_sum = 0, received = 0;
  std::thread consumer = pinned_thread(machine().cpu_b, [&] {
    gate.arrive_and_wait();
    u64 last = 0, s = 0, count = 0;
    for (;;) {
      // Acquire: after `done` is seen every successful push is visible.
      const bool producer_done = done.load(std::memory_order_acquire);
      u64 v = 0;
      if (q.try_pop(v)) {
        if (v <= last)
          verification_failed("%s contended: popped %llu after %llu", Q::name, static_cast<ull>(v),
                              static_cast<ull>(last));
        last = v;
        s += v;
        ++count;
      } else if (producer_done) {
        break;
      } else if (machine().one_core) {
        cpu_relax();  // no pause on two cores: this thread is meant to hammer
      }
    }
    received_sum = s;
    received = count;
  });
  std::vector<std::int64_t> per_batch;
  per_batch.reserve(static_cast<std::size_t>(n / batch + 1));
  gate.open();
  u64 next = 1, pushed = 0, pushed_sum = 0;
  std::int64_t timed = 0;
  while (next <= n) {
    const u64 end = std::min(n + 1, next + batch);
    const u64 attempts = end - next;
    const std::int64_t t0 = now_ns();
    for (; next < end; ++next) {
      if (rt_push(q, next)) {
        ++pushed;
        pushed_sum += next;
      }
    }
    const std::int64_t t1 = now_ns();
    timed += t1 - t0;
    per_batch.push_back((t1 - t0) / static_cast<std::int64_t>(attempts));
    while (now_ns() - t1 < gap_ns) cpu_relax();
  }
  // Release: pairs with the consumer's acquire of `done`.
  done.store(true, std::memory_order_release);
  consumer.join();
  if (received != pushed || received_sum != pushed_sum)
    verification_failed("%s contended: %llu items pushed, %llu received (sums %llu / %llu)", Q::name,
                        static_cast<ull>(pushed), static_cast<ull>(received), static_cast<ull>(pushed_sum),
                        static_cast<ull>(received_sum));
  return {static_cast<double>(timed) / static_cast<double>(n),
          {{"p99_batch_ns", quantile_ns(per_batch, 0.99)},
           {"failed_%", 100.0 * static_cast<double>(n - pushed) / static_cast<double>(n)}}};
}

}  // namespace

void scenario_spsc_throughput() {
  if (!NWB_HAVE_MOODYCAMEL)
    std::printf("\n  (ThreadSanitizer build: moodycamel::ReaderWriterQueue is left out, see adapters.hpp)\n");
  const u64 n = config().count(counts().spsc_items, 20'000);
  throughput_case<4096>(n);
  throughput_case<65536>(n);
}

void scenario_round_trip() {
  const u64 n = config().count(counts().round_trips, 2'000);
  const u64 n_mutex = std::max<u64>(1, n / 10);  // microseconds per round trip: a tenth is plenty
  CaseSpec spec{
      "spsc_round_trip",
      "rt",
      "2. SPSC round-trip latency (median)",
      "ns",
      Better::lower,
      Normalize::time_over_probe,
      std::to_string(n) + " round trips (std::mutex + std::deque: " + std::to_string(n_mutex) +
          ") through two queues of capacity 4096; each timed alone like the probe; 'x probe' = median / "
          "the cache-line probe before the run"};
  results().push_back(run_case(spec, {
    round_trip_peer<NowaitSpsc<u64>>(n), round_trip_peer<BoostSpsc<u64>>(n),
#if NWB_HAVE_MOODYCAMEL
        round_trip_peer<MoodycamelRwq>(n),
#endif
        round_trip_peer<AtomicQueueB2Spsc>(n), round_trip_peer<AtomicQueueSpsc<4096>>(n),
        round_trip_peer<MutexDeque<u64>>(n_mutex),
  }));
}

void scenario_mutex_vs_lockfree() {
  const u64 n = config().count(counts().contended_pushes, 5'000);
  const std::string mutex_name = "std::mutex try_lock + std::deque";
  CaseSpec un{"mutex_vs_lockfree",
              "uncontended",
              "5a. Push, uncontended (one thread)",
              "ns/push",
              Better::lower,
              Normalize::none,
              std::to_string(n) + " pushes in batches of 256, each batch then popped; capacity 4096"};
  results().push_back(
      run_case(un, {{NowaitSpsc<u64>::name, "push", [n] { return uncontended_run<NowaitSpsc<u64>>(n); }},
                    {mutex_name, "push", [n] { return uncontended_run<MutexDeque<u64>>(n); }}}));
  CaseSpec co{
      "mutex_vs_lockfree",
      "contended",
      "5b. Push, contended (a second thread hammering pops)",
      "ns/push attempt",
      Better::lower,
      Normalize::time_over_probe,
      std::to_string(n) +
          " push attempts from core A in batches of 16, 30 us apart, while core B pops in a tight loop; a "
          "failed push is dropped; capacity 4096"};
  results().push_back(
      run_case(co, {{NowaitSpsc<u64>::name, "push", [n] { return contended_run<NowaitSpsc<u64>>(n); }},
                    {mutex_name, "push", [n] { return contended_run<MutexDeque<u64>>(n); }}}));
}

}  // namespace nwbench
