// bench/driver/harness.hpp: what every cross-thread scenario shares: the
// machine and its pinned cores, the cache-line probe taken before every run,
// the interleaved run schedule, statistics, verification and JSON output.
//
// Method (see bench/README.md):
// - the measuring thread runs on core A, the other side on core B, both pinned
//   with pthread_setaffinity_np;
// - every case runs each peer once as warm-up, then `runs` rounds; each round
//   runs every peer once, in an order rotated by one per round, so drift of
//   the machine hits every peer alike;
// - right before every run a short cache-line ping-pong between A and B is
//   timed, and recorded with the run, because on a VM the two vCPUs move
//   between placements whose round trip differs about 4x;
// - every run checks the data it moved and aborts the process on a mismatch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "json.hpp"
#include "nowait/rt.hpp"

namespace nwbench {

// ---------------------------------------------------------------- failure ---

// A bench that moved wrong data must never print a figure: report and abort.
[[noreturn]] inline void verification_failed(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void verification_failed(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "\n*** nowait bench: VERIFICATION FAILED: ");
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fprintf(stderr, "\n*** the data moved was wrong; no figure of this run is valid.\n");
  std::fflush(stderr);
  std::abort();
}

// ---------------------------------------------------------------- machine ---

struct Machine {
  int cpus_allowed = 1;  // CPUs in this process's affinity mask
  int cpu_a = 0;         // the measuring thread (producer, writer, pinger)
  int cpu_b = 0;         // the other side (consumer, readers, ponger)
  bool one_core = true;  // both sides share one core: cross-thread figures measure the scheduler
};

inline Machine& machine() {
  static Machine m;
  return m;
}

inline Machine detect_machine() {
  Machine m;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return m;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  m.cpus_allowed = static_cast<int>(cpus.size());
  if (cpus.size() >= 2) {
    m.cpu_a = cpus[0];
    m.cpu_b = cpus[1];
    m.one_core = false;
  } else if (cpus.size() == 1) {
    m.cpu_a = m.cpu_b = cpus[0];
  }
  return m;
}

// Pins the calling thread to `cpu`. Returns false (and the thread keeps
// running unpinned) when the kernel refuses.
inline bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

// The body of every spin-wait. With one core the other side can only run when
// this one gives up the CPU, so it yields; with two it stays on the core and
// eases off the contended line.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
  if (machine().one_core) sched_yield();
}

// A thread pinned to `cpu` that runs f.
template <class F>
std::thread pinned_thread(int cpu, F&& f) {
  return std::thread([cpu, fn = std::forward<F>(f)]() mutable {
    pin_self(cpu);
    fn();
  });
}

// Lets the measuring thread start the clock only once every helper thread is
// up, pinned and spinning, so thread start-up is never timed.
class StartGate {
 public:
  explicit StartGate(int helpers) : helpers_(helpers) {}
  // Helper threads: announce readiness and wait for the start.
  void arrive_and_wait() noexcept {
    ready_.fetch_add(1, std::memory_order_acq_rel);
    while (!go_.load(std::memory_order_acquire)) cpu_relax();
  }
  // Measuring thread: wait for every helper, then release them.
  void open() noexcept {
    while (ready_.load(std::memory_order_acquire) < helpers_) cpu_relax();
    go_.store(true, std::memory_order_release);
  }

 private:
  int helpers_;
  std::atomic<int> ready_{0};
  std::atomic<bool> go_{false};
};

inline std::int64_t now_ns() noexcept { return nowait::monotonic_ns(); }

// Keeps the compiler from discarding a computation whose result is unused.
template <class T>
inline void keep(T const& value) noexcept {
  asm volatile("" : : "r"(&value) : "memory");
}

// ------------------------------------------------------------- statistics ---

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}
inline double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

