#include "baseline_engine.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <stdexcept>

#include "engine/driver.hpp"
#include "engine/feeder.hpp"

namespace nwbench {

namespace eng = nowait::engine;

namespace {

// The engine's feeder poll: half a block, within 0.5 .. 5 ms (feeder.cpp).
std::chrono::nanoseconds feeder_poll(const eng::StreamFormat& format) {
  const double half_block_ns = format.block_seconds() * 0.5e9;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::clamp(half_block_ns, 0.5e6, 5e6)));
}

// The engine's master ring depth with its default options and no sinks:
// 10 s of blocks, at least 64 (engine.cpp).
std::size_t master_ring_slots(const eng::StreamFormat& format) {
  const double blocks_per_second = static_cast<double>(format.sample_rate) / format.block_frames;
  return std::max<std::size_t>(64, static_cast<std::size_t>(std::ceil(10.0 * blocks_per_second)));
}

// One warning per role when SCHED_FIFO is refused (request_fifo_priority).
std::atomic<bool> clock_warned{false};
std::atomic<bool> feeders_warned{false};

}  // namespace

nowait::HistogramLayout process_histogram_layout() { return nowait::HistogramLayout(100, 1'000'000'000, 32); }

// ---------------------------------------------------------------------------
// BaselineEngine: control side

BaselineEngine::BaselineEngine() : process_histogram_(process_histogram_layout()) {}

BaselineEngine::~BaselineEngine() { stop(); }

void BaselineEngine::prepare(const eng::EngineConfig& config, eng::FeedMode mode, int feeder_priority) {
  if (prepared_) throw std::logic_error("BaselineEngine::prepare: already prepared");
  if (config.inputs.size() > eng::max_inputs)
    throw std::invalid_argument("BaselineEngine: more than max_inputs inputs");
  format_ = config.format;
  feed_ = mode;
  feeder_priority_ = feeder_priority;
  block_samples_ = format_.block_samples();
  capacity_samples_ = eng::input_ring_frames(format_) * eng::channels;
  poll_ = feeder_poll(format_);
  build_output(config);
  for (const eng::InputConfig& input : config.inputs) build_input(input);
  prepared_ = true;
  if (feed_ != eng::FeedMode::threads) return;
  for (auto& in : inputs_) in->feeder = std::thread([this, &input = *in] { feed(input); });
}

void BaselineEngine::build_output(const eng::EngineConfig& config) {
  master_ = std::make_unique<float[]>(block_samples_);
  master_gain_.reset(static_cast<float>(eng::db_to_linear(config.master_gain_db)));
  master_meter_ = eng::LevelMeter(format_);
  auto [writer, hub] = eng::MasterRing::create(master_ring_slots(format_), block_samples_);
  master_writer_.emplace(std::move(writer));
  master_hub_.emplace(std::move(hub));
  auto [meter_tx, meter_rx] = nowait::TripleBuffer<eng::MeterFrame>::create();
  meter_writer_.emplace(std::move(meter_tx));
  meter_reader_.emplace(std::move(meter_rx));
  if (const std::uint32_t decimation = eng::scope_decimation(format_.sample_rate, config.scope_rate);
      decimation != 0) {
    const std::size_t pairs_per_second = static_cast<std::size_t>(format_.sample_rate) / decimation;
    auto [scope_tx, scope_rx] = eng::ScopeRing::create(std::max<std::size_t>(1024, pairs_per_second));
    scope_tap_ = eng::ScopeTap(std::move(scope_tx), decimation, scope_dropped_);
    scope_reader_.emplace(std::move(scope_rx));
  }
}

void BaselineEngine::build_input(const eng::InputConfig& config) {
  auto in = std::make_unique<Input>();
  in->source = eng::default_source_factory(config, format_);
  in->scratch.resize(block_samples_);
  in->block.resize(block_samples_);
  const eng::StereoGain gain = eng::pan_gains(config.gain_db, config.pan, config.mute);
  in->left.reset(gain.left);
  in->right.reset(gain.right);
  in->meter = eng::LevelMeter(format_);
  top_up(*in);  // prefilled to the brim, like the engine's ring
  inputs_.push_back(std::move(in));
}

void BaselineEngine::stop() {
  for (auto& in : inputs_) {
    {
      std::lock_guard lock(in->mutex);
      in->stop = true;
    }
    in->wake.notify_all();
  }
  for (auto& in : inputs_)
    if (in->feeder.joinable()) in->feeder.join();
}

void BaselineEngine::pull_inputs() {
  if (feed_ != eng::FeedMode::pull) return;
  for (auto& in : inputs_) top_up(*in);
}

// Whole blocks while a block fits, like Feeder::top_up(). The source renders
// outside the lock; the append and the fill check take it.
void BaselineEngine::top_up(Input& in) {
  const auto block_frames = static_cast<std::size_t>(format_.block_frames);
  for (;;) {
    {
      std::lock_guard lock(in.mutex);
      if (in.stop || in.samples.size() + block_samples_ > capacity_samples_) return;
    }
    const std::size_t frames = std::min(in.source->render(in.scratch), block_frames);
    std::lock_guard lock(in.mutex);
    in.samples.insert(in.samples.end(), in.scratch.begin(),
                      in.scratch.begin() + static_cast<std::ptrdiff_t>(frames * eng::channels));
    if (frames < block_frames) {
      in.stop = true;  // a one-shot source has ended: nothing more to feed
      return;
    }
  }
}

// The feeder thread: top up, then wait half a block (or until stop()).
void BaselineEngine::feed(Input& in) {
  if (feeder_priority_ > 0) eng::request_fifo_priority(feeder_priority_, "baseline feeders", feeders_warned);
  for (;;) {
    top_up(in);
    std::unique_lock lock(in.mutex);
    if (in.wake.wait_for(lock, poll_, [&in] { return in.stop; })) return;
  }
}

// ---------------------------------------------------------------------------
// BaselineEngine: RT side

void BaselineEngine::read_input(Input& in) noexcept {
  std::size_t n = 0;
  {
    std::lock_guard lock(in.mutex);
    n = std::min(in.samples.size(), block_samples_);
    const auto end = in.samples.begin() + static_cast<std::ptrdiff_t>(n);
    std::copy(in.samples.begin(), end, in.block.begin());
    in.samples.erase(in.samples.begin(), end);
  }
  std::fill(in.block.begin() + static_cast<std::ptrdiff_t>(n), in.block.end(), 0.0f);
  if (n != block_samples_) in.underrun_blocks.add(1);
}

void BaselineEngine::mix_and_publish() noexcept {
  const std::span<float> master(master_.get(), block_samples_);
  std::fill(master.begin(), master.end(), 0.0f);
  for (auto& in : inputs_) {
    read_input(*in);
    eng::apply_stereo_gain(in->block, in->left, in->right);
    eng::accumulate(master, in->block);
  }
  const std::uint64_t clipped = eng::apply_master_gain(master, master_gain_);
  if (clipped != 0) clipped_samples_.add(clipped);

  eng::MeterFrame& frame = meter_writer_->back();
  frame.block = master_writer_->written();
  frame.valid = true;
  frame.input_count = static_cast<std::uint32_t>(inputs_.size());
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    frame.input_ids[i] = static_cast<std::uint32_t>(i + 1);
    frame.inputs[i] = inputs_[i]->meter.measure(inputs_[i]->block);
  }
  frame.master = master_meter_.measure(master);
  meter_writer_->publish();

  master_writer_->write(master);
  scope_tap_.push(master);
}

void BaselineEngine::process() noexcept {
  const std::int64_t start_ns = nowait::monotonic_ns();
  mix_and_publish();
  blocks_.add(1);
  const std::int64_t end_ns = nowait::monotonic_ns();
  process_histogram_.record(static_cast<std::uint64_t>(end_ns > start_ns ? end_ns - start_ns : 0));
}

// ---------------------------------------------------------------------------
// BaselineClock

BaselineClock::BaselineClock(bool realtime_priority, int priority)
    : realtime_priority_(realtime_priority), priority_(priority) {}

BaselineClock::~BaselineClock() { stop(); }

void BaselineClock::start(BaselineEngine& engine) {
  if (thread_.joinable()) throw std::logic_error("BaselineClock::start: already started");
  if (!engine.prepared()) throw std::logic_error("BaselineClock::start: the engine is not prepared");
  stop_.store(false, std::memory_order_relaxed);  // relaxed: the thread that reads it does not exist yet
  thread_ = std::thread([this, &engine] { run(engine); });
}

void BaselineClock::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);  // release: nothing rides on it but the stop itself
  thread_.join();
}

void BaselineClock::run(BaselineEngine& engine) noexcept {
  if (realtime_priority_) {
    const bool granted = eng::request_fifo_priority(priority_, "baseline clock", clock_warned);
    realtime_.store(granted, std::memory_order_relaxed);  // relaxed: a flag read for the report
  }
  const eng::StreamFormat format = engine.format();
  const auto block = static_cast<std::uint64_t>(format.block_frames);
  const std::int64_t t0 = nowait::monotonic_ns();
  std::uint64_t frames = 0;
  for (;;) {
    eng::sleep_until_ns(t0 + eng::frames_to_ns(frames, format.sample_rate));
    if (stop_.load(std::memory_order_acquire)) break;  // acquire: pairs with stop()'s release
    engine.process();
    frames += block;
    if (nowait::monotonic_ns() > t0 + eng::frames_to_ns(frames, format.sample_rate))
      misses_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
    frames_.store(frames, std::memory_order_relaxed);   // relaxed: a figure
  }
}

}  // namespace nwbench
