// Scenario 7: snapshots and rate tracking. One writer on core A publishes
// values back to back while 0, 1, 2 or 8 reader threads, all on core B, read
// them in a tight loop; the value is the writer's cost per publish, so the
// rows show how much the readers slow it down. Each nowait primitive runs
// against the same payload guarded by a std::mutex. RateTracker has no
// writer: 1, 2 or 8 threads, spread over both cores, call update() at once.
#include <array>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nowait/rate_tracker.hpp"
#include "nowait/snapshot.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;
using ull = unsigned long long;

// A 64-byte statistics record: every word is derived from `seq`, so a reader
// can tell a torn copy from a whole one.
struct Stats {
  u64 seq = 0;
  std::array<u64, 7> v{};
  static Stats make(u64 s) {
    Stats st;
    st.seq = s;
    for (std::size_t k = 0; k < st.v.size(); ++k) st.v[k] = s * (k + 3) + k;
    return st;
  }
  bool whole() const {
    for (std::size_t k = 0; k < v.size(); ++k)
      if (v[k] != seq * (k + 3) + k) return false;
    return true;
  }
};

// A 1 KiB block of settings that readers use in place.
struct Settings {
  u64 seq = 0;
  std::array<u64, 127> v{};
  static Settings make(u64 s) {
    Settings c;
    c.seq = s;
    for (std::size_t k = 0; k < c.v.size(); ++k) c.v[k] = s * (k + 1) + k;
    return c;
  }
  bool whole() const {
    for (std::size_t k = 0; k < v.size(); ++k)
      if (v[k] != seq * (k + 1) + k) return false;
    return true;
  }
};

// Adapter interface: D(max_readers); D::Reader r = d.reader() (setup);
// d.publish(seq) on the writer; u64 d.read(r) on r's thread returns the seq
// it saw, after checking the value is whole.

class SeqlockCellDesign {
 public:
  static constexpr const char* name = "nowait SeqlockCell (64 B)";
  explicit SeqlockCellDesign(int) {}
  struct Reader {};
  Reader reader() { return {}; }
  void publish(u64 s) noexcept { cell_.store(Stats::make(s)); }
  u64 read(Reader&) const {
    const Stats s = cell_.load();
    if (!s.whole())
      verification_failed("%s: a reader got a torn value at %llu", name, static_cast<ull>(s.seq));
    return s.seq;
  }

 private:
  nowait::SeqlockCell<Stats> cell_{Stats::make(0)};
};

class MutexStatsDesign {
 public:
  static constexpr const char* name = "std::mutex + struct (64 B)";
  explicit MutexStatsDesign(int) {}
  struct Reader {};
  Reader reader() { return {}; }
  void publish(u64 s) {
    const Stats fresh = Stats::make(s);
    std::lock_guard lock(mutex_);
    value_ = fresh;
  }
  u64 read(Reader&) {
    Stats s;
    {
      std::lock_guard lock(mutex_);
      s = value_;
    }
    if (!s.whole())
      verification_failed("%s: a reader got a torn value at %llu", name, static_cast<ull>(s.seq));
    return s.seq;
  }

 private:
  std::mutex mutex_;
  Stats value_ = Stats::make(0);
};

class SharedSnapshotDesign {
 public:
  static constexpr const char* name = "nowait SharedSnapshot (1 KiB)";
  explicit SharedSnapshotDesign(int max_readers)
      : snapshot_(Settings::make(0), static_cast<std::size_t>(std::max(1, max_readers))) {}
  using Reader = nowait::SharedSnapshot<Settings>::Reader;
  Reader reader() { return snapshot_.make_reader(); }
  // The publish includes building the new value on the heap, as a control
  // thread would, and freeing the values no reader holds any more.
  void publish(u64 s) { snapshot_.publish(std::make_unique<Settings>(Settings::make(s))); }
  static u64 read(Reader& r) {
    const auto guard = r.read();
    if (!guard->whole()) verification_failed("%s: a reader saw a value change under it", name);
    return guard->seq;
  }

 private:
  nowait::SharedSnapshot<Settings> snapshot_;
};

class MutexConfigDesign {
 public:
  static constexpr const char* name = "std::mutex + struct (1 KiB)";
  explicit MutexConfigDesign(int) {}
  struct Reader {};
  Reader reader() { return {}; }
  void publish(u64 s) {
    auto fresh = std::make_unique<Settings>(Settings::make(s));
    std::lock_guard lock(mutex_);
    value_ = *fresh;
  }
  // Readers use the value in place, holding the lock, as SharedSnapshot's do.
  u64 read(Reader&) {
    std::lock_guard lock(mutex_);
    if (!value_.whole()) verification_failed("%s: a reader saw a value change under it", name);
    return value_.seq;
  }

