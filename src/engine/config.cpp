// nowait engine: reading and validating the TOML config. Control side only.
//
// The parser reads the document once with toml++ and then walks it table by
// table. Each value is checked for its type, for being finite and for its
// range, in that order, and the first problem is thrown as a ConfigError that
// points at the value's own line. Within a table, unknown keys are reported
// before anything else, because a misspelt key usually explains a value that
// looks missing.
#include "engine/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <system_error>
#include <toml++/toml.h>
#include <utility>

namespace nowait::engine {

namespace fs = std::filesystem;

namespace {

// The embedded default, byte for byte the same as examples/configs/default.toml
// (a test checks that).
constexpr std::string_view default_toml =
    R"toml(# nowait's default config: what `nowait run` plays when given none.
# Two tones panned apart plus pink noise at a low level, recorded to a WAV file.
#
# Relative paths resolve against the directory of the config file, so running
# this file with `nowait run examples/configs/default.toml` records into
# examples/configs/recordings/. The embedded copy, used when `nowait run` has
# no config, records into recordings/ under the working directory.

[engine]
sample_rate = 48000
block_frames = 128
driver = "virtual"
master_gain_db = 0.0
scope_rate = 4800

[[input]]
name = "tone left"
source = "tone:440"
level_db = -12.0
gain_db = -3.0
pan = -0.6

[[input]]
name = "tone right"
source = "tone:660"
level_db = -12.0
gain_db = -3.0
pan = 0.6

[[input]]
name = "pink noise"
source = "noise:pink"
level_db = -30.0
gain_db = 0.0
pan = 0.0

[[sink]]
type = "recorder"
path = "recordings/nowait-{timestamp}.wav"
sample_format = "pcm24"
buffer_seconds = 10
)toml";

std::string error_text(const std::string& file, int line, const std::string& key,
                       const std::string& problem) {
  std::string text = file;
  if (line > 0) text += ":" + std::to_string(line);
  text += ": ";
  if (!key.empty()) text += key + ": ";
  text += problem;
  return text;
}

// The shortest text that reads back as the same double: 0.5, 24, -120, 1e-07.
std::string format_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string in_quotes(std::string_view text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

std::string join_quoted(std::initializer_list<std::string_view> values) {
  std::string out;
  for (const std::string_view value : values) {
    if (!out.empty()) out += ", ";
    out += in_quotes(value);
  }
  return out;
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

using KeyList = std::span<const std::string_view>;

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: insertions, deletions, substitutions and
// swaps of neighbours each cost 1, so "gian_db" is 1 away from "gain_db".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The known key most like `key`, if one is close enough to be a likely typo:
// a few edits away (more for longer keys), or a prefix of at least three
// characters ("gain" for "gain_db", "inputs" for "input"). Case is ignored.
std::optional<std::string_view> closest_key(std::string_view key, KeyList known) {
  const std::string wanted = lowercase(key);
  std::optional<std::string_view> best;
  std::size_t best_score = 0;
  for (const std::string_view candidate_name : known) {
    const std::string candidate = lowercase(candidate_name);
    std::size_t score = edit_distance(wanted, candidate);
    const std::size_t shorter = std::min(wanted.size(), candidate.size());
    const bool prefix = shorter >= 3 && (candidate.starts_with(wanted) || wanted.starts_with(candidate));
    if (prefix) score = std::min<std::size_t>(score, 1);
    const std::size_t limit = std::clamp<std::size_t>(std::max(wanted.size(), candidate.size()) / 3, 1, 3);
    if (score <= limit && (!best || score < best_score)) {
      best = candidate_name;
      best_score = score;
    }
  }
  return best;
}

int line_of(const toml::source_region& region) { return static_cast<int>(region.begin.line); }
int line_of(const toml::node& node) { return line_of(node.source()); }

// UTF-8 characters, not bytes: continuation bytes are not counted.
std::size_t character_count(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The known keys of each table, in the order the error messages list them.
constexpr std::array<std::string_view, 3> top_keys = {"engine", "input", "sink"};
constexpr std::array<std::string_view, 5> engine_keys = {"sample_rate", "block_frames", "driver",
                                                         "master_gain_db", "scope_rate"};
constexpr std::array<std::string_view, 7> input_keys = {"name", "source",   "gain_db", "pan",
                                                        "mute", "level_db", "loop"};
constexpr std::array<std::string_view, 5> recorder_keys = {"type", "path", "format", "sample_format",
                                                           "buffer_seconds"};
constexpr std::array<std::string_view, 2> null_sink_keys = {"type", "buffer_seconds"};

bool contains(KeyList list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string join(KeyList list) {
  std::string out;
  for (const std::string_view item : list) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// One parse of one document. Every check throws through fail().
class Parser {
 public:
  Parser(const std::string& file_name, const ParseOptions& options) : file_(file_name), options_(options) {}

  EngineConfig parse(const toml::table& root) {
    EngineConfig config;
    reject_unknown_keys(root, "", top_keys);
    if (const toml::node* engine = root.get("engine")) {
      const toml::table* table = engine->as_table();
      if (table == nullptr) {
        fail(line_of(*engine), "engine",
             "expected a table ([engine]), got " + std::string(type_name(*engine)));
      }
      parse_engine(*table, config);
    }
    if (const toml::node* inputs = root.get("input")) {
      for_each_table(*inputs, "input", [&](const toml::table& table, const std::string& path) {
        config.inputs.push_back(parse_input(table, path, config));
      });
    }
    if (const toml::node* sinks = root.get("sink")) {
      for_each_table(*sinks, "sink", [&](const toml::table& table, const std::string& path) {
        config.sinks.push_back(parse_sink(table, path));
      });
    }
    return config;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& key, const std::string& problem) const {
    throw ConfigError(file_, line, key, problem);
  }

  static std::string child(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
  }

  // Throws for the first (topmost) key of `table` that is not in `known`.
  void reject_unknown_keys(const toml::table& table, const std::string& prefix, KeyList known) const {
    const toml::key* first = nullptr;
    for (auto&& [key, value] : table) {
      if (contains(known, key.str())) continue;
      if (first == nullptr || line_of(key.source()) < line_of(first->source())) first = &key;
    }
    if (first == nullptr) return;
    std::string problem = "unknown key";
    if (const auto suggestion = closest_key(first->str(), known)) {
      problem += "; did you mean '" + std::string(*suggestion) + "'?";
    } else {
      problem += "; allowed keys: " + join(known);
    }
    fail(line_of(first->source()), child(prefix, first->str()), problem);
  }

  // Calls `parse(table, "name[i]")` for each table of an array of tables, i from 1.
  template <class Parse>
  void for_each_table(const toml::node& node, std::string_view name, Parse&& parse) const {
    const std::string key(name);
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      std::string got = node.is_table()
                            ? "[" + key + "] (a single table); write [[" + key + "]] for each " + key
                            : std::string(type_name(node));
      fail(line_of(node), key, "expected an array of tables ([[" + key + "]]), got " + got);
    }
    std::size_t index = 0;
    for (const toml::node& element : *array) {
      const std::string path = key + "[" + std::to_string(++index) + "]";
      const toml::table* table = element.as_table();
      if (table == nullptr)
        fail(line_of(element), path, "expected a table, got " + std::string(type_name(element)));
      parse(*table, path);
    }
  }

  double number(const toml::node& node, const std::string& key) const {
    if (const auto integer = node.value_exact<std::int64_t>()) return static_cast<double>(*integer);
    const auto value = node.value_exact<double>();
    if (!value) fail(line_of(node), key, "expected a number, got " + std::string(type_name(node)));
    if (!std::isfinite(*value))
      fail(line_of(node), key, "expected a finite number, got " + format_number(*value));
    return *value;
  }

  double number_in(const toml::node& node, const std::string& key, double low, double high,
                   std::string_view unit) const {
    const double value = number(node, key);
    if (value < low || value > high) {
      fail(line_of(node), key,
           "must be between " + format_number(low) + " and " + format_number(high) + std::string(unit) +
               ", got " + format_number(value));
    }
    return value;
  }

  int integer_in(const toml::node& node, const std::string& key, std::int64_t low, std::int64_t high,
                 std::string_view unit) const {
    const auto value = node.value_exact<std::int64_t>();
    if (!value) fail(line_of(node), key, "expected an integer, got " + std::string(type_name(node)));
    if (*value < low || *value > high) {
      fail(line_of(node), key,
           "must be between " + std::to_string(low) + " and " + std::to_string(high) + std::string(unit) +
               ", got " + std::to_string(*value));
    }
    return static_cast<int>(*value);
  }

  bool boolean(const toml::node& node, const std::string& key) const {
    const auto value = node.value_exact<bool>();
    if (!value)
      fail(line_of(node), key, "expected a boolean (true or false), got " + std::string(type_name(node)));
    return *value;
  }

  std::string string(const toml::node& node, const std::string& key) const {
    const auto value = node.value_exact<std::string>();
    if (!value) fail(line_of(node), key, "expected a string, got " + std::string(type_name(node)));
    return *value;
  }

  // A relative path is taken relative to the config file's directory.
  std::string resolve(const std::string& path_text) const {
    fs::path path(path_text);
    if (path.is_relative() && !options_.base_dir.empty()) path = options_.base_dir / path;
    return path.lexically_normal().string();
  }

  void parse_engine(const toml::table& table, EngineConfig& config) const {
    reject_unknown_keys(table, "engine", engine_keys);
    if (const toml::node* node = table.get("sample_rate")) {
      config.format.sample_rate =
          integer_in(*node, "engine.sample_rate", min_sample_rate, max_sample_rate, " Hz");
    }
    if (const toml::node* node = table.get("block_frames")) {
      config.format.block_frames =
          integer_in(*node, "engine.block_frames", min_block_frames, max_block_frames, " frames");
    }
    if (const toml::node* node = table.get("driver")) {
      config.driver = string(*node, "engine.driver");
      if (config.driver != "virtual") {
        fail(line_of(*node), "engine.driver",
             "unknown driver " + in_quotes(config.driver) + "; allowed: " + join_quoted({"virtual"}));
      }
    }
    if (const toml::node* node = table.get("master_gain_db")) {
      config.master_gain_db = number_in(*node, "engine.master_gain_db", min_gain_db, max_gain_db, " dB");
    }
    if (const toml::node* node = table.get("scope_rate")) {
      config.scope_rate = integer_in(*node, "engine.scope_rate", 0, config.format.sample_rate,
                                     " pairs per second (the sample rate)");
    }
  }

  InputConfig parse_input(const toml::table& table, const std::string& path, const EngineConfig& config) {
    reject_unknown_keys(table, path, input_keys);
    InputConfig input;
    input.line = line_of(table);

    const toml::node* name = table.get("name");
    if (name == nullptr) fail(input.line, path + ".name", "missing; every [[input]] needs a name");
    input.name = string(*name, path + ".name");
    check_name(input.name, *name, path + ".name");

    const toml::node* source = table.get("source");
    if (source == nullptr) {
      fail(input.line, path + ".source",
           "missing; every [[input]] needs a source, e.g. source = \"tone:440\"");
    }
    input.source = check_source(string(*source, path + ".source"), *source, path + ".source", config.format);
    input.source_line = line_of(*source);

    if (const toml::node* node = table.get("gain_db")) {
      input.gain_db = number_in(*node, path + ".gain_db", min_gain_db, max_gain_db, " dB");
    }
    if (const toml::node* node = table.get("pan")) {
      input.pan = number_in(*node, path + ".pan", -1.0, 1.0, " (left to right)");
    }
    if (const toml::node* node = table.get("mute")) input.mute = boolean(*node, path + ".mute");
    if (const toml::node* node = table.get("level_db")) {
      input.level_db = number_in(*node, path + ".level_db", min_level_db, max_level_db, " dBFS");
    }
    if (const toml::node* node = table.get("loop")) input.loop = boolean(*node, path + ".loop");
    return input;
  }

  void check_name(const std::string& name, const toml::node& node, const std::string& key) {
    const bool blank = std::all_of(name.begin(), name.end(),
                                   [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
    if (blank) fail(line_of(node), key, "must not be empty");
    const std::size_t length = character_count(name);
    if (length > max_input_name_chars) {
      fail(line_of(node), key,
           "is " + std::to_string(length) + " characters long; at most " +
               std::to_string(max_input_name_chars) + " are allowed");
    }
    const bool control = std::any_of(name.begin(), name.end(),
                                     [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; });
    if (control) fail(line_of(node), key, "must not contain control characters");
    const auto [first, inserted] = input_name_lines_.emplace(name, line_of(node));
    if (!inserted) {
      fail(line_of(node), key,
           "duplicate input name " + in_quotes(name) + "; it is already used at line " +
               std::to_string(first->second));
    }
  }

  // Validates a source spec against make_source()'s grammar and returns it,
  // with a file: path resolved.
  std::string check_source(const std::string& spec, const toml::node& node, const std::string& key,
                           const StreamFormat& format) const {
    const int line = line_of(node);
    if (spec.starts_with("tone:")) {
      const std::string_view hz_text = std::string_view(spec).substr(5);
      double hz = 0;
      const auto [end, error] = std::from_chars(hz_text.data(), hz_text.data() + hz_text.size(), hz);
      if (error != std::errc{} || end != hz_text.data() + hz_text.size() || hz_text.empty()) {
        fail(line, key,
             "expected tone:<hz> with a frequency in Hz, such as tone:440, got " + in_quotes(spec));
      }
      const double nyquist = format.sample_rate / 2.0;
      if (!(hz > 0 && hz < nyquist)) {
        fail(line, key,
             "tone frequency must be above 0 and below " + format_number(nyquist) +
                 " Hz (half the sample rate), got " + std::string(hz_text));
      }
      return spec;
    }
    if (spec.starts_with("noise:")) {
      const std::string_view colour = std::string_view(spec).substr(6);
      if (colour != "white" && colour != "pink") {
        fail(line, key, "unknown noise colour " + in_quotes(colour) + "; allowed: noise:white, noise:pink");
      }
      return spec;
    }
    if (spec == "silence") return spec;
    if (spec.starts_with("file:")) {
      const std::string path_text = spec.substr(5);
      if (path_text.empty()) fail(line, key, "expected file:<path>, got an empty path");
      const std::string path = resolve(path_text);
      std::error_code error;
      const fs::file_status status = fs::status(path, error);
      if (!fs::exists(status)) {
        std::string problem = "file not found: " + path;
        if (fs::path(path_text).is_relative() && !options_.base_dir.empty()) {
          problem += " (relative paths resolve against the config file's directory)";
        }
        fail(line, key, problem);
      }
      if (fs::is_directory(status)) fail(line, key, path + " is a directory, not an audio file");
      return "file:" + path;
    }
    fail(line, key,
         "unknown source " + in_quotes(spec) +
             "; allowed: tone:<hz>, noise:white, noise:pink, silence, file:<path>");
  }

  SinkConfig parse_sink(const toml::table& table, const std::string& path) const {
    // Typos are judged against every sink key, so that "fromat" in a null
    // sink still gets its suggestion before being told it does not apply.
    reject_unknown_keys(table, path, recorder_keys);
    SinkConfig sink;
    sink.line = line_of(table);

    const toml::node* type = table.get("type");
    if (type == nullptr) {
      fail(sink.line, path + ".type",
           "missing; every [[sink]] needs a type: " + join_quoted({"recorder", "null"}));
    }
    sink.type = string(*type, path + ".type");
    if (sink.type != "recorder" && sink.type != "null") {
      fail(line_of(*type), path + ".type",
           "unknown sink type " + in_quotes(sink.type) + "; allowed: " + join_quoted({"recorder", "null"}));
    }
    if (sink.type == "null") {
      const toml::key* first = nullptr;
      for (auto&& [key, value] : table) {
        if (contains(null_sink_keys, key.str())) continue;
        if (first == nullptr || line_of(key.source()) < line_of(first->source())) first = &key;
      }
      if (first != nullptr) {
        fail(line_of(first->source()), child(path, first->str()),
             "does not apply to a null sink; a null sink takes only " + join(null_sink_keys));
      }
    }

    if (const toml::node* node = table.get("buffer_seconds")) {
      sink.buffer_seconds =
          number_in(*node, path + ".buffer_seconds", min_buffer_seconds, max_buffer_seconds, " s");
    }
    if (sink.type == "recorder") parse_recorder(table, path, sink);
    return sink;
  }

  void parse_recorder(const toml::table& table, const std::string& path, SinkConfig& sink) const {
    const toml::node* path_node = table.get("path");
    if (path_node == nullptr) {
      fail(sink.line, path + ".path",
           "missing; a recorder needs a path, e.g. path = \"recordings/nowait-{timestamp}.wav\"");
    }
    const std::string path_template = string(*path_node, path + ".path");
    if (path_template.empty()) fail(line_of(*path_node), path + ".path", "must not be empty");
    try {
      sink.path = resolve(expand_path_template(path_template, options_.now));
    } catch (const std::invalid_argument& error) {
      fail(line_of(*path_node), path + ".path", error.what());
    }

    const std::string extension = lowercase(fs::path(sink.path).extension().string());
    std::optional<std::string> inferred;
    if (extension == ".wav") inferred = "wav";
    if (extension == ".flac") inferred = "flac";

    if (const toml::node* node = table.get("format")) {
      sink.format = string(*node, path + ".format");
      if (sink.format != "wav" && sink.format != "flac") {
        fail(line_of(*node), path + ".format",
             "unknown format " + in_quotes(sink.format) + "; allowed: " + join_quoted({"wav", "flac"}));
      }
      if (inferred && *inferred != sink.format) {
        fail(line_of(*node), path + ".format",
             in_quotes(sink.format) + " does not agree with the path's extension " + in_quotes(extension));
      }
    } else if (inferred) {
      sink.format = *inferred;
    } else {
      fail(line_of(*path_node), path + ".path",
           (extension.empty() ? std::string("cannot tell the format from a path without an extension")
                              : "cannot tell the format from the extension " + in_quotes(extension)) +
               "; end the path in .wav or .flac, or set format");
    }

    if (const toml::node* node = table.get("sample_format")) {
      sink.sample_format = string(*node, path + ".sample_format");
      if (sink.sample_format != "pcm16" && sink.sample_format != "pcm24" && sink.sample_format != "float") {
        fail(line_of(*node), path + ".sample_format",
             "unknown sample format " + in_quotes(sink.sample_format) +
                 "; allowed: " + join_quoted({"pcm16", "pcm24", "float"}));
      }
      if (sink.sample_format == "float" && sink.format != "wav") {
        fail(line_of(*node), path + ".sample_format",
             "\"float\" is only available for wav; flac takes " + join_quoted({"pcm16", "pcm24"}));
      }
    }
  }

  const std::string& file_;
  const ParseOptions& options_;
  std::map<std::string, int> input_name_lines_;  // name -> line of its first use
};

}  // namespace

ConfigError::ConfigError(std::string file_name, int line_number, std::string key_path,
                         std::string problem_text)
    : std::runtime_error(error_text(file_name, line_number, key_path, problem_text)),
      file(std::move(file_name)),
      line(line_number),
      key(std::move(key_path)),
      problem(std::move(problem_text)) {}

std::string expand_path_template(std::string_view path_template, std::chrono::system_clock::time_point when) {
  constexpr std::string_view placeholder = "{timestamp}";
  std::string out;
  std::size_t position = 0;
  while (position < path_template.size()) {
    const std::size_t open = path_template.find('{', position);
    if (open == std::string_view::npos) break;
    const std::size_t close = path_template.find('}', open);
    if (close == std::string_view::npos) break;
    const std::string_view word = path_template.substr(open + 1, close - open - 1);
    const bool is_word = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
    });
    out += path_template.substr(position, open - position);
    if (path_template.substr(open, close - open + 1) == placeholder) {
      const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
      std::tm local{};
      localtime_r(&seconds, &local);
      char stamp[32];
      const std::size_t length = std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
      out.append(stamp, length);
    } else if (is_word) {
      throw std::invalid_argument("unknown placeholder " +
                                  in_quotes(path_template.substr(open, close - open + 1)) +
                                  "; the only placeholder is " + in_quotes(placeholder));
    } else {
      out += path_template.substr(open, close - open + 1);
    }
    position = close + 1;
  }
  out += path_template.substr(std::min(position, path_template.size()));
  return out;
}

EngineConfig parse_config(std::string_view toml_text, const std::string& file_name,
                          const ParseOptions& options) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view(file_name));
  } catch (const toml::parse_error& error) {
    throw ConfigError(file_name, line_of(error.source()), "",
                      "TOML syntax error at column " + std::to_string(error.source().begin.column) + ": " +
                          std::string(error.description()));
  }
  return Parser(file_name, options).parse(root);
}

EngineConfig load_config(const fs::path& path) {
  const std::string name = path.string();
  std::error_code error;
  if (fs::is_directory(path, error)) throw ConfigError(name, 0, "", "cannot read: it is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int code = errno != 0 ? errno : ENOENT;
    throw ConfigError(name, 0, "", "cannot read: " + std::generic_category().message(code));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(name, 0, "", "cannot read: an I/O error occurred");
  ParseOptions options;
  options.base_dir = path.parent_path();
  return parse_config(text.str(), name, options);
}

std::string_view default_config_text() noexcept { return default_toml; }

EngineConfig default_config(const ParseOptions& options) {
  return parse_config(default_toml, "<default config>", options);
}

}  // namespace nowait::engine