// Quantile of a large sample of integer timings without sorting it all.
inline double quantile_ns(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return std::nan("");
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

// ------------------------------------------------------------------ probe ---

// Median round trip of one cache line between core A and core B: two threads
// ping-pong a counter on its own line, and each round trip is timed the way
// the latency scenario times its own, so the two are directly comparable.
inline double cache_line_round_trip_ns(int round_trips) {
  struct alignas(nowait::cache_line_size) Line {
    std::atomic<std::uint64_t> value{0};
  };
  Line line;
  StartGate gate(1);
  std::thread pong = pinned_thread(machine().cpu_b, [&] {
    gate.arrive_and_wait();
    for (std::uint64_t i = 1; i <= static_cast<std::uint64_t>(round_trips); ++i) {
      // Acquire/release: the same hand-off a queue's index makes.
      while (line.value.load(std::memory_order_acquire) != 2 * i - 1) cpu_relax();
      line.value.store(2 * i, std::memory_order_release);
    }
  });
  std::vector<std::int64_t> samples(static_cast<std::size_t>(round_trips));
  gate.open();
  for (std::uint64_t i = 1; i <= static_cast<std::uint64_t>(round_trips); ++i) {
    const std::int64_t t0 = now_ns();
    line.value.store(2 * i - 1, std::memory_order_release);
    while (line.value.load(std::memory_order_acquire) != 2 * i) cpu_relax();
    samples[i - 1] = now_ns() - t0;
  }
  pong.join();
  return quantile_ns(samples, 0.5);
}

// ------------------------------------------------------------------ cases ---

struct Config {
  bool smoke = false;  // tiny counts, one run, verification only
  int runs = 5;        // measured rounds after the warm-up
  double scale = 1.0;  // multiplies every count (for quick trials; the full run uses 1)
  int probe_round_trips = 2000;
  std::vector<std::string> only;  // scenario ids to run; empty: all
  bool wants(const std::string& scenario) const {
    return only.empty() || std::find(only.begin(), only.end(), scenario) != only.end();
  }
  // A count scaled for this invocation: `full` in a full run, `smoke` with --smoke.
  std::uint64_t count(std::uint64_t full, std::uint64_t smoke_count) const {
    if (smoke) return smoke_count;
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(static_cast<double>(full) * scale));
  }
};

inline Config& config() {
  static Config c;
  return c;
}

// What one run of one peer produced: the headline value and named extras.
struct Sample {
  double value = 0;
  std::vector<std::pair<std::string, double>> extra;
};

struct Peer {
  std::string name;
  // Peers in the same group are compared with the group's first peer (the
  // nowait one): "nowait/peer" ratios are only taken within a group.
  std::string group;
  std::function<Sample()> run;
};

enum class Better { higher, lower };

// How a run's value relates to the probe taken before it.
enum class Normalize {
  none,
  rate_per_round_trip,  // value is in millions per second: value x probe = items per cache-line round trip
  time_over_probe,      // value is a time in ns: value / probe
};

struct CaseSpec {
  std::string scenario;  // "spsc_throughput", ...
  std::string id;        // unique within the scenario, e.g. "cap4096"
  std::string title;     // printed heading
  std::string unit;      // of the headline value
  Better better = Better::higher;
  Normalize normalize = Normalize::none;
  std::string params;  // free text: counts, sizes
};

struct RunRecord {
  int round;  // -1: warm-up (kept out of the summary)
  std::string peer;
  double probe_ns;
  Sample sample;
};

struct PeerSummary {
  std::string name;
  std::string group;
  double median = 0, min = 0, max = 0;
  double probe_median = 0;
  double normalized_median = std::nan("");  // see Normalize
  // nowait's advantage over this peer (>1: nowait better), the median over the
  // rounds in which both runs saw about the same probe (within 25%).
  double nowait_advantage = std::nan("");
  int same_probe_rounds = 0;
  std::vector<std::pair<std::string, double>> extra_medians;
};

struct CaseResult {
  CaseSpec spec;
  std::vector<RunRecord> runs;
  std::vector<PeerSummary> peers;
  double elapsed_s = 0;  // the whole case: warm-up, rounds and probes
  const PeerSummary* find(const std::string& name) const {
    for (const auto& p : peers)
      if (p.name == name) return &p;
    return nullptr;
  }
  // Per-round values of a peer, keyed by round, with their probes.
  std::vector<const RunRecord*> rounds_of(const std::string& name) const {
    std::vector<const RunRecord*> out;
    for (const auto& r : runs)
      if (r.peer == name && r.round >= 0) out.push_back(&r);
    return out;
  }
};

