// nowait-bench-engine: the engine benchmark of issue 5 (bench/README.md).
//
//   nowait-bench-engine [--smoke] [--seconds S] [--inputs N,N,...] [--contention-inputs N]
//                       [--pull-inputs N,N,...] [--feeder-priority P] [--only idle,contention,pull]
//                       [--json FILE] [--commit HASH]
//
// Two engines with N stereo tone inputs at 48 kHz and 128-frame blocks: the
// real nowait::engine::Engine on its VirtualClockDriver, and the baseline
// whose inputs are the seed design (a std::mutex-guarded std::deque<float> per
// input, baseline_engine.hpp), on a clock thread built the same way. Each
// point runs for a fixed wall time. Both engines' feeders ask for SCHED_FIFO at
// the engine's default feeder priority (--feeder-priority; 0: normal
// priority). Scenarios:
//   idle        the sweep of input counts, nothing else running
//   contention  one input count with a process spinning on the other core, with
//               the feeders at --feeder-priority and again at normal priority
//   pull        no clock: pull the inputs, then process(), back to back (CPU per block)
// --smoke runs every scenario once for 0.3 s with 2 inputs: it checks that
// the program runs and writes its JSON; its figures mean nothing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "driver/common.hpp"
#include "driver/json.hpp"
#include "engine/meters.hpp"
#include "engine/thread_priority.hpp"
#include "load.hpp"
#include "runs.hpp"

namespace nwbench {
namespace {

// The targets: nowait's p99 under 10% of the period with 32 inputs,
// and no deadline miss under contention.
constexpr double target_p99_percent = 10.0;
constexpr int target_inputs = 32;

struct Options {
  bool smoke = false;
  double seconds = 5.0;
  std::vector<int> inputs{1, 8, 16, 32, 48, static_cast<int>(nowait::engine::max_inputs)};
  int contention_inputs = target_inputs;
  std::vector<int> pull_inputs{32, static_cast<int>(nowait::engine::max_inputs)};
  int feeder_priority = nowait::engine::feeder_fifo_priority;
  std::vector<std::string> only;
  std::string json_path;
  std::string commit = "unknown";