 private:
  std::mutex mutex_;
  Settings value_ = Settings::make(0);
};

// The writer publishes 1..n back to back. Every reader checks each value is
// whole and that the sequence it sees never goes backwards; after the writer
// is done, every reader must see the last value.
template <class D>
Sample publish_run(int readers, u64 n) {
  D d(readers);
  std::vector<typename D::Reader> handles;
  for (int r = 0; r < readers; ++r) handles.push_back(d.reader());
  StartGate gate(readers);
  std::atomic<bool> done{false};
  std::vector<u64> reads(static_cast<std::size_t>(readers));
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.push_back(pinned_thread(machine().cpu_b, [&, r] {
      auto& h = handles[static_cast<std::size_t>(r)];
      gate.arrive_and_wait();
      u64 last = 0, count = 0;
      for (;;) {
        // Acquire: once `done` is seen, the last publish is visible.
        const bool writer_done = done.load(std::memory_order_acquire);
        const u64 seq = d.read(h);
        if (seq < last)
          verification_failed("%s: a reader went back from %llu to %llu", D::name, static_cast<ull>(last),
                              static_cast<ull>(seq));
        last = seq;
        ++count;
        if (writer_done) {
          if (seq != n)
            verification_failed("%s: after the last publish a reader still saw %llu of %llu", D::name,
                                static_cast<ull>(seq), static_cast<ull>(n));
          break;
        }
        if (machine().one_core) cpu_relax();
      }
      reads[static_cast<std::size_t>(r)] = count;
    }));
  }
  gate.open();
  const std::int64_t t0 = now_ns();
  for (u64 s = 1; s <= n; ++s) d.publish(s);
  const std::int64_t t1 = now_ns();
  // Release: pairs with the readers' acquire of `done`.
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  handles.clear();  // SharedSnapshot readers must go before the snapshot
  const double seconds = static_cast<double>(t1 - t0) * 1e-9;
  double total_reads = 0;
  for (const u64 c : reads) total_reads += static_cast<double>(c);
  std::vector<std::pair<std::string, double>> extra;
  if (readers > 0) extra.push_back({"reads_M/s_all_readers", total_reads / seconds / 1e6});
  return {static_cast<double>(t1 - t0) / static_cast<double>(n), extra};
}

template <class Nowait, class Mutex>
std::vector<Peer> publish_peers(u64 n) {
  std::vector<Peer> peers;
  for (const int readers : {0, 1, 2, 8}) {
    const std::string group = std::to_string(readers) + (readers == 1 ? " reader" : " readers");
    peers.push_back(
        {std::string(Nowait::name) + ", " + group, group, [=] { return publish_run<Nowait>(readers, n); }});
    peers.push_back(
        {std::string(Mutex::name) + ", " + group, group, [=] { return publish_run<Mutex>(readers, n); }});
  }
  return peers;
}

// ------------------------------------------------------------ RateTracker ---

constexpr std::size_t kRates = 4;
using RateCounts = std::array<u64, kRates>;

// The design RateTracker replaces: the previous snapshot behind a mutex.
class MutexRateTracker {
 public:
  struct Rates {
    std::array<double, kRates> instant{}, average{};
  };
  Rates update(const RateCounts& counts) {
    const std::int64_t now = nowait::monotonic_ns();
    std::lock_guard lock(mutex_);
    Rates r;
    if (!started_) {
      first_ns_ = last_ns_ = now;
      first_ = last_ = counts;
      started_ = true;
      return r;
    }
    const double dt = now > last_ns_ ? static_cast<double>(now - last_ns_) * 1e-9 : 0.0;
    const double total = now > first_ns_ ? static_cast<double>(now - first_ns_) * 1e-9 : 0.0;
    for (std::size_t i = 0; i < kRates; ++i) {
      r.instant[i] = dt > 0 && counts[i] >= last_[i] ? static_cast<double>(counts[i] - last_[i]) / dt : 0.0;
      r.average[i] =
          total > 0 && counts[i] >= first_[i] ? static_cast<double>(counts[i] - first_[i]) / total : 0.0;
    }
    if (now >= last_ns_) {
      last_ns_ = now;
      last_ = counts;
    }
    return r;
  }

