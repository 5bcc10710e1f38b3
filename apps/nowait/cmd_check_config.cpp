// nowait check-config: validate a config and show what it would run.
#include <algorithm>
#include <charconv>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "engine/engine.hpp"
#include "engine/source.hpp"

namespace nowait::app {

namespace {

std::string number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string milliseconds(double seconds) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, seconds * 1000.0, std::chars_format::fixed, 2);
  return std::string(buffer, result.ptr);
}

}  // namespace

void print_config_summary(std::ostream& out, const engine::EngineConfig& config) {
  out << "engine: " << config.format.sample_rate << " Hz, " << config.format.block_frames
      << " frames per block (" << milliseconds(config.format.block_seconds()) << " ms), driver "
      << config.driver << ", master " << number(config.master_gain_db) << " dB, scope "
      << (config.scope_rate > 0 ? std::to_string(config.scope_rate) + " pairs/s" : std::string("off"))
      << '\n';

  std::size_t name_width = 4;
  std::size_t source_width = 6;
  for (const engine::InputConfig& input : config.inputs) {
    name_width = std::max(name_width, input.name.size());
    source_width = std::max(source_width, input.source.size());
  }
  out << "inputs: " << config.inputs.size() << '\n';
  for (std::size_t i = 0; i < config.inputs.size(); ++i) {
    const engine::InputConfig& input = config.inputs[i];
    const bool generator = input.source.starts_with("tone:") || input.source.starts_with("noise:");
    const bool file = input.source.starts_with("file:");
    out << "  " << std::setw(2) << i + 1 << "  " << std::left << std::setw(static_cast<int>(name_width))
        << input.name << "  " << std::setw(static_cast<int>(source_width)) << input.source << std::right
        << "  gain " << number(input.gain_db) << " dB, pan " << number(input.pan);
    if (generator) out << ", level " << number(input.level_db) << " dBFS";
    if (file) out << (input.loop ? ", looping" : ", one-shot");
    if (input.mute) out << ", muted";
    out << '\n';
  }

  out << "sinks: " << config.sinks.size() << '\n';
  for (std::size_t i = 0; i < config.sinks.size(); ++i) {
    const engine::SinkConfig& sink = config.sinks[i];
    out << "  " << std::setw(2) << i + 1 << "  " << sink.type << "  ";
    if (sink.type == "recorder") out << sink.path << "  " << sink.format << ' ' << sink.sample_format << ", ";
    out << "buffer " << number(sink.buffer_seconds) << " s\n";
  }
}

void open_file_sources(const engine::EngineConfig& config, const std::string& file_name) {
  for (std::size_t i = 0; i < config.inputs.size(); ++i) {
    const engine::InputConfig& input = config.inputs[i];
    if (!input.source.starts_with("file:")) continue;
    try {
      (void)engine::default_source_factory(input, config.format);
    } catch (const engine::SourceError& error) {
      // "source '<spec>': <problem>": the key already says which source.
      std::string_view problem = error.what();
      const std::string prefix = "source '" + input.source + "': ";
      if (problem.starts_with(prefix)) problem.remove_prefix(prefix.size());
      throw engine::ConfigError(file_name, input.source_line, "input[" + std::to_string(i + 1) + "].source",
                                std::string(problem));
    }
  }
}

std::optional<engine::EngineConfig> load_config_or_report(const std::optional<std::filesystem::path>& path) {
  try {
    if (!path) return engine::default_config();
    engine::EngineConfig config = engine::load_config(*path);
    open_file_sources(config, path->string());
    return config;
  } catch (const engine::ConfigError& error) {
    std::cerr << error.what() << '\n';
    return std::nullopt;
  }
}

int run_check_config(const CheckConfigOptions& options) {
  const std::optional<engine::EngineConfig> config = load_config_or_report(options.config);
  if (!config) return exit_config_error;
  std::cout << options.config.string() << ": OK\n";
  print_config_summary(std::cout, *config);
  return exit_ok;
}

}  // namespace nowait::app