  bool wants(const std::string& scenario) const {
    return only.empty() || std::find(only.begin(), only.end(), scenario) != only.end();
  }
};

struct Results {
  std::vector<RunResult> idle;
  std::vector<RunResult> contention;
  std::vector<RunResult> pull;
};

double p99_percent(const RunResult& r) { return 100.0 * r.p99_us / block_period_us(); }

bool real_time(const RunResult& r) {
  return r.blocks > 0 && r.p99_us < block_period_us() && r.deadline_misses == 0 && r.underrun_blocks == 0;
}

// The largest input count of the idle sweep that ran in real time, or 0.
int largest_real_time(const std::vector<RunResult>& idle, EngineKind engine) {
  int best = 0;
  for (const RunResult& r : idle)
    if (r.spec.engine == engine && real_time(r)) best = std::max(best, r.spec.inputs);
  return best;
}

const RunResult* find(const std::vector<RunResult>& runs, EngineKind engine, int inputs,
                      int feeder_priority) {
  for (const RunResult& r : runs)
    if (r.spec.engine == engine && r.spec.inputs == inputs && r.spec.feeder_priority == feeder_priority)
      return &r;
  return nullptr;
}

std::string feeders(int priority) { return priority > 0 ? "FIFO " + std::to_string(priority) : "normal"; }

// ------------------------------------------------------------------ runs ---

RunResult measure(RunSpec spec) {
  RunResult r = run_point(spec);
  std::printf(
      "  %-8s %2d inputs%s, feeders %-7s: %7llu blocks, p99 %7.1f us, max %8.1f us, misses %llu, underruns "
      "%llu\n",
      name_of(spec.engine), spec.inputs, spec.pull ? " (pull)" : "",
      spec.pull ? "-" : feeders(spec.feeder_priority).c_str(), static_cast<unsigned long long>(r.blocks),
      r.p99_us, r.max_us, static_cast<unsigned long long>(r.deadline_misses),
      static_cast<unsigned long long>(r.underrun_blocks));
  std::fflush(stdout);
  return r;
}

// Each input count runs nowait, then the baseline, so drift of the machine
// hits both alike.
std::vector<RunResult> sweep(const Options& o, const Cpus& cpus, const std::vector<int>& counts, bool pull,
                             bool contention, int feeder_priority) {
  std::vector<RunResult> out;
  for (int n : counts) {
    for (EngineKind engine : {EngineKind::nowait, EngineKind::baseline}) {
      RunSpec spec;
      spec.engine = engine;
      spec.inputs = n;
      spec.seconds = o.seconds;
      spec.pull = pull;
      spec.contention = contention;
      spec.feeder_priority = feeder_priority;
      spec.cpus = cpus;
      out.push_back(measure(spec));
    }
  }
  return out;
}

// ---------------------------------------------------------------- tables ---

void print_clocked(const char* title, const std::vector<RunResult>& runs) {
  std::printf("\n== %s\n", title);
  std::printf("%6s  %-8s %-8s %8s %8s %8s %9s %8s %8s %9s %7s %9s\n", "inputs", "engine", "feeders", "p50 us",
              "p99 us", "max us", "p99 %per", "mean us", "us/input", "blocks", "misses", "underruns");
  for (const RunResult& r : runs) {
    std::printf("%6d  %-8s %-8s %8.1f %8.1f %8.1f %8.2f%% %8.1f %8.2f %9llu %7llu %9llu%s\n", r.spec.inputs,
                name_of(r.spec.engine), feeders(r.spec.feeder_priority).c_str(), r.p50_us, r.p99_us, r.max_us,
                p99_percent(r), r.mean_us, r.mean_us / r.spec.inputs,
                static_cast<unsigned long long>(r.blocks), static_cast<unsigned long long>(r.deadline_misses),
                static_cast<unsigned long long>(r.underrun_blocks), r.realtime ? "" : "  (no SCHED_FIFO)");
  }
}

void print_pull(const std::vector<RunResult>& runs) {
  std::printf("\n== Pull mode, no clock: CPU per block (thread CPU time of process())\n");
  std::printf("%6s  %-8s %10s %12s %8s %8s %8s %9s\n", "inputs", "engine", "CPU us", "CPU us/input", "p50 us",
              "p99 us", "max us", "blocks");
  for (const RunResult& r : runs) {
    std::printf("%6d  %-8s %10.2f %12.3f %8.1f %8.1f %8.1f %9llu\n", r.spec.inputs, name_of(r.spec.engine),
                r.cpu_us_per_block, r.cpu_us_per_block / r.spec.inputs, r.p50_us, r.p99_us, r.max_us,
                static_cast<unsigned long long>(r.blocks));
  }
}

// ------------------------------------------------------------------ JSON ---

Json to_json(const RunResult& r) {
  Json j = Json::object();
  j.set("engine", name_of(r.spec.engine));
  j.set("inputs", r.spec.inputs);
  j.set("mode", r.spec.pull ? "pull" : "clock");
  j.set("contention", r.spec.contention);
  j.set("feeder_priority", r.spec.pull ? 0 : r.spec.feeder_priority);
  j.set("seconds", r.spec.seconds);
  j.set("wall_seconds", r.wall_seconds);
  j.set("blocks", static_cast<unsigned long long>(r.blocks));
  j.set("p50_us", r.p50_us);
  j.set("p99_us", r.p99_us);
  j.set("p99.9_us", r.p999_us);
  j.set("max_us", r.max_us);
  j.set("mean_us", r.mean_us);
  j.set("mean_us_per_input", r.mean_us / r.spec.inputs);
  j.set("p99_percent_of_period", p99_percent(r));
  j.set("deadline_misses", static_cast<unsigned long long>(r.deadline_misses));
  j.set("underrun_blocks", static_cast<unsigned long long>(r.underrun_blocks));
  j.set("inputs_with_underruns", r.inputs_with_underruns);
  j.set("realtime_priority", r.realtime);
  if (r.spec.pull) {
    j.set("cpu_us_per_block", r.cpu_us_per_block);
    j.set("cpu_us_per_input", r.cpu_us_per_block / r.spec.inputs);
  }
  return j;
}

Json runs_json(const std::vector<RunResult>& runs) {
  Json a = Json::array();
  for (const RunResult& r : runs) a.push(to_json(r));
  return a;
}

Json target(const std::string& id, const std::string& description, const RunResult* r, double value,
            const char* comparison, double goal) {
  Json j = Json::object();
  j.set("id", id);
  j.set("description", description);
  const bool have = r != nullptr;
  j.set("value", have ? Json(value) : Json());
  j.set("comparison", comparison);
  j.set("goal", goal);
  const bool met = std::string(comparison) == ">=" ? value >= goal : value <= goal;
  j.set("met", have && met);
  return j;
}

Json targets_json(const Results& res, const Options& o) {
  Json a = Json::array();
  const RunResult* idle = find(res.idle, EngineKind::nowait, target_inputs, o.feeder_priority);
  a.push(target("engine_p99_32_inputs", "nowait p99 process() with 32 inputs, % of the block period", idle,
                idle ? p99_percent(*idle) : 0.0, "<=", target_p99_percent));
  const RunResult* loaded = find(res.contention, EngineKind::nowait, o.contention_inputs, o.feeder_priority);
  a.push(target("engine_misses_contention",
                "nowait deadline misses with " + std::to_string(o.contention_inputs) +
                    " inputs under a competing CPU load, feeders " + feeders(o.feeder_priority),
                loaded, loaded ? static_cast<double>(loaded->deadline_misses) : 0.0, "<=", 0.0));
  return a;
}

Json largest_json(const Results& res, const Options& o) {
  Json j = Json::object();
  for (EngineKind engine : {EngineKind::nowait, EngineKind::baseline}) {
    const int n = largest_real_time(res.idle, engine);
    j.set(name_of(engine), n == 0 ? Json() : Json(n));
  }
  Json swept = Json::array();
  for (int n : o.inputs) swept.push(n);
  j.set("swept", std::move(swept));
  j.set("rule",
        "the largest swept input count whose idle run had p99 < block period, no deadline miss "
        "and no underrun");
  return j;
}

Json meta_json(const Options& o, const Cpus& cpus, double elapsed, double load_start) {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  Json m = Json::object();
  m.set("date", date);
  m.set("cpu", cpu_model());
  m.set("cpus_online", static_cast<int>(std::thread::hardware_concurrency()));
  m.set("cpus_allowed", cpus.allowed);
  m.set("cpu_rt", cpus.a);
  m.set("cpu_load", cpus.b);
  m.set("compiler", compiler_slug);
  m.set("compiler_version", __VERSION__);
  m.set("commit", o.commit);
  m.set("smoke", o.smoke);
  m.set("sample_rate", 48000);
  m.set("block_frames", 128);
  m.set("block_period_us", block_period_us());
  m.set("seconds_per_point", o.seconds);
  m.set("contention_inputs", o.contention_inputs);
  m.set("feeder_priority", o.feeder_priority);
  m.set("clock_priority", nowait::engine::clock_fifo_priority);
  m.set("load",
        "one child process spinning at normal priority, pinned to cpu_load; the RT thread is "
        "pinned to cpu_rt, the feeders float");
  m.set("elapsed_s", elapsed);
  m.set("loadavg_start", load_start);
  m.set("loadavg_end", load_average());
  return m;
}

bool write_json(const std::string& path, const Results& res, const Options& o, const Cpus& cpus,
                double elapsed, double load_start) {
  Json root = Json::object();
  root.set("meta", meta_json(o, cpus, elapsed, load_start));
  root.set("idle", runs_json(res.idle));
  root.set("contention", runs_json(res.contention));
  root.set("pull", runs_json(res.pull));
  root.set("largest_realtime", largest_json(res, o));
  root.set("targets", targets_json(res, o));
  std::ofstream out(path);
  out << root.dump(1) << "\n";
  return static_cast<bool>(out);
}

// ------------------------------------------------------------------- CLI ---

void usage() {
  std::fprintf(stderr,
               "usage: nowait-bench-engine [--smoke] [--seconds S] [--inputs N,...] [--contention-inputs N]\n"
               "                           [--pull-inputs N,...] [--feeder-priority P] [--json FILE]\n"
               "                           [--only idle,contention,pull] [--commit HASH]\n");
}

std::vector<int> counts(const std::string& s) {
  std::vector<int> out;
  for (const std::string& item : split(s)) {
    const int n = std::stoi(item);
    if (n < 1 || n > static_cast<int>(nowait::engine::max_inputs))
      throw std::invalid_argument("input counts are 1.." + std::to_string(nowait::engine::max_inputs));
    out.push_back(n);
  }
  return out;
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--smoke") {
      o.smoke = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--seconds") {
      o.seconds = std::stod(value);
    } else if (arg == "--inputs") {
      o.inputs = counts(value);
    } else if (arg == "--contention-inputs") {
      o.contention_inputs = counts(value).at(0);
    } else if (arg == "--pull-inputs") {
      o.pull_inputs = counts(value);
    } else if (arg == "--feeder-priority") {
      o.feeder_priority = std::stoi(value);
    } else if (arg == "--only") {
      o.only = split(value);
    } else if (arg == "--json") {
      o.json_path = value;
    } else if (arg == "--commit") {
      o.commit = value;
    } else {
      return false;
    }
  }
  if (o.smoke) {
    o.seconds = 0.3;
    o.inputs = {2};
    o.contention_inputs = 2;
    o.pull_inputs = {2};
  }
  return o.seconds > 0.0;
}

