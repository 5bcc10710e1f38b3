// Scenario 6: telemetry. Each record updates 21 counters; a batch is 10,000
// records; one or two writer threads (cores A and B) each run their own
// batches. Five designs, each behind the same adapter:
//   - a std::shared_mutex write lock per update (the RwLock design);
//   - a std::mutex per update;
//   - one shared set of relaxed atomics, updated by every writer;
//   - nowait::Counter, one set of 21 per writer thread, summed by the reader;
//   - nowait::ShardedCounter, 21 of them, one shard per writer thread.
// Every run has two phases: writers alone, then writers while a reader thread
// (core B) takes a snapshot of all 21 totals every 100 us.
#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "nowait/metrics.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;
using ull = unsigned long long;

constexpr std::size_t kCounters = 21;
using Totals = std::array<u64, kCounters>;

// Adapter interface: D(writers); D::Handle h = d.handle(w) (setup, in writer
// order); h.add(i, n) on writer w's thread; Totals d.read() on any thread.

class SharedMutexDesign {
 public:
  static constexpr const char* name = "std::shared_mutex write lock per update";
  explicit SharedMutexDesign(int) {}
  struct Handle {
    SharedMutexDesign* d;
    void add(std::size_t i, u64 n) {
      std::unique_lock lock(d->mutex_);
      d->totals_[i] += n;
    }
  };
  Handle handle(int) { return {this}; }
  Totals read() {
    std::shared_lock lock(mutex_);
    return totals_;
  }

 private:
  std::shared_mutex mutex_;
  Totals totals_{};
};

class MutexDesign {
 public:
  static constexpr const char* name = "std::mutex per update";
  explicit MutexDesign(int) {}
  struct Handle {
    MutexDesign* d;
    void add(std::size_t i, u64 n) {
      std::lock_guard lock(d->mutex_);
      d->totals_[i] += n;
    }
  };
  Handle handle(int) { return {this}; }
  Totals read() {
    std::lock_guard lock(mutex_);
    return totals_;
  }

 private:
  std::mutex mutex_;
  Totals totals_{};
};

class SharedAtomicsDesign {
 public:
  static constexpr const char* name = "shared relaxed atomics";
  explicit SharedAtomicsDesign(int) {}
  struct Handle {
    SharedAtomicsDesign* d;
    void add(std::size_t i, u64 n) { d->totals_[i].fetch_add(n, std::memory_order_relaxed); }
  };
  Handle handle(int) { return {this}; }
  Totals read() const {
    Totals t{};
    for (std::size_t i = 0; i < kCounters; ++i) t[i] = totals_[i].load(std::memory_order_relaxed);
    return t;
  }

 private:
  alignas(nowait::cache_line_size) std::array<std::atomic<u64>, kCounters> totals_{};
};

class NowaitCountersDesign {
 public:
  static constexpr const char* name = "nowait Counter, a set per writer";
  explicit NowaitCountersDesign(int writers)
      : sets_(std::make_unique<Set[]>(static_cast<std::size_t>(writers))), writers_(writers) {}
  struct Handle {
    nowait::Counter* counters;
    void add(std::size_t i, u64 n) noexcept { counters[i].add(n); }
  };
  Handle handle(int w) { return {sets_[static_cast<std::size_t>(w)].counters.data()}; }
  Totals read() const {
    Totals t{};
    for (int w = 0; w < writers_; ++w)
      for (std::size_t i = 0; i < kCounters; ++i)
        t[i] += sets_[static_cast<std::size_t>(w)].counters[i].value();
    return t;
  }

 private:
  // One writer's counters, compact (three lines) and on lines of their own
  // (aligned to two, against the adjacent-line prefetcher).
  struct alignas(2 * nowait::cache_line_size) Set {
    std::array<nowait::Counter, kCounters> counters{};
  };
  std::unique_ptr<Set[]> sets_;
  int writers_;
};

class NowaitShardedDesign {
 public:
  static constexpr const char* name = "nowait ShardedCounter";
  explicit NowaitShardedDesign(int) {
    for (auto& c : counters_) c = std::make_unique<nowait::ShardedCounter>();
  }
  struct Handle {
    std::array<nowait::ShardedCounter::Shard, kCounters> shards;
    void add(std::size_t i, u64 n) noexcept { shards[i].add(n); }
  };
  // Writers take their shards in order, so with as many shards as cores
  // (the default) each writer gets slots of its own.
  Handle handle(int) {
    Handle h;
    for (std::size_t i = 0; i < kCounters; ++i) h.shards[i] = counters_[i]->shard();
    return h;
  }
  Totals read() const {
    Totals t{};
    for (std::size_t i = 0; i < kCounters; ++i) t[i] = counters_[i]->value();
    return t;
  }

 private:
  std::array<std::unique_ptr<nowait::ShardedCounter>, kCounters> counters_;
};

// One batch: `records` records of 21 updates, counter i growing by i + 1.
template <class H>
[[gnu::noinline]] void write_batch(H& h, u64 records) {
  for (u64 r = 0; r < records; ++r)
    for (std::size_t i = 0; i < kCounters; ++i) h.add(i, i + 1);
}

