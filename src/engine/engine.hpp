// nowait engine: the mixer engine. Several inputs, each a Source on its own
// producer thread feeding an SpscRing, mixed once per block by process() on
// the real-time thread into a master block that goes to a BroadcastRing (the
// sinks), a TripleBuffer of meter readings and the XY scope ring. The control
// side talks to the RT side only through a CommandChannel.
//
//   Engine engine;
//   engine.prepare(config);                        // control: builds everything, may allocate
//   VirtualClockDriver driver;  driver.start(engine);  // RT thread: engine.process() per block
//   engine.set_gain("tone A", -6.0);               // control: validated, sent, answered
//   EngineStatus s = engine.status();              // control
//   driver.stop();                                 // before the engine goes
//
// Threads (see docs/engine.md):
//   RT       process() and last_block(): the driver's thread, or the render
//            loop. Wait-free, allocation-free, NOWAIT_NONBLOCKING.
//   control  everything else; any number of control threads, serialised by a
//            mutex inside the engine (never taken by process()).
//   feeders  one producer thread per input (threaded feed mode).
//   sinks    one thread per sink.
// The engine must outlive its driver: stop the driver before shutdown() or
// destruction, since process() must not run concurrently with them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/config.hpp"
#include "engine/format.hpp"
#include "engine/meters.hpp"
#include "engine/scope.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"
#include "engine/thread_priority.hpp"
#include "nowait/metrics.hpp"
#include "nowait/registry.hpp"
#include "nowait/rt.hpp"

