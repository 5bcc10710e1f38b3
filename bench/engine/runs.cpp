#include "runs.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <stdexcept>
#include <thread>

#include "baseline_engine.hpp"
#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "nowait/registry.hpp"

namespace nwbench {

namespace eng = nowait::engine;

namespace {

constexpr int sample_rate = 48000;
constexpr int block_frames = 128;

std::int64_t thread_cpu_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The run's wall time. Not a synchronisation: the clock thread and the
// feeders run on their own while the control thread waits out the run.
void wait_out(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

// The load runs from before the clock's start to after its stop, so every
// measured block is a loaded one.
void start_load(CompetingLoad& load, const RunSpec& spec) {
  if (spec.contention) load.start(spec.cpus.b);
}

void take_durations(RunResult& r, const nowait::HistogramSnapshot& h) {
  r.p50_us = static_cast<double>(h.p50()) / 1e3;
  r.p99_us = static_cast<double>(h.p99()) / 1e3;
  r.p999_us = static_cast<double>(h.p999()) / 1e3;
  r.max_us = static_cast<double>(h.max()) / 1e3;
  r.mean_us = h.mean() / 1e3;
}

// The engine's own histogram, nowait_process_duration_seconds, in seconds.
void take_durations(RunResult& r, const nowait::RegistrySnapshot& snap) {
  const nowait::Sample* s = snap.sample("nowait_process_duration_seconds");
  if (s == nullptr) throw std::runtime_error("the engine has no nowait_process_duration_seconds histogram");
  const nowait::HistogramSample& h = s->histogram;
  r.p50_us = nowait::as_double(h.p50) * 1e6;
  r.p99_us = nowait::as_double(h.p99) * 1e6;
  r.p999_us = nowait::as_double(h.p999) * 1e6;
  r.max_us = nowait::as_double(h.max) * 1e6;
  r.mean_us = h.count == 0 ? 0.0 : nowait::as_double(h.sum) * 1e6 / static_cast<double>(h.count);
}

void count_underruns(RunResult& r, std::uint64_t blocks) {
  r.underrun_blocks += blocks;
  if (blocks != 0) ++r.inputs_with_underruns;
}

void take_underruns(RunResult& r, eng::Engine& engine) {
  for (const eng::InputStatus& in : engine.status().inputs) count_underruns(r, in.underrun_blocks);
}

void take_underruns(RunResult& r, const BaselineEngine& engine) {
  for (std::size_t i = 0; i < engine.input_count(); ++i) count_underruns(r, engine.underrun_blocks(i));
}

eng::EngineOptions nowait_options(eng::FeedMode feed, int feeder_priority) {
  eng::EngineOptions options;
  options.feed = feed;
  options.feeder_priority = feeder_priority;
  options.start_sinks = false;
  return options;
}

RunResult run_nowait_clocked(const RunSpec& spec) {
  RunResult r{spec};
  eng::Engine engine;
  engine.prepare(make_config(spec.inputs), nowait_options(eng::FeedMode::threads, spec.feeder_priority));
  eng::VirtualClockDriver driver;
  CompetingLoad load;
  start_load(load, spec);
  const auto start = std::chrono::steady_clock::now();
  {
    ScopedPin pin(spec.cpus.a);
    driver.start(engine);
  }
  wait_out(spec.seconds);
  driver.stop();
  r.wall_seconds = seconds_since(start);
  load.stop();
  r.blocks = engine.blocks_processed();
  r.deadline_misses = driver.deadline_misses();
  r.realtime = driver.realtime();
  take_durations(r, engine.registry().snapshot());
  take_underruns(r, engine);
  engine.shutdown();
  return r;
}

RunResult run_baseline_clocked(const RunSpec& spec) {
  RunResult r{spec};
  BaselineEngine engine;
  engine.prepare(make_config(spec.inputs), eng::FeedMode::threads, spec.feeder_priority);
  BaselineClock clock;
  CompetingLoad load;
  start_load(load, spec);
  const auto start = std::chrono::steady_clock::now();
  {
    ScopedPin pin(spec.cpus.a);
    clock.start(engine);
  }
  wait_out(spec.seconds);
  clock.stop();
  r.wall_seconds = seconds_since(start);
  load.stop();
  r.blocks = engine.blocks_processed();
  r.deadline_misses = clock.deadline_misses();
  r.realtime = clock.realtime();
  take_durations(r, engine.process_histogram().snapshot());
  take_underruns(r, engine);
  engine.stop();
  return r;
}

// Pulls every input, then times process() alone in thread CPU time, until
// the wall time is up. Either engine: E has pull_inputs() and process().
template <class E>
void pull_loop(RunResult& r, E& engine, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  std::int64_t cpu_ns = 0;
  while (seconds_since(start) < seconds) {
    engine.pull_inputs();
    const std::int64_t before = thread_cpu_ns();
    engine.process();
    cpu_ns += thread_cpu_ns() - before;
    ++r.blocks;
  }
  r.wall_seconds = seconds_since(start);
  r.cpu_us_per_block =
      r.blocks == 0 ? 0.0 : static_cast<double>(cpu_ns) / 1e3 / static_cast<double>(r.blocks);
}

RunResult run_nowait_pulled(const RunSpec& spec) {
  RunResult r{spec};
  eng::Engine engine;
  engine.prepare(make_config(spec.inputs), nowait_options(eng::FeedMode::pull, 0));
  pull_loop(r, engine, spec.seconds);
  take_durations(r, engine.registry().snapshot());
  take_underruns(r, engine);
  engine.shutdown();
  return r;
}

RunResult run_baseline_pulled(const RunSpec& spec) {
  RunResult r{spec};
  BaselineEngine engine;
  engine.prepare(make_config(spec.inputs), eng::FeedMode::pull, 0);
  pull_loop(r, engine, spec.seconds);
  take_durations(r, engine.process_histogram().snapshot());
  take_underruns(r, engine);
  return r;
}

}  // namespace

const char* name_of(EngineKind kind) noexcept { return kind == EngineKind::nowait ? "nowait" : "baseline"; }

double block_period_us() { return 1e6 * block_frames / sample_rate; }

eng::EngineConfig make_config(int inputs) {
  eng::EngineConfig config;
  config.format.sample_rate = sample_rate;
  config.format.block_frames = block_frames;
  config.master_gain_db = inputs > 1 ? -20.0 * std::log10(static_cast<double>(inputs)) : 0.0;
  for (int i = 0; i < inputs; ++i) {
    eng::InputConfig in;
    in.name = "in " + std::to_string(i + 1);
    in.source = "tone:" + std::to_string(110 + 50 * i);
    in.pan = inputs > 1 ? -1.0 + 2.0 * i / (inputs - 1) : 0.0;
    in.level_db = -12.0;
    config.inputs.push_back(std::move(in));
  }
  return config;
}

RunResult run_point(const RunSpec& spec) {
  const bool nowait = spec.engine == EngineKind::nowait;
  if (spec.pull) return nowait ? run_nowait_pulled(spec) : run_baseline_pulled(spec);
  return nowait ? run_nowait_clocked(spec) : run_baseline_clocked(spec);
}

}  // namespace nwbench
