// Scenario 8: histograms. The cost of record() with one recording thread and
// with two (cores A and B), and the cost of a snapshot taken on core B while
// core A records, with the recorder's slowdown. nowait::Histogram against
// the same log-linear buckets (nowait::HistogramLayout) behind a std::mutex.
#include <array>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nowait/metrics.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;
using ull = unsigned long long;

// 1 us .. 1 s in ns, 32 sub-buckets: the header's example layout.
const nowait::HistogramLayout& layout() {
  static const nowait::HistogramLayout l(1'000, 1'000'000'000, 32);
  return l;
}

// 4096 values spread log-uniformly over 2^0 .. 2^31 ns, so that underflow,
// overflow and every octave are hit; recorders walk the table.
struct Values {
  std::array<u64, 4096> v{};
  Values() {
    u64 x = 0x9E3779B97F4A7C15ull;
    for (auto& e : v) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const unsigned octave = static_cast<unsigned>((x >> 59) % 31);
      e = (u64{1} << octave) + ((x >> 20) & ((u64{1} << octave) - 1));
    }
  }
  u64 at(u64 i) const { return v[i & 4095]; }
  // Sum of the n values a recorder starting at `offset` records.
  u64 sum(u64 offset, u64 n) const {
    u64 s = 0;
    for (u64 i = 0; i < n; ++i) s += at(offset + i);
    return s;
  }
};

const Values& values() {
  static const Values v;
  return v;
}

// What one snapshot-and-reset held, for the checks.
struct Taken {
  u64 count = 0, sum = 0, in_buckets = 0;
};

class NowaitHistogramDesign {
 public:
  static constexpr const char* name = "nowait Histogram";
  void record(u64 v) noexcept { h_.record(v); }
  Taken take() {
    const auto s = h_.snapshot_and_reset();
    Taken t{s.count(), s.sum(), s.underflow() + s.overflow()};
    for (std::size_t i = 0; i < s.bucket_count(); ++i) t.in_buckets += s.bucket_value_count(i);
    return t;
  }

 private:
  nowait::Histogram h_{layout()};
};