namespace nowait::engine {

// How inputs are fed.
enum class FeedMode {
  threads,  // each input's feeder has its own producer thread (real-time runs)
  pull,     // no threads: pull_inputs() renders them on the caller's thread (offline render)
};

// Builds an input's source. The default calls make_source(config.source,
// format, {config.loop, config.level_db, seed}) with a seed derived from the
// input's name, so noise inputs differ from each other and from run to run do not.
using SourceFactory = std::function<std::unique_ptr<Source>(const InputConfig&, const StreamFormat&)>;
std::unique_ptr<Source> default_source_factory(const InputConfig& config, const StreamFormat& format);

struct EngineOptions {
  FeedMode feed = FeedMode::threads;
  // The feeders' SCHED_FIFO priority in threads mode, below the RT thread's,
  // so that ordinary load cannot starve the input rings; 0 keeps them at
  // normal priority. Refused: they run at normal priority, saying so once.
  int feeder_priority = feeder_fifo_priority;
  SourceFactory source_factory;  // empty: default_source_factory
  // Build and start the config's [[sink]]s in prepare().
  bool start_sinks = true;
  // The master ring holds at least this many seconds of blocks (and at least
  // 64 blocks, and every sink's buffer_seconds), so a recording started later
  // or a reader of subscribe() can stall that long without a dropout.
  double master_ring_seconds = 10.0;
  // Pairs the scope's display buffer keeps.
  std::size_t scope_display_pairs = 4096;
  // Offline render only: before each block, wait for running sinks that are
  // more than half the master ring behind (see Engine::wait_for_sinks), so a
  // render faster than real time still reaches every sink whole.
  bool render_waits_for_sinks = true;
};

// What a command came to. `block` is the sequence number of the block in
// which the RT thread applied it: a gain ramp starts at that block's first
// frame; a recording starts with that block (start_recording) or ends before
// it at the earliest (stop_recording).
enum class CommandFailure {
  none,         // it succeeded
  invalid,      // a value out of range or NaN, a source or file that cannot be built
  unknown,      // no input of that name
  conflict,     // the name exists, too many inputs, already recording, not recording
  unavailable,  // the queue is full, no reply from the RT thread, the engine not running
};

struct CommandResult {
  bool ok = false;
  std::string error;  // why not, when !ok
  std::uint64_t block = 0;
  CommandFailure failure = CommandFailure::none;
};

// The commands, as the control side sends them.
namespace request {
struct AddInput {
  InputConfig config;
};
struct RemoveInput {
  std::string name;
};
struct SetGain {
  std::string name;
  double gain_db = 0.0;
};
struct SetPan {
  std::string name;
  double pan = 0.0;
};
struct SetMute {
  std::string name;
  bool mute = false;
};
struct SetMasterGain {
  double gain_db = 0.0;
};
struct StartRecording {
  std::string path;  // "{timestamp}" is expanded
  std::string format = "wav";
  std::string sample_format = "pcm24";
};
struct StopRecording {};
}  // namespace request

using Request =
    std::variant<request::AddInput, request::RemoveInput, request::SetGain, request::SetPan, request::SetMute,
                 request::SetMasterGain, request::StartRecording, request::StopRecording>;

// A handle to a submitted command.
using Ticket = std::uint64_t;

inline constexpr std::chrono::milliseconds default_command_timeout{2000};

// What a driver records into the engine's registry.
struct DriverMetrics {
  Counter& deadline_misses;  // process() calls that ended after the next block's deadline
  Gauge<double>& drift_ms;   // monotonic elapsed minus frames processed / rate, in ms
};

struct InputStatus {
  std::string name;
  std::string source;  // its source spec, e.g. "tone:440"
  double gain_db = 0.0;
  double pan = 0.0;
  bool mute = false;
  double peak_dbfs = 0.0;  // the larger channel's block peak, -inf for silence
  double hold_dbfs = 0.0;
  StereoLevel levels;  // the latest block's per-channel readings (linear), after gain, pan and mute
  std::uint64_t underrun_blocks = 0;
  std::uint64_t overrun_frames = 0;
  bool ended = false;  // a one-shot source has played out
};

struct RecordingStatus {
  bool active = false;  // a recording was started and not stopped
  std::string path;     // the latest recording's file, if any
  std::uint64_t bytes = 0;
  double seconds = 0.0;  // audio written, in stream time
  std::uint64_t blocks_lost = 0;
  std::string error;  // the recorder's failure, if it failed
};

// process() times over one window of blocks.
struct ProcessWindow {
  std::uint64_t blocks = 0;  // process() calls in the window
  double seconds = 0.0;      // the window's wall-clock length
  double mean_ms = 0.0;
  double p50_ms = 0.0;
  double p99_ms = 0.0;
  double max_ms = 0.0;
};

// The figures of a status line or a dashboard, read at one moment on the
// control side.
//
// The process() figures (rtf, max_rtf, process) cover the latest completed
// window of about a second: status() closes a window once a second has passed
// since the last one closed, and reports it until the next closes. So every
// caller, however often it asks and however many ask, sees the same recent
// second; before the first window closes they cover everything so far.
struct EngineStatus {
  std::uint64_t blocks = 0;          // blocks processed
  double uptime_seconds = 0.0;       // stream time: blocks * block period
  double latency_ms = 0.0;           // capture-to-mix: the fullest input ring at the latest block, in ms
  double rtf = 0.0;                  // mean process() time over the block period, in the window
  double max_rtf = 0.0;              // the longest process() over the block period, in the window
  ProcessWindow process;             // process() times in the window
  double drop_percent = 0.0;         // blocks with any input underrun, % of all blocks
  std::uint64_t dropped_blocks = 0;  // blocks with any input underrun
  double blocks_per_second = 0.0;    // blocks mixed per second, over the window
  double master_gain_db = 0.0;
  double master_peak_dbfs = 0.0;
  double master_hold_dbfs = 0.0;
  StereoLevel master_levels;  // the latest block's per-channel readings (linear), after the master gain
  std::uint64_t clipped_samples = 0;
  std::uint64_t scope_dropped_pairs = 0;  // XY pairs the scope ring had no room for
  std::uint64_t deadline_misses = 0;
  double drift_ms = 0.0;
  std::vector<InputStatus> inputs;
  RecordingStatus recording;
  std::vector<SinkStatus> sinks;  // the config's and add_sink()'s sinks, then the recorder (if any)
};

class Engine {
 public:
  Engine();
  // shutdown(). Precondition: no driver is running.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Builds everything the RT thread will touch: per input a source, a ring
  // (input_ring_frames()) prefilled to the brim and its feeder (started in
  // threads mode), the master ring, meters, scope, metrics; then builds and
  // starts the config's sinks. Throws std::invalid_argument for a config the
  // engine cannot run (values out of range, duplicate input names, more than
  // max_inputs inputs), SourceError, or a sink's error. Precondition: called
  // once. Thread: control. Blocking; allocates.
  void prepare(const EngineConfig& config, EngineOptions options = {});

  // --- RT side --------------------------------------------------------------

