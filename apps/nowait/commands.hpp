// nowait CLI: one function per subcommand. main.cpp parses the command line
// with CLI11 and calls exactly one of these; each lives in its own cmd_*.cpp.
// All of them run on the main (control) thread and return the process's exit
// code.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.hpp"

namespace nowait::app {

// Exit codes shared by every subcommand. CLI11's own codes (for a bad flag or
// a missing argument) are non-zero and different from these.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;       // the engine, a sink or an output file failed
inline constexpr int exit_config_error = 2;  // the config could not be read or is invalid
inline constexpr int exit_not_built = 3;     // the subcommand is not available in this build

// `nowait check-config <file.toml>`
struct CheckConfigOptions {
  std::filesystem::path config;
};

// Loads and validates the config. On success prints a summary of the engine,
// inputs and sinks to stdout and returns exit_ok; on a ConfigError prints its
// message ("<file>:<line>: <key>: <problem>") to stderr and returns
// exit_config_error.
int run_check_config(const CheckConfigOptions& options);

// `nowait run [config.toml] [--duration S] [--quiet] [--listen HOST:PORT] [--token T]
//             [--allow-host NAME]... [--no-http]`
struct RunOptions {
  std::optional<std::filesystem::path> config;  // none: the embedded default_config()
  std::optional<double> duration_seconds;       // none: until SIGINT or SIGTERM; otherwise > 0
  bool quiet = false;                           // no status line, only errors
  bool http = true;                             // serve the dashboard and API (--no-http: not)
  std::string listen = "127.0.0.1:8080";        // --listen HOST:PORT (port 0: any free port)
  std::string token;                            // --token: needed off loopback; guards control calls
  std::vector<std::string> allow_hosts;         // --allow-host NAME[:PORT]: extra Host names to answer to
};

// Runs the engine in real time. Defined in cmd_run.cpp.
int run_engine(const RunOptions& options);

// `nowait render <config.toml> --out file.wav [--seconds N]`
struct RenderOptions {
  std::filesystem::path config;
  std::filesystem::path out;
  double seconds = 10.0;  // > 0
};

// Renders the config offline, as fast as it goes, through the same process().
// Defined in cmd_render.cpp.
int render_offline(const RenderOptions& options);

// Opens every file: source of `config` the way Engine::prepare() will, and
// throws engine::ConfigError naming `file_name`, the source's line and key
// (input[N].source) with the file's problem, for any that prepare() would
// refuse: not audio, a truncated header, no frames, an unreadable file.
// Thread: control. Blocking (reads each file's header); allocates.
void open_file_sources(const engine::EngineConfig& config, const std::string& file_name);

// Loads `path` (or the embedded default when none is given) and opens its
// file: sources (open_file_sources), so check-config, run and render refuse a
// config for the same reasons with the same message. On a ConfigError
// prints its message to stderr and returns nothing; the caller then exits with
// exit_config_error.
std::optional<engine::EngineConfig> load_config_or_report(const std::optional<std::filesystem::path>& path);

// Writes a human-readable summary of `config`: one line for the engine, one per
// input and one per sink.
void print_config_summary(std::ostream& out, const engine::EngineConfig& config);

}  // namespace nowait::app