void print_header(const Options& o, const Cpus& cpus) {
  std::printf("nowait bench engine: %s, %d usable CPUs; %s; commit %s\n", cpu_model().c_str(), cpus.allowed,
              compiler_slug, o.commit.c_str());
  std::printf(
      "48 kHz, 128-frame blocks (period %.1f us), tone inputs, %.1f s per point; RT thread on CPU %d "
      "(SCHED_FIFO %d), feeders %s, competing load on CPU %d\n",
      block_period_us(), o.seconds, cpus.a, nowait::engine::clock_fifo_priority,
      feeders(o.feeder_priority).c_str(), cpus.b);
  if (cpus.allowed < 2) std::printf("!!! ONE CPU: the competing load shares the real-time thread's core\n");
  if (o.smoke) std::printf("SMOKE RUN: 0.3 s points, 2 inputs; no figure means anything\n");
  if (const double load = load_average(); !o.smoke && load > 0.5)
    std::printf("!!! the 1-minute load average is %.2f before the start: other work will skew the figures\n",
                load);
}

void print_summary(const Results& res, const Options& o) {
  if (!res.idle.empty()) {
    print_clocked("Idle: process() durations (p99 % of the block period), misses, underruns", res.idle);
    std::printf(
        "\nlargest input count in real time (p99 < period, no miss, no underrun): nowait %d, "
        "baseline %d\n",
        largest_real_time(res.idle, EngineKind::nowait), largest_real_time(res.idle, EngineKind::baseline));
  }
  if (!res.contention.empty())
    print_clocked("Contention: a process spinning on the other core", res.contention);
  if (!res.pull.empty()) print_pull(res.pull);
  if (const RunResult* r = find(res.idle, EngineKind::nowait, target_inputs, o.feeder_priority))
    std::printf("\ntarget: nowait p99 with %d inputs %.2f%% of the period (goal <= %.0f%%): %s\n",
                target_inputs, p99_percent(*r), target_p99_percent,
                p99_percent(*r) <= target_p99_percent ? "MET" : "MISSED");
  if (const RunResult* r = find(res.contention, EngineKind::nowait, o.contention_inputs, o.feeder_priority))
    std::printf("target: nowait deadline misses under contention %llu (goal 0): %s\n",
                static_cast<unsigned long long>(r->deadline_misses),
                r->deadline_misses == 0 ? "MET" : "MISSED");
}

}  // namespace
}  // namespace nwbench