// Two probes count as "the same placement" when within 25% of each other:
// the two regimes seen on this VM differ about 4x.
inline bool same_probe(double a, double b) { return std::max(a, b) <= 1.25 * std::min(a, b); }

// Nowait's per-round advantage of run `ours` over run `theirs`.
inline double advantage(Better better, double ours, double theirs) {
  return better == Better::higher ? ours / theirs : theirs / ours;
}

inline double normalized(Normalize n, double value, double probe_ns) {
  switch (n) {
    case Normalize::rate_per_round_trip:
      return value * probe_ns * 1e-3;
    case Normalize::time_over_probe:
      return value / probe_ns;
    case Normalize::none:
      break;
  }
  return std::nan("");
}

void print_case(const CaseResult& result);

inline CaseResult run_case(const CaseSpec& spec, const std::vector<Peer>& peers) {
  const Config& cfg = config();
  CaseResult result{spec, {}, {}, 0};
  const std::int64_t case_start = now_ns();
  std::printf("\n  running %s ...", spec.title.c_str());
  std::fflush(stdout);
  auto one = [&](int round, const Peer& peer) {
    const double probe = cache_line_round_trip_ns(cfg.probe_round_trips);
    Sample s = peer.run();
    result.runs.push_back(RunRecord{round, peer.name, probe, std::move(s)});
  };
  const int rounds = cfg.smoke ? 1 : cfg.runs;
  if (!cfg.smoke)
    for (const auto& peer : peers) one(-1, peer);
  for (int round = 0; round < rounds; ++round)
    for (std::size_t k = 0; k < peers.size(); ++k)
      one(round, peers[(k + static_cast<std::size_t>(round)) % peers.size()]);

  for (const auto& peer : peers) {
    PeerSummary ps;
    ps.name = peer.name;
    ps.group = peer.group;
    std::vector<double> values, probes, norms;
    std::vector<std::pair<std::string, std::vector<double>>> extras;
    for (const RunRecord* r : result.rounds_of(peer.name)) {
      values.push_back(r->sample.value);
      probes.push_back(r->probe_ns);
      norms.push_back(normalized(spec.normalize, r->sample.value, r->probe_ns));
      for (const auto& [key, v] : r->sample.extra) {
        auto it = std::find_if(extras.begin(), extras.end(), [&](auto& e) { return e.first == key; });
        if (it == extras.end()) {
          extras.push_back({key, {}});
          it = extras.end() - 1;
        }
        it->second.push_back(v);
      }
    }
    ps.median = median(values);
    ps.min = *std::min_element(values.begin(), values.end());
    ps.max = *std::max_element(values.begin(), values.end());
    ps.probe_median = median(probes);
    if (spec.normalize != Normalize::none) ps.normalized_median = median(norms);
    for (auto& [key, v] : extras) ps.extra_medians.push_back({key, median(v)});
    result.peers.push_back(std::move(ps));
  }
  // Pairwise comparison with the group's nowait peer, round by round.
  for (auto& ps : result.peers) {
    const auto ref =
        std::find_if(peers.begin(), peers.end(), [&](const Peer& p) { return p.group == ps.group; });
    const auto ours = result.rounds_of(ref->name);
    const auto theirs = result.rounds_of(ps.name);
    std::vector<double> adv;
    for (const RunRecord* o : ours)
      for (const RunRecord* t : theirs)
        if (o->round == t->round && same_probe(o->probe_ns, t->probe_ns))
          adv.push_back(advantage(spec.better, o->sample.value, t->sample.value));
    ps.same_probe_rounds = static_cast<int>(adv.size());
    if (!adv.empty()) ps.nowait_advantage = median(adv);
  }
  result.elapsed_s = static_cast<double>(now_ns() - case_start) * 1e-9;
  std::printf(" done in %.1f s\n", result.elapsed_s);
  print_case(result);
  return result;
}