  // Mixes one block: applies pending commands, reads every input (an underrun
  // becomes silence and is counted), mixes with ramped gain, pan and mute,
  // applies the master gain, counts clips, meters, writes the block to the
  // master ring and the scope, and updates the telemetry.
  // Precondition: prepare() succeeded, and calls do not overlap.
  // Thread: RT (one thread at a time). Wait-free; no allocation, no lock, no
  // system call.
  void process() noexcept NOWAIT_NONBLOCKING;

  // The master block of the latest process() (block_samples() floats).
  // Thread: the thread that calls process(). Wait-free.
  std::span<const float> last_block() const noexcept NOWAIT_NONBLOCKING;

  // --- offline feeding ----------------------------------------------------------

  // FeedMode::pull: tops every input ring up on this thread (the render loop
  // calls it before each process()). Does nothing in threads mode.
  // Thread: control (the render loop). Blocking (sources may read files).
  void pull_inputs();

  // Offline render: waits until every running sink (the recorder included) is
  // at most half the master ring behind the writer, so the render cannot lap
  // it. A sink that makes no progress for a second is given up on for good:
  // it will see a dropout, as in real time. Does nothing when the engine's
  // options say not to. Thread: control (the render loop). Blocking.
  void wait_for_sinks();

  // --- control side: commands -----------------------------------------------

  // Validates `r` and sends it to the RT side, or completes it at once with
  // the reason it was rejected (unknown input, value out of range, NaN,
  // a source that cannot be built, queue full). Returns its ticket.
  // AddInput builds the input here (source, ring prefilled, feeder) and lends
  // it to the RT side; RemoveInput's input is freed on a control thread once
  // the RT side hands it back. Thread: control. Blocking; allocates.
  Ticket submit(Request r);

  // The result of `ticket` once the RT side has answered (handling any other
  // replies and freeing retired objects on the way), else nullopt. A result is
  // handed out once. Thread: control. Non-blocking apart from the engine's
  // control mutex and sink stop/start work a reply triggers.
  std::optional<CommandResult> result(Ticket ticket);

  // submit(), then waits up to `timeout` for the result, servicing replies
  // meanwhile. Returns {false, "no reply from the real-time thread ..."} when
  // none came (no driver running); the command still takes effect if the RT
  // thread applies it later. Thread: control. Blocking.
  CommandResult call(Request r, std::chrono::milliseconds timeout = default_command_timeout);

  // Handles every reply waiting, frees every object the RT side retired.
  // status() and result() call it; a control loop should call it regularly.
  // Thread: control. Blocking.
  void service();

  // Synchronous shorthands for call().
  CommandResult add_input(const InputConfig& config);
  CommandResult remove_input(const std::string& name);
  CommandResult set_gain(const std::string& name, double gain_db);
  CommandResult set_pan(const std::string& name, double pan);
  CommandResult set_mute(const std::string& name, bool mute);
  CommandResult set_master_gain(double gain_db);
  CommandResult start_recording(const std::string& path, const std::string& format = "wav",
                                const std::string& sample_format = "pcm24");
  CommandResult stop_recording();

  // --- control side: sinks, readers, telemetry ------------------------------

  // Starts `sink` on a new reader of the master ring and keeps it until
  // shutdown; its status feeds the registry and status(). Thread: control.
  void add_sink(std::unique_ptr<Sink> sink);

  // A new reader of the master ring, joining at the newest block.
  // Thread: any. Wait-free; no allocation.
  MasterRing::Reader subscribe() const;

  // The latest meter readings. Thread: control.
  MeterFrame meters();

  // The XY scope reader. Thread: one control thread at a time (not guarded).
  ScopeReader& scope();

  // The figures for a status line. Services replies first. Thread: control.
  EngineStatus status();

  // The names of the inputs, in mixing order (as the control side knows them).
  std::vector<std::string> input_names() const;

  // The registry all the engine's metrics live in. Thread: control.
  Registry& registry() noexcept;
  DriverMetrics driver_metrics() noexcept;

  const StreamFormat& format() const noexcept;
  const EngineConfig& config() const noexcept;
  FeedMode feed_mode() const noexcept;
  bool prepared() const noexcept;
  // Blocks processed so far. Thread: any. Wait-free.
  std::uint64_t blocks_processed() const noexcept;
  // The master ring's depth in blocks.
  std::size_t master_ring_slots() const noexcept;

  // Stops feeders and sinks (finalising recordings), takes back every object
  // the RT side holds and frees it. Idempotent. Precondition: no driver is
  // running. Thread: control. Blocking.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nowait::engine
