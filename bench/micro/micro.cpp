// nowait-bench-micro: single-thread micro-costs (Google Benchmark), through
// the same adapters as the cross-thread driver. Every benchmark checks what it
// popped or read and aborts on a mismatch.
//
//   nowait-bench-micro [Google Benchmark flags]
//   nowait-bench-micro --smoke     every benchmark for ~1 ms: verification only
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "driver/adapters.hpp"
#include "driver/harness.hpp"
#include "nowait/broadcast_ring.hpp"
#include "nowait/metrics.hpp"
#include "nowait/rate_tracker.hpp"
#include "nowait/rt.hpp"
#include "nowait/snapshot.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;

// ----------------------------------------------------- uncontended queues ---

// One push and one pop per iteration on an otherwise empty queue: the cost of
// a hand-off when no other core touches the lines.
template <class Q>
void BM_PushPop(benchmark::State& state) {
  Q q(4096);
  u64 next = 1;
  for (auto _ : state) {
    if (!q.try_push(next)) verification_failed("%s: push into an empty queue failed", Q::name);
    u64 v = 0;
    if (!q.try_pop(v) || v != next) verification_failed("%s: pop returned the wrong item", Q::name);
    benchmark::DoNotOptimize(v);
    ++next;
  }
  state.SetItemsProcessed(state.iterations());
}

// A batch of 64 pushes then 64 pops: the per-item cost once the cached
// indices make most operations touch only the producer's or consumer's lines.
template <class Q>
void BM_PushPopBatch64(benchmark::State& state) {
  Q q(4096);
  u64 next = 1;
  for (auto _ : state) {
    for (u64 i = 0; i < 64; ++i)
      if (!q.try_push(next + i)) verification_failed("%s: push failed", Q::name);
    for (u64 i = 0; i < 64; ++i) {
      u64 v = 0;
      if (!q.try_pop(v) || v != next + i) verification_failed("%s: pop returned the wrong item", Q::name);
      benchmark::DoNotOptimize(v);
    }
    next += 64;
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

// A 256-frame stereo block in and out through the bulk path.
template <class Q>
void BM_BulkBlock256(benchmark::State& state) {
  constexpr std::size_t n = 512;
  Q q(8192);
  std::array<float, n> src{}, dst{};
  for (std::size_t j = 0; j < n; ++j) src[j] = static_cast<float>(j);
  float stamp = 0;
  for (auto _ : state) {
    src[0] = stamp;
    if (q.push_some(src.data(), n) != n) verification_failed("%s: bulk push fell short", Q::name);
    if (q.pop_some(dst.data(), n) != n || dst[0] != stamp || dst[n - 1] != src[n - 1])
      verification_failed("%s: bulk pop returned the wrong block", Q::name);
    benchmark::DoNotOptimize(dst.data());
    stamp = stamp < 1e6f ? stamp + 1 : 0;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n * sizeof(float)));
}

// BroadcastRing: a 256-frame stereo block written with no reader, and written
// then read back by one reader on the same thread.
void BM_BroadcastWrite256(benchmark::State& state) {
  auto [writer, hub] = nowait::BroadcastRing<float>::create(64, 512);
  std::array<float, 512> block{};
  for (auto _ : state) {
    block[0] += 1;
    writer.write(block);
    benchmark::ClobberMemory();
  }
  if (hub.approx_written() != static_cast<u64>(state.iterations()))
    verification_failed("BroadcastRing: written count is off");
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sizeof(block)));
}

void BM_BroadcastWriteRead256(benchmark::State& state) {
  auto [writer, hub] = nowait::BroadcastRing<float>::create(64, 512);
  auto reader = hub.subscribe();
  std::array<float, 512> block{}, out{};
  for (auto _ : state) {
    block[0] += 1;
    writer.write(block);
    const nowait::ReadResult r = reader.read(std::span<float>(out));
    if (r.status != nowait::ReadStatus::item || out[0] != block[0])
      verification_failed("BroadcastRing: the reader did not get the block just written");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * sizeof(block)));
}

// ------------------------------------------------------ telemetry updates ---

// The cost of one counter update in the designs scenario 6 compares, with no
// other thread: what a writer pays per update before any contention.
struct alignas(nowait::cache_line_size) Counter {
  std::atomic<u64> value{0};
};

void BM_CounterRelaxedAtomic(benchmark::State& state) {
  Counter c;
  for (auto _ : state) c.value.fetch_add(1, std::memory_order_relaxed);
  if (c.value.load() != static_cast<u64>(state.iterations()))
    verification_failed("relaxed counter lost updates");
}

void BM_CounterMutex(benchmark::State& state) {
  std::mutex m;
  u64 c = 0;
  for (auto _ : state) {
    std::lock_guard lock(m);
    ++c;
    benchmark::DoNotOptimize(c);
  }
  if (c != static_cast<u64>(state.iterations())) verification_failed("mutex counter lost updates");
}

void BM_CounterSharedMutexWrite(benchmark::State& state) {
  std::shared_mutex m;
  u64 c = 0;
  for (auto _ : state) {
    std::unique_lock lock(m);
    ++c;
    benchmark::DoNotOptimize(c);
  }
  if (c != static_cast<u64>(state.iterations())) verification_failed("shared_mutex counter lost updates");
}

void BM_CounterNowait(benchmark::State& state) {
  nowait::Counter c;
  for (auto _ : state) c.add();
  if (c.value() != static_cast<u64>(state.iterations())) verification_failed("nowait Counter lost updates");
}

void BM_CounterNowaitSharded(benchmark::State& state) {
  nowait::ShardedCounter c;
  const auto shard = c.shard();
  for (auto _ : state) shard.add();
  if (c.value() != static_cast<u64>(state.iterations()))
    verification_failed("nowait ShardedCounter lost updates");
}