inline void print_case(const CaseResult& result) {
  const CaseSpec& spec = result.spec;
  std::printf("\n== %s\n   %s; %s is better%s\n", spec.title.c_str(), spec.params.c_str(),
              spec.better == Better::higher ? "higher" : "lower",
              config().smoke ? "; SMOKE RUN: verification only, the figures mean nothing" : "");
  const char* norm = spec.normalize == Normalize::rate_per_round_trip ? "per probe RT"
                     : spec.normalize == Normalize::time_over_probe   ? "x probe"
                                                                      : "";
  std::printf("   %-40s %12s %12s %12s %9s %12s %14s\n", ("peer [" + spec.unit + "]").c_str(), "median",
              "min", "max", "probe ns", norm, "nowait/peer");
  for (const auto& p : result.peers) {
    char adv[48] = "";
    if (!std::isnan(p.nowait_advantage))
      std::snprintf(adv, sizeof(adv), "%.2fx (%d)", p.nowait_advantage, p.same_probe_rounds);
    else
      std::snprintf(adv, sizeof(adv), "n/a");
    char nm[32] = "";
    if (!std::isnan(p.normalized_median)) std::snprintf(nm, sizeof(nm), "%.3g", p.normalized_median);
    std::printf("   %-40s %12.4g %12.4g %12.4g %9.0f %12s %14s\n", p.name.c_str(), p.median, p.min, p.max,
                p.probe_median, nm, adv);
    if (!p.extra_medians.empty()) {
      std::printf("   %-40s", "");
      for (const auto& [key, v] : p.extra_medians) std::printf(" %s=%.4g", key.c_str(), v);
      std::printf("\n");
    }
  }
  std::printf(
      "   (nowait/peer: nowait's advantage, median over the rounds whose two probes agree within 25%%;\n"
      "    in brackets how many rounds qualified. Runs and probes of every run are in the JSON.)\n");
  std::fflush(stdout);
}

inline Json to_json(const Sample& s) {
  Json extra = Json::object();
  for (const auto& [key, v] : s.extra) extra.set(key, Json(v));
  return extra;
}

inline Json to_json(const CaseResult& r) {
  Json c = Json::object();
  c.set("scenario", r.spec.scenario);
  c.set("id", r.spec.id);
  c.set("title", r.spec.title);
  c.set("unit", r.spec.unit);
  c.set("better", r.spec.better == Better::higher ? "higher" : "lower");
  c.set("normalize", r.spec.normalize == Normalize::rate_per_round_trip ? "rate_x_probe"
                     : r.spec.normalize == Normalize::time_over_probe   ? "time_over_probe"
                                                                        : "none");
  c.set("params", r.spec.params);
  c.set("elapsed_s", r.elapsed_s);
  Json runs = Json::array();
  for (const auto& run : r.runs) {
    Json j = Json::object();
    j.set("round", run.round);
    j.set("peer", run.peer);
    j.set("probe_ns", run.probe_ns);
    j.set("value", run.sample.value);
    j.set("extra", to_json(run.sample));
    runs.push(std::move(j));
  }
  c.set("runs", std::move(runs));
  Json peers = Json::array();
  for (const auto& p : r.peers) {
    Json j = Json::object();
    j.set("name", p.name);
    j.set("group", p.group);
    j.set("median", p.median);
    j.set("min", p.min);
    j.set("max", p.max);
    j.set("probe_median_ns", p.probe_median);
    j.set("normalized_median", p.normalized_median);
    j.set("nowait_advantage", p.nowait_advantage);
    j.set("same_probe_rounds", p.same_probe_rounds);
    Json extra = Json::object();
    for (const auto& [key, v] : p.extra_medians) extra.set(key, Json(v));
    j.set("extra_medians", std::move(extra));
    peers.push(std::move(j));
  }
  c.set("peers", std::move(peers));
  return c;
}

}  // namespace nwbench
