// nowait render: the config mixed offline, as fast as the machine goes,
// through the same Engine::process() a real-time run uses, into one file.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.hpp"
#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "engine/sink.hpp"

namespace nowait::app {

int render_offline(const RenderOptions& options) {
  const auto config = load_config_or_report(options.config);
  if (!config) return exit_config_error;

  engine::Engine engine;
  engine::EngineOptions engine_options;
  engine_options.feed = engine::FeedMode::pull;  // no threads: inputs are rendered on this thread
  engine_options.start_sinks = false;            // a render writes --out, not the config's sinks
  try {
    engine.prepare(*config, engine_options);
  } catch (const std::exception& e) {
    std::cerr << "nowait render: " << options.config.string() << ": " << e.what() << '\n';
    return exit_config_error;
  }

  // The output goes through the recorder sink, the one way the engine writes
  // files: same formats, same conversion, same error reporting.
  engine::SinkConfig out;
  out.type = "recorder";
  out.path = options.out.string();
  const std::string extension = options.out.extension().string();
  out.format = extension == ".flac" ? "flac" : "wav";
  out.sample_format = out.format == "wav" ? "float" : "pcm24";  // float WAV: the mix bit for bit
  try {
    engine.add_sink(engine::make_sink(out, engine.format()));
  } catch (const std::exception& e) {
    std::cerr << "nowait render: " << options.out.string() << ": " << e.what() << '\n';
    return exit_failure;
  }

  const auto frames = static_cast<std::uint64_t>(std::llround(options.seconds * config->format.sample_rate));
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t rendered = engine::render(engine, frames, {});
  engine.shutdown();  // drains and finalises the output file
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const engine::EngineStatus status = engine.status();
  for (const engine::SinkStatus& sink : status.sinks) {
    if (sink.state == engine::SinkState::failed) {
      std::cerr << "nowait render: " << sink.error << '\n';
      return exit_failure;
    }
  }
  const double audio_seconds = static_cast<double>(rendered) / config->format.sample_rate;
  std::printf("nowait render: %llu frames (%.3f s) to %s in %.3f s (%.1fx real time), %llu clipped samples\n",
              static_cast<unsigned long long>(rendered), audio_seconds, options.out.string().c_str(), wall,
              wall > 0 ? audio_seconds / wall : 0.0, static_cast<unsigned long long>(status.clipped_samples));
  return exit_ok;
}

}  // namespace nowait::app
