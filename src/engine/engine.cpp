// The engine: the RT side (process() and what it calls, all NOWAIT_NONBLOCKING)
// first, then prepare() and the control side. The two halves share Impl but
// touch disjoint members, except through the core's primitives: the command
// channel, the rings, the triple buffer and the metrics.
#include "engine/engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "engine/feeder.hpp"
#include "engine/mixer.hpp"
#include "engine/recorder.hpp"
#include "nowait/broadcast_ring.hpp"
#include "nowait/command_channel.hpp"
#include "nowait/pipeline_status.hpp"
#include "nowait/rate_tracker.hpp"
#include "nowait/snapshot.hpp"

namespace nowait::engine {

namespace {

// ---------------------------------------------------------------------------
// What travels between the two sides

// The RT-side state of one input. Built on the control thread, lent to the RT
// thread in an add_input command, retired back (and freed on a control
// thread) after remove_input or at shutdown.
struct InputStrip {
  InputStrip(std::uint32_t input_id, InputRing::Consumer consumer, const StreamFormat& format,
             StereoGain gain, Counter& underrun_blocks_counter, Counter& underrun_frames_counter)
      : id(input_id),
        ring(std::move(consumer)),
        samples(format.block_samples()),
        buffer(std::make_unique<float[]>(format.block_samples())),
        left(gain.left),
        right(gain.right),
        meter(format),
        underrun_blocks(underrun_blocks_counter),
        underrun_frames(underrun_frames_counter) {}