// The writers run `batches` batches each, timed one by one; with `reader`, a
// thread on core B snapshots the totals every 100 us, checking that no total
// ever goes backwards. Returns every batch's time; checks the totals after.
template <class D>
std::vector<std::int64_t> telemetry_phase(D& d, std::vector<typename D::Handle>& handles, u64 records,
                                          int batches, bool reader, u64& snapshots, Totals& expected) {
  const int writers = static_cast<int>(handles.size());
  StartGate gate(writers - 1 + (reader ? 1 : 0));
  std::vector<std::vector<std::int64_t>> times(static_cast<std::size_t>(writers));
  std::atomic<bool> done{false};
  auto writer_body = [&](int w) {
    auto& mine = times[static_cast<std::size_t>(w)];
    mine.reserve(static_cast<std::size_t>(batches));
    for (int b = 0; b < batches; ++b) {
      const std::int64_t t0 = now_ns();
      write_batch(handles[static_cast<std::size_t>(w)], records);
      mine.push_back(now_ns() - t0);
    }
  };
  std::vector<std::thread> threads;
  for (int w = 1; w < writers; ++w)
    threads.push_back(pinned_thread(machine().cpu_b, [&, w] {
      gate.arrive_and_wait();
      writer_body(w);
    }));
  std::thread snapshotter;
  if (reader) {
    snapshotter = pinned_thread(machine().cpu_b, [&] {
      gate.arrive_and_wait();
      Totals last{};
      u64 n = 0;
      std::int64_t next = now_ns();
      while (!done.load(std::memory_order_relaxed)) {
        next += 100'000;
        const std::int64_t wait = next - now_ns();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
        const Totals t = d.read();
        for (std::size_t i = 0; i < kCounters; ++i)
          if (t[i] < last[i])
            verification_failed("%s: counter %zu went back from %llu to %llu", D::name, i,
                                static_cast<ull>(last[i]), static_cast<ull>(t[i]));
        last = t;
        ++n;
      }
      snapshots = n;
    });
  }
  gate.open();
  writer_body(0);
  for (auto& t : threads) t.join();
  done.store(true, std::memory_order_relaxed);
  if (snapshotter.joinable()) snapshotter.join();

  for (std::size_t i = 0; i < kCounters; ++i)
    expected[i] += (i + 1) * records * static_cast<u64>(batches) * static_cast<u64>(writers);
  const Totals got = d.read();
  for (std::size_t i = 0; i < kCounters; ++i)
    if (got[i] != expected[i])
      verification_failed("%s: counter %zu totals %llu, expected %llu", D::name, i, static_cast<ull>(got[i]),
                          static_cast<ull>(expected[i]));
  std::vector<std::int64_t> all;
  for (auto& v : times) all.insert(all.end(), v.begin(), v.end());
  return all;
}

template <class D>
Sample telemetry_run(int writers, u64 records, int batches) {
  D d(writers);
  std::vector<typename D::Handle> handles;
  for (int w = 0; w < writers; ++w) handles.push_back(d.handle(w));
  Totals expected{};
  u64 snapshots = 0, unused = 0;
  auto alone = telemetry_phase(d, handles, records, batches, false, unused, expected);
  auto watched = telemetry_phase(d, handles, records, batches, true, snapshots, expected);
  const double a = quantile_ns(alone, 0.5);
  const double w = quantile_ns(watched, 0.5);
  return {a,
          {{"with_reader_ns", w}, {"reader_slowdown", w / a}, {"snapshots", static_cast<double>(snapshots)}}};
}

template <class D>
Peer telemetry_peer(int writers, u64 records, int batches) {
  const std::string group = writers == 1 ? "1 writer" : std::to_string(writers) + " writers";
  return {std::string(D::name) + ", " + group, group,
          [=] { return telemetry_run<D>(writers, records, batches); }};
}

}  // namespace

void scenario_telemetry() {
  const Config& cfg = config();
  const u64 records = cfg.smoke ? 200 : 10'000;
  const int batches = cfg.smoke ? 2 : static_cast<int>(cfg.count(20, 2));
  std::vector<Peer> peers;
  for (const int writers : {1, 2}) {
    peers.push_back(telemetry_peer<NowaitCountersDesign>(writers, records, batches));
    peers.push_back(telemetry_peer<NowaitShardedDesign>(writers, records, batches));
    peers.push_back(telemetry_peer<SharedAtomicsDesign>(writers, records, batches));
    peers.push_back(telemetry_peer<MutexDesign>(writers, records, batches));
    peers.push_back(telemetry_peer<SharedMutexDesign>(writers, records, batches));
  }
  CaseSpec spec{
      "telemetry",
      "counters",
      "6. Telemetry: 21 counter updates per record",
      "ns/batch per writer",
      Better::lower,
      Normalize::none,
      std::to_string(records) + " records per batch, " + std::to_string(batches) +
          " batches per writer and phase; writers on cores A and B; value = median batch alone; "
          "with_reader_ns = median batch while a reader on core B snapshots all 21 totals every 100 us"};
  results().push_back(run_case(spec, peers));
}

}  // namespace nwbench
