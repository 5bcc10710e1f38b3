// nowait engine: the configuration, as read from TOML.
//
//   [engine]
//   sample_rate = 48000      # 8000..192000 Hz
//   block_frames = 128       # 32..4096
//   driver = "virtual"       # "virtual" (headless clock); "jack", "portaudio" later
//   master_gain_db = 0.0     # -120..+24
//   scope_rate = 4800        # XY scope pairs per second, 0..sample_rate; 0 turns the scope off
//
//   [[input]]                # one table per input, zero or more
//   name = "tone A"          # required, unique, 1..64 characters
//   source = "tone:440"      # required: tone:<hz>, noise:white, noise:pink, silence or file:<path>
//   gain_db = -6.0           # -120..+24
//   pan = -0.5               # -1 (left) .. +1 (right)
//   mute = false
//   level_db = -12.0         # generators' level, -120..0 dBFS
//   loop = true              # file sources: loop, or play once
//
//   [[sink]]                 # one table per sink, zero or more
//   type = "recorder"        # required: "recorder" or "null"
//   path = "recordings/nowait-{timestamp}.wav"  # recorder only, required
//   format = "wav"           # recorder only: "wav" or "flac"; by default from the path's extension
//   sample_format = "pcm24"  # recorder only: "pcm16", "pcm24" or "float" (wav only)
//   buffer_seconds = 10      # how long the sink may stall before it loses audio, 1..600
//
// Every key is optional unless marked required; an absent key keeps the
// default below. Unknown keys, wrong types, NaN, infinities and out-of-range
// values are errors.
//
// What parsing does to the values, so that the rest of the engine never has to:
// - "{timestamp}" in a recorder path becomes the local time as YYYYmmdd-HHMMSS;
// - a relative file: source or recorder path is resolved against the config
//   file's directory (ParseOptions::base_dir), so a config works from any
//   working directory; the file of a file: source must exist;
// - a recorder's format is filled in from the path's extension.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/format.hpp"

namespace nowait::engine {

inline constexpr double min_gain_db = -120.0;
inline constexpr double max_gain_db = 24.0;
inline constexpr double min_level_db = -120.0;
inline constexpr double max_level_db = 0.0;
inline constexpr double min_buffer_seconds = 1.0;
inline constexpr double max_buffer_seconds = 600.0;
inline constexpr std::size_t max_input_name_chars = 64;

struct InputConfig {
  std::string name;
  std::string source;  // a make_source() spec; a file: path is already resolved
  double gain_db = 0.0;
  double pan = 0.0;
  bool mute = false;
  double level_db = -12.0;
  bool loop = true;
  int line = 0;         // where the [[input]] table starts in the config file, for later error messages
  int source_line = 0;  // where its source key is

  friend bool operator==(const InputConfig&, const InputConfig&) = default;
};

struct SinkConfig {
  std::string type;                     // "recorder" or "null"
  std::string path;                     // recorder: {timestamp} expanded and resolved; empty for a null sink
  std::string format = "wav";           // "wav" or "flac"
  std::string sample_format = "pcm24";  // "pcm16", "pcm24" or "float"
  double buffer_seconds = 10.0;
  int line = 0;  // where the [[sink]] table starts in the config file

  friend bool operator==(const SinkConfig&, const SinkConfig&) = default;
};

struct EngineConfig {
  StreamFormat format;
  std::string driver = "virtual";
  double master_gain_db = 0.0;
  int scope_rate = 4800;
  std::vector<InputConfig> inputs;
  std::vector<SinkConfig> sinks;
};

// A config that cannot be used. what() reads "<file>:<line>: <key>: <problem>".
// The problem names the allowed range or values, and an unknown key gets a
// "did you mean" when a known key is close to it. Parts that do not apply are
// left out: a TOML syntax error has no key ("<file>:<line>: <problem>"), and a
// file that cannot be read has no line ("<file>: <problem>").
struct ConfigError : std::runtime_error {
  ConfigError(std::string file_name, int line_number, std::string key_path, std::string problem_text);
  std::string file;
  int line;         // 1-based; 0 when there is no line to point at
  std::string key;  // dotted path, tables counted from 1: "input[2].gain_db" is the second input's gain_db
  std::string problem;
};

// How parse_config treats the parts of a config that depend on where and when
// it is read.
struct ParseOptions {
  // Relative file: sources and recorder paths are resolved against this
  // directory; empty leaves them relative to the working directory.
  std::filesystem::path base_dir;
  // The moment "{timestamp}" stands for, in local time.
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// Parses and validates TOML text; `file_name` is used in error messages only.
// Returns a config whose every value is in range. Throws ConfigError.
// Thread: control. Blocking (checks that file: sources exist); allocates.
EngineConfig parse_config(std::string_view toml_text, const std::string& file_name,
                          const ParseOptions& options = {});

// Reads and parses a config file; relative paths in it resolve against the
// file's directory. Throws ConfigError (also for a file that cannot be read,
// with the path as given in the message). Thread: control. Blocking; allocates.
EngineConfig load_config(const std::filesystem::path& path);

// The TOML text of the embedded default config, identical to
// examples/configs/default.toml. Thread: any. Wait-free; does not allocate.
std::string_view default_config_text() noexcept;

// The config `nowait run` uses when given none: two tones panned apart plus
// pink noise at a low level, recorded to recordings/nowait-<timestamp>.wav
// (relative to the working directory). Needs no file. Thread: control.
// Blocking (only in theory: it runs parse_config); allocates.
EngineConfig default_config(const ParseOptions& options = {});

// Replaces every "{timestamp}" in `path_template` with `when` in local time as
// YYYYmmdd-HHMMSS. Any other "{word}" (letters, digits, '_') is taken for a
// misspelt placeholder and throws std::invalid_argument naming it; other braces
// are kept as they are. Thread: any. Blocking (reads the time zone);
// allocates.
std::string expand_path_template(std::string_view path_template, std::chrono::system_clock::time_point when);

}  // namespace nowait::engine
