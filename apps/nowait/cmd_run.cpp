// nowait run: the engine in real time on its configured driver, until Ctrl-C,
// SIGTERM or --duration, with a status line every 500 ms on a terminal.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "commands.hpp"
#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "server/server.hpp"

namespace nowait::app {

namespace {

// Set by SIGINT/SIGTERM; the main loop notices within one poll. A lock-free
// atomic is async-signal-safe to store to.
std::atomic<int> stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int signal_number) { stop_signal.store(signal_number); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string dbfs(double value) {
  if (!std::isfinite(value) || value < -99.9) return " -inf";
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%5.1f", value);
  return buffer;
}

std::string size_text(std::uint64_t bytes) {
  char buffer[32];
  if (bytes >= 1'000'000'000) {
    std::snprintf(buffer, sizeof buffer, "%.2f GB", static_cast<double>(bytes) / 1e9);
  } else if (bytes >= 1'000'000) {
    std::snprintf(buffer, sizeof buffer, "%.1f MB", static_cast<double>(bytes) / 1e6);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f kB", static_cast<double>(bytes) / 1e3);
  }
  return buffer;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buffer;
}

// "Latency: 2.7 ms | RTF: 0.02x | Drops: 0.0% | tone A -12.0 | ... | master -9.1 | REC 1.2 MB 00:00:12"
std::string status_line(const engine::EngineStatus& s, int sample_rate) {
  char head[160];
  std::snprintf(head, sizeof head,
                "Latency: %.1f ms | RTF: %.3fx | Drops: %.1f%% | drift %+.2f ms | misses %llu", s.latency_ms,
                s.rtf, s.drop_percent, s.drift_ms, static_cast<unsigned long long>(s.deadline_misses));
  std::string line = head;
  for (const engine::InputStatus& input : s.inputs) {
    line += " | " + input.name + (input.mute ? " (muted)" : "") + ' ' + dbfs(input.peak_dbfs);
  }
  line += " | master " + dbfs(s.master_peak_dbfs);
  if (s.clipped_samples > 0) line += " CLIP " + std::to_string(s.clipped_samples);
  if (!s.recording.error.empty()) {
    line += " | REC FAILED";
  } else if (s.recording.active) {
    line += " | REC " + size_text(s.recording.bytes) + ' ' + clock_text(s.recording.seconds);
  }
  for (const engine::SinkStatus& sink : s.sinks) {
    if (sink.state == engine::SinkState::failed) {
      line += " | " + sink.name + " FAILED";
    } else if (!sink.path.empty() && sink.path != s.recording.path) {
      const double seconds = static_cast<double>(sink.frames_written) / sample_rate;
      line += " | REC " + size_text(sink.bytes_written) + ' ' + clock_text(seconds);
    }
    if (sink.blocks_lost > 0) line += " lost " + std::to_string(sink.blocks_lost);
  }
  return line;
}

}  // namespace

int run_engine(const RunOptions& options) {
  const auto config = load_config_or_report(options.config);
  if (!config) return exit_config_error;

  server::ServerOptions server_options;
  if (options.http) {
    try {
      server::parse_listen(options.listen, server_options);
      server_options.token = options.token;
      server_options.allowed_hosts = options.allow_hosts;
      server_options.recordings_dir = server::recordings_dir_for(*config);
      server::check_options(server_options);  // before prepare() starts any recording
    } catch (const std::exception& e) {
      std::cerr << "nowait run: " << e.what() << '\n';
      return exit_config_error;
    }
  }

  engine::Engine engine;
  std::unique_ptr<engine::Driver> driver;
  std::unique_ptr<server::Server> http;
  try {
    engine.prepare(*config);
    driver = engine::make_driver(*config);
  } catch (const std::exception& e) {
    std::cerr << "nowait run: " << (options.config ? options.config->string() : std::string("default config"))
              << ": " << e.what() << '\n';
    return exit_config_error;
  }
  if (options.http) {
    try {
      http = std::make_unique<server::Server>(engine, server_options);
      http->start();
    } catch (const std::exception& e) {
      std::cerr << "nowait run: " << e.what() << '\n';
      return exit_config_error;
    }
  }

  install_stop_handlers();
  driver->start(engine);
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  std::printf("nowait: running %zu inputs at %d Hz, %d-frame blocks (%.2f ms) on the %s driver; %s\n",
              config->inputs.size(), config->format.sample_rate, config->format.block_frames,
              config->format.block_seconds() * 1000.0, std::string(driver->name()).c_str(),
              options.duration_seconds ? "stopping after --duration" : "Ctrl-C stops");
  if (http) std::printf("nowait: dashboard at %s\n", http->url().c_str());
  std::fflush(stdout);
  // Sinks not yet announced: each gets one line once its first block is
  // written (or it failed), so a user or a script knows the file is live.
  std::optional<std::vector<bool>> announced;  // none until the first status

  // The status line every 500 ms on a terminal; a plain log line every 10 s
  // otherwise, so a log file stays readable.
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto report_every = terminal ? std::chrono::milliseconds(500) : std::chrono::milliseconds(10'000);
  auto next_report = start + report_every;
  const auto poll = std::chrono::milliseconds(20);
  while (stop_signal.load() == 0) {
    const auto now = clock::now();
    if (options.duration_seconds &&
        std::chrono::duration<double>(now - start).count() >= *options.duration_seconds) {
      break;
    }
    const bool announcing =
        !announced || std::find(announced->begin(), announced->end(), false) != announced->end();
    if (now >= next_report || announcing) {
      const engine::EngineStatus status = engine.status();  // also frees what the RT side handed back
      if (!announced) announced.emplace(status.sinks.size(), false);
      announced->resize(status.sinks.size(), false);
      for (std::size_t i = 0; i < status.sinks.size(); ++i) {
        const engine::SinkStatus& sink = status.sinks[i];
        if ((*announced)[i] || (sink.frames_written == 0 && sink.state != engine::SinkState::failed))
          continue;
        (*announced)[i] = true;
        if (sink.state == engine::SinkState::failed) {
          std::printf("%snowait: %s failed: %s\n", terminal ? "\r\033[K" : "", sink.name.c_str(),
                      sink.error.c_str());
        } else {
          std::printf("%snowait: %s started%s%s\n", terminal ? "\r\033[K" : "", sink.name.c_str(),
                      sink.path.empty() ? "" : ", writing ", sink.path.c_str());
        }
        std::fflush(stdout);
      }
      if (now < next_report) {
        std::this_thread::sleep_for(poll);
        continue;
      }
      if (!options.quiet) {
        if (terminal) {
          std::printf("\r%s\033[K", status_line(status, config->format.sample_rate).c_str());
        } else {
          std::printf("%s\n", status_line(status, config->format.sample_rate).c_str());
        }
        std::fflush(stdout);
      }
      next_report += report_every;
    }
    std::this_thread::sleep_for(poll);  // the control loop's own pace; the RT thread never waits on it
  }
  if (terminal && !options.quiet) std::printf("\n");

  if (http) http->stop();  // before the driver: its last answers still need the RT thread
  driver->stop();
  const engine::EngineStatus last = engine.status();
  engine.shutdown();  // stops feeders and sinks: every recording is finalised here
  const engine::EngineStatus final_status = engine.status();

  const int signal_number = stop_signal.load();
  std::printf("nowait: stopped%s after %.1f s of audio (%llu blocks); deadline misses %llu, drift %+.3f ms\n",
              signal_number == SIGINT    ? " by SIGINT"
              : signal_number == SIGTERM ? " by SIGTERM"
                                         : "",
              last.uptime_seconds, static_cast<unsigned long long>(last.blocks),
              static_cast<unsigned long long>(last.deadline_misses), last.drift_ms);
  int exit_code = exit_ok;
  for (const engine::SinkStatus& sink : final_status.sinks) {
    if (sink.state == engine::SinkState::failed) {
      std::fprintf(stderr, "nowait: sink %s failed: %s\n", sink.name.c_str(), sink.error.c_str());
      exit_code = exit_failure;
      continue;
    }
    std::printf("nowait: %s: %llu frames", sink.name.c_str(),
                static_cast<unsigned long long>(sink.frames_written));
    if (!sink.path.empty())
      std::printf(" (%s) to %s", size_text(sink.bytes_written).c_str(), sink.path.c_str());
    if (sink.blocks_lost > 0)
      std::printf(", %llu blocks lost", static_cast<unsigned long long>(sink.blocks_lost));
    std::printf("\n");
  }
  return exit_code;
}

}  // namespace nowait::app