  std::uint32_t id;
  InputRing::Consumer ring;
  std::size_t samples;              // one block, interleaved
  std::unique_ptr<float[]> buffer;  // this block's samples after gain and pan
  GainRamp left;
  GainRamp right;
  LevelMeter meter;
  StereoLevel level;  // this block's reading
  Counter& underrun_blocks;
  Counter& underrun_frames;
};

enum class CommandKind : std::uint8_t {
  add_input,
  remove_input,
  set_input_gain,
  set_master_gain,
  start_recording,
  stop_recording,
};

struct Command {
  CommandKind kind = CommandKind::set_master_gain;
  Ticket ticket = 0;
  std::uint32_t input = 0;      // remove_input, set_input_gain
  StereoGain gain;              // set_input_gain: the new effective gains
  float master = 1.0f;          // set_master_gain: the new linear gain
  InputStrip* strip = nullptr;  // add_input: the lent strip
};

struct Reply {
  Ticket ticket = 0;
  bool ok = true;
  const char* error = nullptr;  // static text, when !ok
  std::uint64_t block = 0;      // the block in which the command was applied
};

static_assert(realtime_safe_v<Command> && realtime_safe_v<Reply>, "commands cross the RT boundary by copy");

using Channel = CommandChannel<Command, Reply>;

constexpr std::size_t command_capacity = 256;
constexpr std::size_t reply_capacity = 256;
// Every live strip is a lent object until it is collected, so the return
// path must cover all inputs at once plus those on their way back.
constexpr std::size_t return_capacity = 2 * max_inputs + 16;
// Commands applied per block at most, so a flood of them cannot stretch one
// block; the rest wait for the next block.
constexpr int max_commands_per_block = 64;

// ---------------------------------------------------------------------------
// Small control-side helpers

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::size_t utf8_chars(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::optional<std::string> check_gain(double db) {
  if (std::isfinite(db) && db >= min_gain_db && db <= max_gain_db) return std::nullopt;
  return "gain " + number(db) + " dB is out of range " + number(min_gain_db) + ".." + number(max_gain_db) +
         " dB";
}

std::optional<std::string> check_pan(double pan) {
  if (std::isfinite(pan) && pan >= min_pan && pan <= max_pan) return std::nullopt;
  return "pan " + number(pan) + " is out of range " + number(min_pan) + ".." + number(max_pan);
}

std::optional<std::string> check_input(const InputConfig& c) {
  if (c.name.empty()) return std::string("an input needs a name");
  if (utf8_chars(c.name) > max_input_name_chars)
    return "input name '" + c.name + "' is longer than " + std::to_string(max_input_name_chars) +
           " characters";
  if (auto e = check_gain(c.gain_db)) return "input '" + c.name + "': " + *e;
  if (auto e = check_pan(c.pan)) return "input '" + c.name + "': " + *e;
  if (!std::isfinite(c.level_db) || c.level_db < min_level_db || c.level_db > max_level_db)
    return "input '" + c.name + "': level " + number(c.level_db) + " dBFS is out of range " +
           number(min_level_db) + ".." + number(max_level_db) + " dBFS";
  return std::nullopt;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

CommandResult failed(CommandFailure failure, std::string why) { return {false, std::move(why), 0, failure}; }

}  // namespace

std::unique_ptr<Source> default_source_factory(const InputConfig& config, const StreamFormat& format) {
  SourceOptions options;
  options.loop = config.loop;
  options.level_db = config.level_db;
  options.seed = 1 + fnv1a(config.name);
  return make_source(config.source, format, options);
}

// ---------------------------------------------------------------------------
// Impl

struct Engine::Impl {
  struct InputMetrics {
    Counter* underrun_blocks = nullptr;
    Counter* underrun_frames = nullptr;
    Counter* overrun_frames = nullptr;
  };

  struct ControlInput {
    std::string name;
    std::string source;  // the spec it was built from
    std::uint32_t id = 0;
    double gain_db = 0.0;
    double pan = 0.0;
    bool mute = false;
    std::unique_ptr<Feeder> feeder;
    InputMetrics metrics;
    bool removing = false;  // remove_input sent, not yet answered
  };

  struct PendingCommand {
    CommandKind kind = CommandKind::set_master_gain;
    std::uint32_t input = 0;
    bool abandoned = false;  // the caller stopped waiting: drop the result
    std::unique_ptr<Sink> recorder;
    std::optional<MasterRing::Reader> reader;
  };

  // Declared first so that it goes last: every other member may hold
  // references to metrics it owns.
  Registry registry;

  // ---- fixed at prepare() ----
  bool is_prepared = false;
  bool is_shut_down = false;
  EngineConfig config;
  EngineOptions options;
  StreamFormat format;
  std::uint32_t ramp_length = 1;
  std::size_t master_slots = 0;

  // Metrics (owned by the registry).
  Counter* blocks_total = nullptr;
  Counter* clipped_samples = nullptr;
  Counter* scope_dropped = nullptr;
  Counter* deadline_misses = nullptr;
  Gauge<double>* drift_ms = nullptr;
  Gauge<std::uint64_t>* buffered_frames = nullptr;
  PipelineStatus* pipeline = nullptr;
  StageTimer* mix_timer = nullptr;
  StageTimer* meters_timer = nullptr;
  StageTimer* broadcast_timer = nullptr;
  StageTimer* process_timer = nullptr;
  Histogram* process_histogram = nullptr;
  // process() times of the open status window (see EngineStatus); not exported.
  std::optional<Histogram> window_histogram;

  // ---- RT side: touched only by process() (and by shutdown() once it has stopped) ----
  std::optional<Channel::Realtime> rt;
  std::optional<MasterRing::Writer> master_writer;
  std::optional<TripleBuffer<MeterFrame>::Writer> meter_writer;
  ScopeTap scope_tap;
  std::array<InputStrip*, max_inputs> strips{};
  std::size_t strip_count = 0;
  GainRamp master_gain;
  LevelMeter master_meter;
  std::unique_ptr<float[]> master_block;
  std::size_t block_samples = 0;

  // ---- control side: guarded by control_mutex ----
  mutable std::mutex control_mutex;
  std::optional<Channel::Control> control;
  std::optional<MasterRing> hub;
  std::optional<TripleBuffer<MeterFrame>::Reader> meter_reader;
  ScopeReader scope_reader;  // one control thread at a time, by contract
  std::vector<ControlInput> inputs;
  std::map<std::string, InputMetrics>
      input_metrics;  // by name; kept after removal (the registry cannot drop series)
  std::uint32_t next_input_id = 1;
  double master_gain_db = 0.0;
  Ticket next_ticket = 1;
  std::map<Ticket, PendingCommand> pending;
  std::map<Ticket, CommandResult> done;
  bool recording_requested = false;  // a start is sent or active, and no stop sent
  // The status window (see EngineStatus): when the open one began, and the
  // figures of the latest closed one (none before the first closes).
  std::chrono::steady_clock::time_point window_start{};
  std::optional<ProcessWindow> closed_window;

  // ---- sinks: guarded by sinks_mutex (also read by registry callbacks) ----
  // Lock order: control_mutex, then sinks_mutex; the registry's mutex is held
  // while its callbacks take sinks_mutex, so nothing registers under sinks_mutex.
  mutable std::mutex sinks_mutex;
  std::vector<std::unique_ptr<Sink>> sinks;
  std::unique_ptr<Sink> recorder;  // the latest recording's sink, kept after it stops for its status
  bool recorder_running = false;

  RateTracker<1> block_rate;
  std::vector<const Sink*> sinks_given_up;  // wait_for_sinks() stopped waiting for these; control_mutex

  // ==== RT side ================================================================

  InputStrip* find_strip(std::uint32_t id, std::size_t* index) const noexcept NOWAIT_NONBLOCKING {
    for (std::size_t i = 0; i < strip_count; ++i) {
      if (strips[i]->id == id) {
        if (index != nullptr) *index = i;
        return strips[i];
      }
    }
    return nullptr;
  }

  void apply(const Command& cmd) noexcept NOWAIT_NONBLOCKING {
    Reply reply;
    reply.ticket = cmd.ticket;
    reply.block = master_writer->written();
    switch (cmd.kind) {
      case CommandKind::add_input:
        if (strip_count == strips.size()) {
          rt->retire(cmd.strip);
          reply.ok = false;
          reply.error = "too many inputs";
        } else {
          strips[strip_count++] = cmd.strip;
        }
        break;
      case CommandKind::remove_input: {
        std::size_t at = 0;
        if (InputStrip* strip = find_strip(cmd.input, &at)) {
          // Shift, not swap: the mixing order, and with it the float sums,
          // must not change for the inputs that stay.
          for (std::size_t i = at; i + 1 < strip_count; ++i) strips[i] = strips[i + 1];
          strips[--strip_count] = nullptr;
          rt->retire(strip);
        } else {
          reply.ok = false;
          reply.error = "unknown input";
        }
        break;
      }
      case CommandKind::set_input_gain:
        if (InputStrip* strip = find_strip(cmd.input, nullptr)) {
          strip->left.set_target(cmd.gain.left, ramp_length);
          strip->right.set_target(cmd.gain.right, ramp_length);
        } else {
          reply.ok = false;
          reply.error = "unknown input";
        }
        break;
      case CommandKind::set_master_gain:
        master_gain.set_target(cmd.master, ramp_length);
        break;
      case CommandKind::start_recording:
      case CommandKind::stop_recording:
        // Nothing to change here: the reply stamps the block boundary, and the
        // control side starts or stops the recorder's reader exactly there.
        break;
    }
    rt->try_reply(reply);  // a lost reply is counted by the channel; the command still took effect
  }

  void apply_commands() noexcept NOWAIT_NONBLOCKING {
    for (int i = 0; i < max_commands_per_block; ++i) {
      const std::optional<Command> cmd = rt->try_receive();
      if (!cmd) return;
      apply(*cmd);
    }
  }

  // Reads one block of `strip` into its buffer; a shortfall is zero-filled
  // and, unless the input has ended, counted as an underrun. Returns whether
  // it underran.
  static bool read_input(InputStrip& strip) noexcept NOWAIT_NONBLOCKING {
    // Checked before the read: once the producer is gone every frame it
    // pushed is readable, so a shortfall now is the end of the input.
    const bool ended = strip.ring.is_abandoned();
    auto chunk = strip.ring.read_chunk(strip.samples);
    float* out = strip.buffer.get();
    std::size_t n = 0;
    for (float s : chunk.first()) out[n++] = s;
    for (float s : chunk.second()) out[n++] = s;
    chunk.commit(n);
    for (std::size_t i = n; i < strip.samples; ++i) out[i] = 0.0f;
    if (n == strip.samples || ended) return false;
    strip.underrun_blocks.add(1);
    strip.underrun_frames.add((strip.samples - n) / channels);
    return true;
  }

  void process() noexcept NOWAIT_NONBLOCKING {
    const std::int64_t start_ns = monotonic_ns();
    apply_commands();

    const std::span<float> master(master_block.get(), block_samples);
    bool underran = false;
    std::size_t fullest = 0;
    {
      ScopedTimer timer(*mix_timer);
      for (float& s : master) s = 0.0f;
      for (std::size_t i = 0; i < strip_count; ++i) {
        InputStrip& strip = *strips[i];
        fullest = std::max(fullest, strip.ring.available() / channels);
        if (read_input(strip)) underran = true;
        const std::span<float> block(strip.buffer.get(), strip.samples);
        apply_stereo_gain(block, strip.left, strip.right);
        accumulate(master, block);
      }
      const std::uint64_t clipped = apply_master_gain(master, master_gain);
      if (clipped != 0) clipped_samples->add(clipped);
    }
    {
      ScopedTimer timer(*meters_timer);
      MeterFrame& frame = meter_writer->back();
      frame.block = master_writer->written();
      frame.valid = true;
      frame.input_count = static_cast<std::uint32_t>(strip_count);
      for (std::size_t i = 0; i < strip_count; ++i) {
        InputStrip& strip = *strips[i];
        frame.input_ids[i] = strip.id;
        frame.inputs[i] = strip.meter.measure(std::span<const float>(strip.buffer.get(), strip.samples));
      }
      frame.master = master_meter.measure(master);
      meter_writer->publish();
    }
    {
      ScopedTimer timer(*broadcast_timer);
      master_writer->write(master);
      scope_tap.push(master);
    }

    buffered_frames->set(fullest);
    pipeline->set_audio_lag_ms(static_cast<std::int64_t>(
        (static_cast<double>(fullest) * 1000.0 + format.sample_rate / 2) / format.sample_rate));
    pipeline->add_chunk(underran);
    blocks_total->add(1);
    const std::int64_t end_ns = monotonic_ns();
    const auto elapsed = static_cast<std::uint64_t>(end_ns > start_ns ? end_ns - start_ns : 0);
    pipeline->set_inference_time_ms((elapsed + 500'000) / 1'000'000);
    process_histogram->record(elapsed);
    process_timer->record(elapsed);
    window_histogram->record(elapsed);
  }

  // ==== prepare ================================================================

  // The latest closed status window, closing the open one first when it is a
  // second old; before any has closed, everything so far. control_mutex held.
  ProcessWindow process_window() {
    using clock = std::chrono::steady_clock;
    const clock::time_point now = clock::now();
    const std::chrono::duration<double> open_for = now - window_start;
    if (open_for >= std::chrono::seconds(1) || !closed_window) {
      const bool close = open_for >= std::chrono::seconds(1);
      const HistogramSnapshot h =
          close ? window_histogram->snapshot_and_reset() : window_histogram->snapshot();
      ProcessWindow w;
      w.blocks = h.count();
      w.seconds = open_for.count();
      w.mean_ms = h.mean() / 1e6;
      w.p50_ms = static_cast<double>(h.p50()) / 1e6;
      w.p99_ms = static_cast<double>(h.p99()) / 1e6;
      w.max_ms = static_cast<double>(h.max()) / 1e6;
      if (!close) return w;
      closed_window = w;
      window_start = now;
    }
    return *closed_window;
  }

  void register_metrics() {
    blocks_total = &registry.counter("nowait_blocks_total", "Blocks mixed by the engine");
    clipped_samples = &registry.counter("nowait_clipped_samples_total",
                                        "Master samples beyond full scale (|x| > 1), passed on as they are");
    scope_dropped = &registry.counter("nowait_scope_dropped_pairs_total",
                                      "XY scope pairs dropped because the scope ring was full");
    deadline_misses = &registry.counter("nowait_deadline_misses_total",
                                        "Blocks whose process() ended after the next block's deadline");
    drift_ms = &registry.gauge<double>(
        "nowait_clock_drift_seconds",
        "Wall-clock time elapsed minus audio time processed (positive: audio behind)", Unit::milliseconds);
    buffered_frames = &registry.gauge<std::uint64_t>(
        "nowait_input_buffered_frames", "Frames waiting in the fullest input ring at the latest block");
    pipeline = &registry.pipeline_status("nowait_mix", format.block_seconds());
    mix_timer = &registry.stage_timer("nowait_stage", "Engine stage time", {{"stage", "mix"}});
    meters_timer = &registry.stage_timer("nowait_stage", "Engine stage time", {{"stage", "meters"}});
    broadcast_timer = &registry.stage_timer("nowait_stage", "Engine stage time", {{"stage", "broadcast"}});
    process_timer = &registry.stage_timer("nowait_stage", "Engine stage time", {{"stage", "process"}});
    process_histogram = &registry.histogram("nowait_process_duration_seconds", "Time of one process() call",
                                            Unit::nanoseconds, HistogramLayout(100, 1'000'000'000, 32));
    window_histogram.emplace(HistogramLayout(100, 1'000'000'000, 32));
    window_start = std::chrono::steady_clock::now();
    registry.callback_gauge("nowait_blocks_per_second", "Blocks mixed per second since the previous scrape",
                            Unit::none,
                            [this] { return block_rate.update({blocks_total->value()}).instant[0]; });
    registry.callback_gauge("nowait_inputs", "Inputs the control side knows of", Unit::none, [this] {
      std::lock_guard lock(inputs_count_mutex);
      return static_cast<double>(inputs_count);
    });
    // One series for whichever recording is current (or was the latest).
    register_sink_metrics("recording", [this]() -> std::optional<SinkStatus> {
      std::lock_guard lock(sinks_mutex);
      if (!recorder) return std::nullopt;
      return recorder->status();
    });
  }

  // The count of inputs for the registry callback, which must not take
  // control_mutex (a control thread may hold it while it reads the registry).
  mutable std::mutex inputs_count_mutex;
  std::size_t inputs_count = 0;
  void publish_inputs_count() {
    std::lock_guard lock(inputs_count_mutex);
    inputs_count = inputs.size();
  }

  InputMetrics& metrics_for(const std::string& name) {
    auto it = input_metrics.find(name);
    if (it != input_metrics.end()) return it->second;
    const Labels labels{{"input", name}};
    InputMetrics m;
    m.underrun_blocks =
        &registry.counter("nowait_input_underrun_blocks_total",
                          "Blocks in which the input had fewer frames than a block", Unit::none, labels);
    m.underrun_frames = &registry.counter("nowait_input_underrun_frames_total",
                                          "Frames of silence put in for missing input", Unit::none, labels);
    m.overrun_frames =
        &registry.counter("nowait_input_overrun_frames_total",
                          "Frames a push-paced input could not fit in its ring", Unit::none, labels);
    return input_metrics.emplace(name, m).first->second;
  }

  void register_sink_metrics(const std::string& label, std::function<std::optional<SinkStatus>()> read) {
    const Labels labels{{"sink", label}};
    auto field = [read](std::uint64_t SinkStatus::*member) {
      return [read, member] {
        const std::optional<SinkStatus> s = read();
        return s ? static_cast<double>((*s).*member) : 0.0;
      };
    };
    registry.callback_gauge("nowait_sink_dropouts", "Dropout events the sink saw", Unit::none,
                            field(&SinkStatus::dropouts), labels);
    registry.callback_gauge("nowait_sink_lost_blocks", "Blocks the sink lost in dropouts", Unit::none,
                            field(&SinkStatus::blocks_lost), labels);
    registry.callback_gauge("nowait_sink_written_blocks", "Blocks the sink consumed", Unit::none,
                            field(&SinkStatus::blocks_written), labels);
    registry.callback_gauge("nowait_sink_written_bytes", "Bytes the sink wrote", Unit::bytes,
                            field(&SinkStatus::bytes_written), labels);
    registry.callback_gauge(
        "nowait_sink_failed", "1 when the sink has failed", Unit::none,
        [read] {
          const std::optional<SinkStatus> s = read();
          return s && s->state == SinkState::failed ? 1.0 : 0.0;
        },
        labels);
  }

  void prepare(const EngineConfig& cfg, EngineOptions opts) {
    if (is_prepared) throw std::logic_error("Engine::prepare: already prepared");
    validate(cfg);
    config = cfg;
    options = std::move(opts);
    if (!options.source_factory) options.source_factory = default_source_factory;
    format = cfg.format;
    ramp_length = ramp_frames(format.sample_rate);
    block_samples = format.block_samples();

    register_metrics();

    auto [control_end, rt_end] = Channel::create(command_capacity, reply_capacity, return_capacity);
    control.emplace(std::move(control_end));
    rt.emplace(std::move(rt_end));

    double ring_seconds = std::max(0.0, options.master_ring_seconds);
    for (const SinkConfig& s : cfg.sinks) ring_seconds = std::max(ring_seconds, s.buffer_seconds);
    const double blocks_per_second = static_cast<double>(format.sample_rate) / format.block_frames;
    master_slots =
        std::max<std::size_t>(64, static_cast<std::size_t>(std::ceil(ring_seconds * blocks_per_second)));
    auto [writer, ring_hub] = MasterRing::create(master_slots, block_samples);
    master_writer.emplace(std::move(writer));
    hub.emplace(std::move(ring_hub));

    auto [meter_tx, meter_rx] = TripleBuffer<MeterFrame>::create();
    meter_writer.emplace(std::move(meter_tx));
    meter_reader.emplace(std::move(meter_rx));

    if (const std::uint32_t decimation = scope_decimation(format.sample_rate, cfg.scope_rate);
        decimation != 0) {
      const std::size_t pairs_per_second = static_cast<std::size_t>(format.sample_rate) / decimation;
      auto [scope_tx, scope_rx] = ScopeRing::create(std::max<std::size_t>(1024, pairs_per_second));
      scope_tap = ScopeTap(std::move(scope_tx), decimation, *scope_dropped);
      scope_reader = ScopeReader(std::move(scope_rx), options.scope_display_pairs);
    }

    master_block = std::make_unique<float[]>(block_samples);
    master_gain_db = cfg.master_gain_db;
    master_gain.reset(static_cast<float>(db_to_linear(cfg.master_gain_db)));
    master_meter = LevelMeter(format);
    is_prepared = true;

    // The inputs go through the same path as add_input at run time. Nothing
    // calls process() yet, so this thread may act as the RT side and apply
    // the commands itself.
    std::lock_guard lock(control_mutex);
    std::vector<Ticket> tickets;
    for (const InputConfig& input : cfg.inputs) tickets.push_back(submit_locked(request::AddInput{input}));
    apply_commands();
    service_locked();
    for (Ticket t : tickets) {
      auto it = done.find(t);
      if (it == done.end() || !it->second.ok)
        throw std::invalid_argument(it == done.end() ? "an input was not installed" : it->second.error);
      done.erase(it);
    }

    if (options.start_sinks) {
      for (const SinkConfig& s : cfg.sinks) add_sink_locked(make_sink(s, format));
    }
  }

  void validate(const EngineConfig& c) const {
    auto fail = [](const std::string& why) { throw std::invalid_argument("engine config: " + why); };
    if (c.format.sample_rate < min_sample_rate || c.format.sample_rate > max_sample_rate)
      fail("sample_rate " + std::to_string(c.format.sample_rate) + " is out of range " +
           std::to_string(min_sample_rate) + ".." + std::to_string(max_sample_rate) + " Hz");
    if (c.format.block_frames < min_block_frames || c.format.block_frames > max_block_frames)
      fail("block_frames " + std::to_string(c.format.block_frames) + " is out of range " +
           std::to_string(min_block_frames) + ".." + std::to_string(max_block_frames));
    if (auto e = check_gain(c.master_gain_db)) fail("master " + *e);
    if (c.scope_rate < 0 || c.scope_rate > c.format.sample_rate)
      fail("scope_rate " + std::to_string(c.scope_rate) + " is out of range 0.." +
           std::to_string(c.format.sample_rate));
    if (c.inputs.size() > max_inputs)
      fail(std::to_string(c.inputs.size()) + " inputs; at most " + std::to_string(max_inputs));
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      if (auto e = check_input(c.inputs[i])) fail(*e);
      for (std::size_t j = 0; j < i; ++j)
        if (c.inputs[j].name == c.inputs[i].name) fail("two inputs are named '" + c.inputs[i].name + "'");
    }
  }

  // ==== control side ===========================================================

  ControlInput* find_input(std::string_view name) {
    for (ControlInput& in : inputs)
      if (in.name == name && !in.removing) return &in;
    return nullptr;
  }

  Ticket complete_now(CommandResult r) {
    const Ticket t = next_ticket++;
    done.emplace(t, std::move(r));
    return t;
  }

  Ticket send(const Command& base, PendingCommand p) {
    Command cmd = base;
    cmd.ticket = next_ticket;
    if (!control->try_send(cmd))
      return complete_now(failed(CommandFailure::unavailable, "the command queue is full; try again"));
    const Ticket t = next_ticket++;
    p.kind = cmd.kind;
    pending.emplace(t, std::move(p));
    return t;
  }

  Ticket submit_locked(Request r) {
    if (!is_prepared) return complete_now(failed(CommandFailure::unavailable, "the engine is not prepared"));
    if (is_shut_down) return complete_now(failed(CommandFailure::unavailable, "the engine is shut down"));
    return std::visit([this](auto& req) { return submit_one(req); }, r);
  }

  Ticket submit_one(request::AddInput& req) {
    const InputConfig& c = req.config;
    if (auto e = check_input(c)) return complete_now(failed(CommandFailure::invalid, *e));
    for (const ControlInput& in : inputs)
      if (in.name == c.name)
        return complete_now(
            failed(CommandFailure::conflict, "an input named '" + c.name + "' already exists" +
                                                 (in.removing ? " (it is being removed)" : "")));
    if (inputs.size() >= max_inputs)
      return complete_now(
          failed(CommandFailure::conflict, "too many inputs: at most " + std::to_string(max_inputs)));

    ControlInput in;
    in.name = c.name;
    in.source = c.source;
    in.id = next_input_id;
    in.gain_db = c.gain_db;
    in.pan = c.pan;
    in.mute = c.mute;
    std::unique_ptr<InputStrip> strip;
    try {
      in.metrics = metrics_for(c.name);
      std::unique_ptr<Source> source = options.source_factory(c, format);
      if (!source) return complete_now(failed(CommandFailure::invalid, "input '" + c.name + "': no source"));
      auto [producer, consumer] = InputRing::create(input_ring_frames(format) * channels);
      strip = std::make_unique<InputStrip>(in.id, std::move(consumer), format,
                                           pan_gains(c.gain_db, c.pan, c.mute), *in.metrics.underrun_blocks,
                                           *in.metrics.underrun_frames);
      in.feeder = std::make_unique<Feeder>(c.name, std::move(source), std::move(producer), format,
                                           *in.metrics.overrun_frames);
    } catch (const std::exception& e) {
      return complete_now(failed(CommandFailure::invalid, "input '" + c.name + "': " + e.what()));
    }
    // Prefilled to the brim before the RT side sees it, so it starts without
    // an underrun.
    in.feeder->top_up();
    if (options.feed == FeedMode::threads) in.feeder->start(options.feeder_priority);

    Command cmd;
    cmd.kind = CommandKind::add_input;
    cmd.ticket = next_ticket;
    cmd.input = in.id;
    cmd.strip = strip.get();
    if (!control->try_send_with(strip, cmd))
      return complete_now(failed(CommandFailure::unavailable,
                                 "the command queue is full; try again"));  // strip and feeder freed here
    ++next_input_id;
    const Ticket t = next_ticket++;
    PendingCommand p;
    p.kind = CommandKind::add_input;
    p.input = in.id;
    pending.emplace(t, std::move(p));
    inputs.push_back(std::move(in));
    publish_inputs_count();
    return t;
  }

  Ticket submit_one(request::RemoveInput& req) {
    ControlInput* in = find_input(req.name);
    if (in == nullptr)
      return complete_now(failed(CommandFailure::unknown, "unknown input '" + req.name + "'"));
    Command cmd;
    cmd.kind = CommandKind::remove_input;
    cmd.input = in->id;
    PendingCommand p;
    p.input = in->id;
    const Ticket t = send(cmd, std::move(p));
    if (pending.contains(t)) in->removing = true;
    return t;
  }

  Ticket send_gains(ControlInput& in) {
    Command cmd;
    cmd.kind = CommandKind::set_input_gain;
    cmd.input = in.id;
    cmd.gain = pan_gains(in.gain_db, in.pan, in.mute);
    PendingCommand p;
    p.input = in.id;
    return send(cmd, std::move(p));
  }

  // Applies `change` to the input's settings and sends the new gains; puts
  // the settings back if the command could not be sent.
  template <class Change>
  Ticket change_input(const std::string& name, Change change) {
    ControlInput* in = find_input(name);
    if (in == nullptr) return complete_now(failed(CommandFailure::unknown, "unknown input '" + name + "'"));
    const double gain_db = in->gain_db;
    const double pan = in->pan;
    const bool mute = in->mute;
    change(*in);
    const Ticket t = send_gains(*in);
    if (!pending.contains(t)) {
      in->gain_db = gain_db;
      in->pan = pan;
      in->mute = mute;
    }
    return t;
  }

  Ticket submit_one(request::SetGain& req) {
    if (auto e = check_gain(req.gain_db))
      return complete_now(failed(CommandFailure::invalid, "input '" + req.name + "': " + *e));
    return change_input(req.name, [&](ControlInput& in) { in.gain_db = req.gain_db; });
  }

  Ticket submit_one(request::SetPan& req) {
    if (auto e = check_pan(req.pan))
      return complete_now(failed(CommandFailure::invalid, "input '" + req.name + "': " + *e));
    return change_input(req.name, [&](ControlInput& in) { in.pan = req.pan; });
  }

  Ticket submit_one(request::SetMute& req) {
    return change_input(req.name, [&](ControlInput& in) { in.mute = req.mute; });
  }

  Ticket submit_one(request::SetMasterGain& req) {
    if (auto e = check_gain(req.gain_db))
      return complete_now(failed(CommandFailure::invalid, "master " + *e));
    Command cmd;
    cmd.kind = CommandKind::set_master_gain;
    cmd.master = static_cast<float>(db_to_linear(req.gain_db));
    const Ticket t = send(cmd, PendingCommand{});
    if (pending.contains(t)) master_gain_db = req.gain_db;
    return t;
  }

  Ticket submit_one(request::StartRecording& req) {
    if (recording_requested) {
      std::lock_guard lock(sinks_mutex);
      return complete_now(
          failed(CommandFailure::conflict,
                 "already recording" + (recorder ? " to '" + recorder->status().path + "'" : "")));
    }
    PendingCommand p;
    try {
      p.recorder = std::make_unique<RecorderSink>(req.path, req.format, req.sample_format, "recording");
    } catch (const std::exception& e) {
      return complete_now(failed(CommandFailure::invalid, std::string("recording: ") + e.what()));
    }
    // Subscribed before the command is sent, so the reader is at or before
    // the block the RT side will stamp, and can be moved up to it exactly.
    p.reader.emplace(hub->subscribe());
    Command cmd;
    cmd.kind = CommandKind::start_recording;
    const Ticket t = send(cmd, std::move(p));
    if (pending.contains(t)) recording_requested = true;
    return t;
  }

  Ticket submit_one(request::StopRecording&) {
    if (!recording_requested) return complete_now(failed(CommandFailure::conflict, "not recording"));
    Command cmd;
    cmd.kind = CommandKind::stop_recording;
    const Ticket t = send(cmd, PendingCommand{});
    if (pending.contains(t)) recording_requested = false;
    return t;
  }

  void stop_and_erase_input(std::uint32_t id) {
    auto it =
        std::find_if(inputs.begin(), inputs.end(), [id](const ControlInput& in) { return in.id == id; });
    if (it == inputs.end()) return;
    // The feeder joins its thread, then frees the source, here on a control thread.
    it->feeder.reset();
    inputs.erase(it);
    publish_inputs_count();
  }

  CommandResult handle(const Reply& reply, PendingCommand& p) {
    CommandResult result{reply.ok, reply.ok ? std::string() : std::string(reply.error), reply.block};
    switch (p.kind) {
      case CommandKind::add_input:
        if (!reply.ok) stop_and_erase_input(p.input);
        break;
      case CommandKind::remove_input:
        if (reply.ok) {
          stop_and_erase_input(p.input);
        } else {
          for (ControlInput& in : inputs)
            if (in.id == p.input) in.removing = false;
        }
        break;
      case CommandKind::set_input_gain:
      case CommandKind::set_master_gain:
        break;
      case CommandKind::start_recording:
        start_recorder(reply.block, p, result);
        break;
      case CommandKind::stop_recording: {
        Sink* sink = nullptr;
        {
          std::lock_guard lock(sinks_mutex);
          sink = recorder_running ? recorder.get() : nullptr;
          recorder_running = false;
        }
        // Not under sinks_mutex: stop() drains and closes the file, and
        // registry callbacks (status()) may run meanwhile.
        if (sink != nullptr) sink->stop();
        break;
      }
    }
    return result;
  }

  void start_recorder(std::uint64_t first_block, PendingCommand& p, CommandResult& result) {
    MasterRing::Reader& reader = *p.reader;
    std::vector<float> discard(block_samples);
    // Blocks before first_block were all written before the RT side replied.
    while (reader.position() < first_block) {
      if (reader.read(discard).status == ReadStatus::empty) break;
    }
    if (reader.position() != first_block) {
      result.ok = false;
      result.error = "the recording could not start at block " + std::to_string(first_block) +
                     " (the control side fell more than the master ring behind)";
      recording_requested = false;
      return;
    }
    try {
      p.recorder->start(std::move(reader), format);
    } catch (const std::exception& e) {
      result.ok = false;
      result.error = std::string("recording: ") + e.what();
      recording_requested = false;
      return;
    }
    std::unique_ptr<Sink> previous;
    {
      std::lock_guard lock(sinks_mutex);
      previous = std::exchange(recorder, std::move(p.recorder));
      recorder_running = true;
    }
    // The previous recording's sink is already stopped; destroying it joins nothing.
  }

  void service_locked() {
    if (!control) return;
    while (const std::optional<Reply> reply = control->try_receive()) {
      auto it = pending.find(reply->ticket);
      if (it == pending.end()) continue;
      CommandResult result = handle(*reply, it->second);
      if (!it->second.abandoned) done.emplace(reply->ticket, std::move(result));
      pending.erase(it);
    }
    control->collect();
  }

  void add_sink_locked(std::unique_ptr<Sink> sink) {
    if (!sink) throw std::invalid_argument("Engine::add_sink: null sink");
    Sink* raw = sink.get();
    std::string label = raw->status().name;
    {
      std::lock_guard lock(sinks_mutex);
      std::size_t same = 0;
      for (const auto& s : sinks)
        if (s->status().name == label) ++same;
      if (same != 0) label += "-" + std::to_string(same + 1);
    }
    if (label != raw->status().name) raw->rename(label);  // "recorder", "recorder-2": status names differ too
    raw->start(hub->subscribe(), format);
    {
      std::lock_guard lock(sinks_mutex);
      sinks.push_back(std::move(sink));
    }
    register_sink_metrics(label, [this, raw]() -> std::optional<SinkStatus> {
      std::lock_guard lock(sinks_mutex);
      return raw->status();
    });
  }

  void shutdown() {
    std::lock_guard lock(control_mutex);
    if (!is_prepared || is_shut_down) return;
    is_shut_down = true;
    for (ControlInput& in : inputs) in.feeder->stop();
    std::vector<Sink*> to_stop;
    {
      std::lock_guard sinks_lock(sinks_mutex);
      for (auto& s : sinks) to_stop.push_back(s.get());
      if (recorder) to_stop.push_back(recorder.get());
      recorder_running = false;
    }
    for (Sink* s : to_stop) s->stop();
    for (auto& [ticket, p] : pending) {
      if (p.recorder) p.recorder->stop();
    }

    // The RT thread has stopped (precondition), so this thread is the RT
    // end's owner now: it hands back every strip still in a command or held
    // by the mixer, as the channel's shutdown rule asks.
    while (const std::optional<Command> cmd = rt->try_receive()) {
      if (cmd->kind == CommandKind::add_input) rt->retire(cmd->strip);
    }
    for (std::size_t i = 0; i < strip_count; ++i) {
      rt->retire(strips[i]);
      strips[i] = nullptr;
    }
    strip_count = 0;
    service_locked();
    pending.clear();
    control->collect();
    inputs.clear();  // feeders and their sources, on this thread
    publish_inputs_count();
  }
};

// ---------------------------------------------------------------------------
// Engine

Engine::Engine() : impl_(std::make_unique<Impl>()) {}

Engine::~Engine() { shutdown(); }

void Engine::prepare(const EngineConfig& config, EngineOptions options) {
  impl_->prepare(config, std::move(options));
}

void Engine::process() noexcept NOWAIT_NONBLOCKING { impl_->process(); }

std::span<const float> Engine::last_block() const noexcept NOWAIT_NONBLOCKING {
  return {impl_->master_block.get(), impl_->block_samples};
}

void Engine::pull_inputs() {
  std::lock_guard lock(impl_->control_mutex);
  if (impl_->options.feed != FeedMode::pull) return;
  for (Impl::ControlInput& in : impl_->inputs) in.feeder->top_up();
}

void Engine::wait_for_sinks() {
  Impl& m = *impl_;
  std::lock_guard lock(m.control_mutex);
  if (!m.is_prepared || !m.options.render_waits_for_sinks) return;
  std::vector<const Sink*> running;
  {
    std::lock_guard sinks_lock(m.sinks_mutex);
    for (const auto& s : m.sinks) running.push_back(s.get());
    if (m.recorder && m.recorder_running) running.push_back(m.recorder.get());
  }
  const std::uint64_t written = m.blocks_total->value();
  const std::uint64_t allowed = m.master_slots / 2;
  for (const Sink* sink : running) {
    if (std::find(m.sinks_given_up.begin(), m.sinks_given_up.end(), sink) != m.sinks_given_up.end()) continue;
    std::uint64_t last_position = 0;
    auto last_progress = std::chrono::steady_clock::now();
    for (;;) {
      const SinkStatus s = sink->status();
      if (s.state != SinkState::running) break;
      const std::uint64_t position = s.start_block + s.blocks_written + s.blocks_lost;
      if (written <= position + allowed) break;
      const auto now = std::chrono::steady_clock::now();
      if (position != last_position) {
        last_position = position;
        last_progress = now;
      } else if (now - last_progress > std::chrono::seconds(1)) {
        m.sinks_given_up.push_back(sink);
        break;
      }
      // The sink thread polls the ring a quarter block at a time; so does this.
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

Ticket Engine::submit(Request r) {
  std::lock_guard lock(impl_->control_mutex);
  return impl_->submit_locked(std::move(r));
}

std::optional<CommandResult> Engine::result(Ticket ticket) {
  std::lock_guard lock(impl_->control_mutex);
  impl_->service_locked();
  auto it = impl_->done.find(ticket);
  if (it == impl_->done.end()) return std::nullopt;
  CommandResult r = std::move(it->second);
  impl_->done.erase(it);
  return r;
}

CommandResult Engine::call(Request r, std::chrono::milliseconds timeout) {
  const Ticket ticket = submit(std::move(r));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (std::optional<CommandResult> res = result(ticket)) return *std::move(res);
    if (std::chrono::steady_clock::now() >= deadline) break;
    // The RT side cannot wake a waiter (that would be a system call on the RT
    // thread), so the control side polls; a reply comes within a block.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::lock_guard lock(impl_->control_mutex);
  impl_->service_locked();
  if (auto it = impl_->done.find(ticket); it != impl_->done.end()) {
    CommandResult res = std::move(it->second);
    impl_->done.erase(it);
    return res;
  }
  if (auto it = impl_->pending.find(ticket); it != impl_->pending.end()) it->second.abandoned = true;
  return failed(CommandFailure::unavailable,
                "no reply from the real-time thread within " + std::to_string(timeout.count()) +
                    " ms (is a driver running?); the command may still take effect");
}

void Engine::service() {
  std::lock_guard lock(impl_->control_mutex);
  impl_->service_locked();
}

CommandResult Engine::add_input(const InputConfig& config) { return call(request::AddInput{config}); }
CommandResult Engine::remove_input(const std::string& name) { return call(request::RemoveInput{name}); }
CommandResult Engine::set_gain(const std::string& name, double gain_db) {
  return call(request::SetGain{name, gain_db});
}
CommandResult Engine::set_pan(const std::string& name, double pan) {
  return call(request::SetPan{name, pan});
}
CommandResult Engine::set_mute(const std::string& name, bool mute) {
  return call(request::SetMute{name, mute});
}
CommandResult Engine::set_master_gain(double gain_db) { return call(request::SetMasterGain{gain_db}); }
CommandResult Engine::start_recording(const std::string& path, const std::string& format,
                                      const std::string& sample_format) {
  return call(request::StartRecording{path, format, sample_format});
}
CommandResult Engine::stop_recording() { return call(request::StopRecording{}); }

void Engine::add_sink(std::unique_ptr<Sink> sink) {
  std::lock_guard lock(impl_->control_mutex);
  if (!impl_->is_prepared) throw std::logic_error("Engine::add_sink: prepare() first");
  impl_->add_sink_locked(std::move(sink));
}

MasterRing::Reader Engine::subscribe() const {
  NOWAIT_PRECONDITION(impl_->hub.has_value(), "Engine::subscribe: prepare() first");
  return impl_->hub->subscribe();
}

MeterFrame Engine::meters() {
  std::lock_guard lock(impl_->control_mutex);
  if (!impl_->meter_reader) return {};
  impl_->meter_reader->update();
  return impl_->meter_reader->front();
}

ScopeReader& Engine::scope() { return impl_->scope_reader; }

EngineStatus Engine::status() {
  Impl& m = *impl_;
  std::lock_guard lock(m.control_mutex);
  EngineStatus s;
  if (!m.is_prepared) return s;
  m.service_locked();
  s.blocks = m.blocks_total->value();
  s.uptime_seconds = static_cast<double>(s.blocks) * m.format.block_seconds();
  s.latency_ms = static_cast<double>(m.buffered_frames->value()) * 1000.0 / m.format.sample_rate;
  const PipelineStatus::Snapshot pipeline = m.pipeline->snapshot();
  s.drop_percent = 100.0 * pipeline.drop_rate();
  s.dropped_blocks = pipeline.dropped_chunks;
  s.process = m.process_window();
  const double period_ms = m.format.block_seconds() * 1e3;
  s.rtf = s.process.mean_ms / period_ms;
  s.max_rtf = s.process.max_ms / period_ms;
  s.blocks_per_second =
      s.process.seconds > 0 ? static_cast<double>(s.process.blocks) / s.process.seconds : 0.0;
  s.master_gain_db = m.master_gain_db;
  s.clipped_samples = m.clipped_samples->value();
  s.scope_dropped_pairs = m.scope_dropped->value();
  s.deadline_misses = m.deadline_misses->value();
  s.drift_ms = m.drift_ms->value();

  m.meter_reader->update();
  const MeterFrame& meters = m.meter_reader->front();
  s.master_peak_dbfs = linear_to_db(meters.master.peak());
  s.master_hold_dbfs = linear_to_db(meters.master.hold());
  s.master_levels = meters.master;
  for (const Impl::ControlInput& in : m.inputs) {
    if (in.removing) continue;
    InputStatus is;
    is.name = in.name;
    is.source = in.source;
    is.gain_db = in.gain_db;
    is.pan = in.pan;
    is.mute = in.mute;
    is.peak_dbfs = -std::numeric_limits<double>::infinity();
    is.hold_dbfs = is.peak_dbfs;
    for (std::uint32_t i = 0; i < meters.input_count; ++i) {
      if (meters.input_ids[i] == in.id) {
        is.peak_dbfs = linear_to_db(meters.inputs[i].peak());
        is.hold_dbfs = linear_to_db(meters.inputs[i].hold());
        is.levels = meters.inputs[i];
      }
    }
    is.underrun_blocks = in.metrics.underrun_blocks->value();
    is.overrun_frames = in.metrics.overrun_frames->value();
    is.ended = in.feeder->ended();
    s.inputs.push_back(std::move(is));
  }

  std::lock_guard sinks_lock(m.sinks_mutex);
  for (const auto& sink : m.sinks) s.sinks.push_back(sink->status());
  if (m.recorder) {
    SinkStatus r = m.recorder->status();
    s.recording.active = m.recorder_running && r.state == SinkState::running;
    s.recording.path = r.path;
    s.recording.bytes = r.bytes_written;
    s.recording.seconds = static_cast<double>(r.frames_written) / m.format.sample_rate;
    s.recording.blocks_lost = r.blocks_lost;
    s.recording.error = r.error;
    s.sinks.push_back(std::move(r));
  }
  return s;
}

std::vector<std::string> Engine::input_names() const {
  std::lock_guard lock(impl_->control_mutex);
  std::vector<std::string> names;
  for (const Impl::ControlInput& in : impl_->inputs)
    if (!in.removing) names.push_back(in.name);
  return names;
}

Registry& Engine::registry() noexcept { return impl_->registry; }

DriverMetrics Engine::driver_metrics() noexcept {
  NOWAIT_PRECONDITION(impl_->is_prepared, "Engine::driver_metrics: prepare() first");
  return {*impl_->deadline_misses, *impl_->drift_ms};
}

const StreamFormat& Engine::format() const noexcept { return impl_->format; }
const EngineConfig& Engine::config() const noexcept { return impl_->config; }
FeedMode Engine::feed_mode() const noexcept { return impl_->options.feed; }
bool Engine::prepared() const noexcept { return impl_->is_prepared; }
std::uint64_t Engine::blocks_processed() const noexcept {
  return impl_->blocks_total == nullptr ? 0 : impl_->blocks_total->value();
}
std::size_t Engine::master_ring_slots() const noexcept { return impl_->master_slots; }

void Engine::shutdown() { impl_->shutdown(); }

}  // namespace nowait::engine