int main(int argc, char** argv) {
  using namespace nwbench;
  Options o;
  try {
    if (!parse(argc, argv, o)) {
      usage();
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nowait-bench-engine: %s\n", e.what());
    usage();
    return 2;
  }
  const Cpus cpus = detect_cpus();
  print_header(o, cpus);
  const double load_start = load_average();
  const auto started = std::chrono::steady_clock::now();
  Results res;
  if (o.wants("idle")) {
    std::printf("\n-- idle sweep\n");
    res.idle = sweep(o, cpus, o.inputs, false, false, o.feeder_priority);
  }
  if (o.wants("contention")) {
    std::printf("\n-- contention\n");
    res.contention = sweep(o, cpus, {o.contention_inputs}, false, true, o.feeder_priority);
    // Again with normal-priority feeders, which the spinner can preempt: in
    // the baseline, possibly while one holds the lock the RT thread needs.
    if (o.feeder_priority > 0) {
      std::vector<RunResult> normal = sweep(o, cpus, {o.contention_inputs}, false, true, 0);
      res.contention.insert(res.contention.end(), normal.begin(), normal.end());
    }
  }
  if (o.wants("pull")) {
    std::printf("\n-- pull mode\n");
    res.pull = sweep(o, cpus, o.pull_inputs, true, false, 0);
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_summary(res, o);
  std::printf("\nengine bench finished in %.1f s\n", elapsed);
  if (o.json_path.empty()) return 0;
  if (!write_json(o.json_path, res, o, cpus, elapsed, load_start)) {
    std::fprintf(stderr, "nowait-bench-engine: cannot write %s\n", o.json_path.c_str());
    return 1;
  }
  std::printf("wrote %s\n", o.json_path.c_str());
  return 0;
}