class MutexHistogramDesign {
 public:
  static constexpr const char* name = "std::mutex + histogram";
  void record(u64 v) {
    const std::size_t slot = v < layout().lowest()    ? n_
                             : v > layout().highest() ? n_ + 1
                                                      : layout().bucket_index(v);
    std::lock_guard lock(mutex_);
    ++counts_[slot];
    ++count_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  // Copies and zeroes the counts under the lock, as a snapshot would.
  Taken take() {
    std::vector<u64> copy;
    Taken t;
    {
      std::lock_guard lock(mutex_);
      copy = counts_;
      t.count = count_;
      t.sum = sum_;
      std::fill(counts_.begin(), counts_.end(), 0);
      count_ = sum_ = 0;
      min_ = ~u64{0};
      max_ = 0;
    }
    for (const u64 c : copy) t.in_buckets += c;
    return t;
  }

 private:
  std::size_t n_ = layout().bucket_count();
  std::mutex mutex_;
  std::vector<u64> counts_ = std::vector<u64>(layout().bucket_count() + 2);
  u64 count_ = 0, sum_ = 0, min_ = ~u64{0}, max_ = 0;
};

void check_totals(const char* name, const Taken& t, u64 count, u64 sum) {
  if (t.count != count || t.sum != sum || t.in_buckets != count)
    verification_failed(
        "%s: snapshots hold %llu values (in buckets %llu) summing to %llu; recorded %llu summing to %llu",
        name, static_cast<ull>(t.count), static_cast<ull>(t.in_buckets), static_cast<ull>(t.sum),
        static_cast<ull>(count), static_cast<ull>(sum));
}

// `recorders` threads (cores A and B) each record n values; the value is the
// mean time per record per thread. Afterwards one snapshot must hold exactly
// every value recorded.
template <class D>
Sample record_run(int recorders, u64 n) {
  D d;
  StartGate gate(recorders - 1);
  std::vector<std::int64_t> elapsed(static_cast<std::size_t>(recorders));
  auto body = [&](int w) {
    const u64 offset = static_cast<u64>(w) * 977;
    const std::int64_t t0 = now_ns();
    for (u64 i = 0; i < n; ++i) d.record(values().at(offset + i));
    elapsed[static_cast<std::size_t>(w)] = now_ns() - t0;
  };
  std::vector<std::thread> threads;
  for (int w = 1; w < recorders; ++w)
    threads.push_back(pinned_thread(machine().cpu_b, [&, w] {
      gate.arrive_and_wait();
      body(w);
    }));
  gate.open();
  body(0);
  for (auto& t : threads) t.join();
  u64 sum = 0;
  for (int w = 0; w < recorders; ++w) sum += values().sum(static_cast<u64>(w) * 977, n);
  check_totals(D::name, d.take(), n * static_cast<u64>(recorders), sum);
  double mean = 0;
  for (const auto e : elapsed) mean += static_cast<double>(e) / static_cast<double>(n) / recorders;
  return {mean, {}};
}

// Core A records n values alone, then n more while core B takes snapshots
// back to back (snapshot_and_reset, each timed). The intervals plus a final
// snapshot must add up to exactly the second n values.
template <class D>
Sample snapshot_run(u64 n) {
  D d;
  const std::int64_t a0 = now_ns();
  for (u64 i = 0; i < n; ++i) d.record(values().at(i));
  const std::int64_t a1 = now_ns();
  check_totals(D::name, d.take(), n, values().sum(0, n));

  StartGate gate(1);
  std::atomic<bool> done{false};
  std::vector<std::int64_t> snapshot_ns;
  Taken total;
  std::thread snapshotter = pinned_thread(machine().cpu_b, [&] {
    gate.arrive_and_wait();
    while (!done.load(std::memory_order_acquire)) {
      const std::int64_t t0 = now_ns();
      const Taken t = d.take();
      snapshot_ns.push_back(now_ns() - t0);
      total.count += t.count;
      total.sum += t.sum;
      total.in_buckets += t.in_buckets;
      if (machine().one_core) cpu_relax();
    }
  });
  gate.open();
  const std::int64_t b0 = now_ns();
  for (u64 i = 0; i < n; ++i) d.record(values().at(i));
  const std::int64_t b1 = now_ns();
  done.store(true, std::memory_order_release);
  snapshotter.join();
  const Taken last = d.take();
  total.count += last.count;
  total.sum += last.sum;
  total.in_buckets += last.in_buckets;
  check_totals(D::name, total, n, values().sum(0, n));

  const double alone = static_cast<double>(a1 - a0) / static_cast<double>(n);
  const double watched = static_cast<double>(b1 - b0) / static_cast<double>(n);
  const double snapshots = static_cast<double>(snapshot_ns.size());
  const double med = snapshot_ns.empty() ? std::nan("") : quantile_ns(snapshot_ns, 0.5);
  const double p99 = snapshot_ns.empty() ? std::nan("") : quantile_ns(snapshot_ns, 0.99);
  return {med,
          {{"p99_ns", p99},
           {"record_ns_alone", alone},
           {"record_ns_during", watched},
           {"recorder_slowdown", watched / alone},
           {"snapshots", snapshots}}};
}

}  // namespace

void scenario_histogram() {
  const Config& cfg = config();
  const u64 n = cfg.count(2'000'000, 2'000);
  CaseSpec a{"histogram",
             "record",
             "8a. Histogram record cost",
             "ns/record per thread",
             Better::lower,
             Normalize::none,
             std::to_string(n) +
                 " records per thread of values spread over 1 ns .. 2 s (1 us .. 1 s in range, 32 "
                 "sub-buckets); recorders on cores A and B"};
  std::vector<Peer> record_peers;
  for (const int recorders : {1, 2}) {
    const std::string group = std::to_string(recorders) + (recorders == 1 ? " recorder" : " recorders");
    record_peers.push_back({std::string(NowaitHistogramDesign::name) + ", " + group, group,
                            [=] { return record_run<NowaitHistogramDesign>(recorders, n); }});
    record_peers.push_back({std::string(MutexHistogramDesign::name) + ", " + group, group,
                            [=] { return record_run<MutexHistogramDesign>(recorders, n); }});
  }
  results().push_back(run_case(a, record_peers));
  CaseSpec b{"histogram",
             "snapshot",
             "8b. Histogram snapshot under concurrent recording",
             "ns/snapshot",
             Better::lower,
             Normalize::none,
             std::to_string(n) +
                 " records on core A, alone and then while core B takes snapshot_and_reset() back to back"};
  results().push_back(run_case(
      b, {{NowaitHistogramDesign::name, "snapshot", [=] { return snapshot_run<NowaitHistogramDesign>(n); }},
          {MutexHistogramDesign::name, "snapshot", [=] { return snapshot_run<MutexHistogramDesign>(n); }}}));
}

}  // namespace nwbench