 private:
  std::mutex mutex_;
  bool started_ = false;
  std::int64_t first_ns_ = 0, last_ns_ = 0;
  RateCounts first_{}, last_{};
};

// The counts every caller passes are microseconds since the start, so every
// average rate must come out near 1e6 per second (for counter k: k + 1 times
// that). Each caller checks every rate is finite and not negative; at the end
// one last update checks the averages.
RateCounts counts_at(std::int64_t start) {
  const auto us = static_cast<u64>((nowait::monotonic_ns() - start) / 1000);
  return {us, 2 * us, 3 * us, 4 * us};
}

template <class Tracker>
Sample rate_run(const char* name, int callers, u64 updates) {
  Tracker tracker;
  const std::int64_t start = nowait::monotonic_ns();
  tracker.update(counts_at(start));  // the first snapshot
  StartGate gate(callers - 1);
  std::vector<std::int64_t> elapsed(static_cast<std::size_t>(callers));
  auto body = [&](int c) {
    const std::int64_t t0 = now_ns();
    for (u64 i = 0; i < updates; ++i) {
      const auto r = tracker.update(counts_at(start));
      for (std::size_t k = 0; k < kRates; ++k)
        if (!std::isfinite(r.instant[k]) || r.instant[k] < 0 || !std::isfinite(r.average[k]) ||
            r.average[k] < 0)
          verification_failed("%s: update returned a bad rate", name);
    }
    elapsed[static_cast<std::size_t>(c)] = now_ns() - t0;
  };
  std::vector<std::thread> threads;
  for (int c = 1; c < callers; ++c)
    threads.push_back(pinned_thread(c % 2 == 1 ? machine().cpu_b : machine().cpu_a, [&, c] {
      gate.arrive_and_wait();
      body(c);
    }));
  gate.open();
  body(0);
  for (auto& t : threads) t.join();
  // Long enough that a microsecond of truncation cannot move the average 5%.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto last = tracker.update(counts_at(start));
  for (std::size_t k = 0; k < kRates; ++k) {
    const double want = 1e6 * static_cast<double>(k + 1);
    if (std::abs(last.average[k] - want) > 0.05 * want)
      verification_failed("%s: average rate %g, expected about %g", name, last.average[k], want);
  }
  double mean = 0;
  for (const auto e : elapsed) mean += static_cast<double>(e) / static_cast<double>(updates) / callers;
  return {mean, {}};
}

std::vector<Peer> rate_peers(u64 updates) {
  std::vector<Peer> peers;
  for (const int callers : {1, 2, 8}) {
    const std::string group = std::to_string(callers) + (callers == 1 ? " caller" : " callers");
    peers.push_back({"nowait RateTracker<4>, " + group, group, [=] {
                       return rate_run<nowait::RateTracker<kRates>>("nowait RateTracker", callers, updates);
                     }});
    peers.push_back({"std::mutex + snapshot, " + group, group, [=] {
                       return rate_run<MutexRateTracker>("std::mutex rate tracker", callers, updates);
                     }});
  }
  return peers;
}

}  // namespace

void scenario_snapshots() {
  const nwbench::Config& cfg = config();
  const u64 small = cfg.count(200'000, 500);
  const u64 large = cfg.count(50'000, 200);
  const u64 updates = cfg.count(100'000, 200);
  const std::string where = "writer on core A, every reader on core B reading in a tight loop";
  CaseSpec a{"snapshot",
             "seqlock",
             "7a. SeqlockCell: writer cost per publish vs readers",
             "ns/publish",
             Better::lower,
             Normalize::none,
             std::to_string(small) + " publishes of a 64-byte record; " + where};
  results().push_back(run_case(a, publish_peers<SeqlockCellDesign, MutexStatsDesign>(small)));
  CaseSpec b{"snapshot",
             "shared",
             "7b. SharedSnapshot: writer cost per publish vs readers",
             "ns/publish",
             Better::lower,
             Normalize::none,
             std::to_string(large) +
                 " publishes of a 1 KiB value built on the heap; readers use it in place; " + where};
  results().push_back(run_case(b, publish_peers<SharedSnapshotDesign, MutexConfigDesign>(large)));
  CaseSpec c{
      "snapshot",
      "rate",
      "7c. RateTracker::update from concurrent callers",
      "ns/update",
      Better::lower,
      Normalize::none,
      std::to_string(updates) + " updates of 4 counters per caller; callers alternate between cores A and B"};
  results().push_back(run_case(c, rate_peers(updates)));
}

}  // namespace nwbench