void BM_HistogramRecord(benchmark::State& state) {
  nowait::Histogram h(1'000, 1'000'000'000);
  u64 v = 1'000;
  for (auto _ : state) {
    h.record(v);
    v = v < 500'000'000 ? v * 3 / 2 : 1'000;
  }
  if (h.snapshot().count() != static_cast<u64>(state.iterations()))
    verification_failed("nowait Histogram lost records");
}

struct Stats64 {
  u64 seq;
  std::array<u64, 7> v;
};

void BM_SeqlockStore(benchmark::State& state) {
  nowait::SeqlockCell<Stats64> cell;
  Stats64 s{};
  for (auto _ : state) {
    ++s.seq;
    cell.store(s);
  }
  if (cell.load().seq != s.seq) verification_failed("SeqlockCell lost the last store");
}

void BM_SeqlockLoad(benchmark::State& state) {
  nowait::SeqlockCell<Stats64> cell(Stats64{42, {}});
  for (auto _ : state) {
    const Stats64 s = cell.load();
    if (s.seq != 42) verification_failed("SeqlockCell load returned the wrong value");
    benchmark::DoNotOptimize(s);
  }
}

void BM_SharedSnapshotRead(benchmark::State& state) {
  nowait::SharedSnapshot<std::array<u64, 128>> snapshot(std::array<u64, 128>{7}, 1);
  {
    auto reader = snapshot.make_reader();
    for (auto _ : state) {
      const auto guard = reader.read();
      if ((*guard)[0] != 7) verification_failed("SharedSnapshot read returned the wrong value");
      benchmark::DoNotOptimize(guard.get());
    }
  }
}

void BM_RateTrackerUpdate(benchmark::State& state) {
  nowait::RateTracker<4> rates;
  std::array<u64, 4> counts{};
  for (auto _ : state) {
    for (auto& c : counts) c += 256;
    const auto r = rates.update(counts);
    if (r.instant[0] < 0) verification_failed("RateTracker returned a negative rate");
    benchmark::DoNotOptimize(r);
  }
}

void BM_MonotonicNs(benchmark::State& state) {
  std::int64_t last = 0;
  for (auto _ : state) {
    const std::int64_t t = nowait::monotonic_ns();
    if (t < last) verification_failed("monotonic_ns went backwards");
    last = t;
  }
}

// Registered by hand rather than with BENCHMARK(): the macro's __COUNTER__
// is an extension that clang 22 flags under -Wpedantic.
template <class Q>
void register_queue() {
  const std::string peer = Q::name;
  benchmark::RegisterBenchmark(("PushPop/" + peer).c_str(), BM_PushPop<Q>);
  benchmark::RegisterBenchmark(("PushPopBatch64/" + peer).c_str(), BM_PushPopBatch64<Q>);
}

template <class Q>
void register_bulk() {
  benchmark::RegisterBenchmark(("BulkBlock256/" + std::string(Q::name)).c_str(), BM_BulkBlock256<Q>);
}

void register_all() {
  register_queue<NowaitSpsc<u64>>();
  register_queue<BoostSpsc<u64>>();
#if NWB_HAVE_MOODYCAMEL
  register_queue<MoodycamelRwq>();
#endif
  register_queue<AtomicQueueB2Spsc>();
  register_queue<AtomicQueueSpsc<4096>>();
  register_queue<MutexDeque<u64>>();
  register_bulk<NowaitChunk>();
  register_bulk<BoostSpsc<float>>();
  register_bulk<MutexDeque<float>>();
  benchmark::RegisterBenchmark("BroadcastWrite256/nowait BroadcastRing", BM_BroadcastWrite256);
  benchmark::RegisterBenchmark("BroadcastWriteRead256/nowait BroadcastRing", BM_BroadcastWriteRead256);
  benchmark::RegisterBenchmark("CounterUpdate/nowait Counter", BM_CounterNowait);
  benchmark::RegisterBenchmark("CounterUpdate/nowait ShardedCounter shard", BM_CounterNowaitSharded);
  benchmark::RegisterBenchmark("CounterUpdate/relaxed atomic", BM_CounterRelaxedAtomic);
  benchmark::RegisterBenchmark("CounterUpdate/std::mutex", BM_CounterMutex);
  benchmark::RegisterBenchmark("CounterUpdate/std::shared_mutex write lock", BM_CounterSharedMutexWrite);
  benchmark::RegisterBenchmark("HistogramRecord/nowait Histogram", BM_HistogramRecord);
  benchmark::RegisterBenchmark("SeqlockStore/nowait SeqlockCell 64 B", BM_SeqlockStore);
  benchmark::RegisterBenchmark("SeqlockLoad/nowait SeqlockCell 64 B", BM_SeqlockLoad);
  benchmark::RegisterBenchmark("SharedSnapshotRead/nowait SharedSnapshot", BM_SharedSnapshotRead);
  benchmark::RegisterBenchmark("RateTrackerUpdate/nowait RateTracker<4>", BM_RateTrackerUpdate);
  benchmark::RegisterBenchmark("MonotonicNs/nowait::monotonic_ns", BM_MonotonicNs);
}

}  // namespace
}  // namespace nwbench

int main(int argc, char** argv) {
  // --smoke: every benchmark runs for about a millisecond, for its checks only.
  std::vector<char*> args(argv, argv + argc);
  std::string min_time = "--benchmark_min_time=0.001";
  bool smoke = false;
  for (auto it = args.begin() + 1; it != args.end();) {
    if (std::strcmp(*it, "--smoke") == 0) {
      smoke = true;
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  if (smoke) args.push_back(min_time.data());
  int count = static_cast<int>(args.size());
  nwbench::register_all();
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
