// nowait: the command line. Parses the arguments with CLI11 and hands them to
// one subcommand (see commands.hpp); each subcommand lives in its own file.
//
//   nowait run [config.toml] [--duration S] [--quiet] [--listen HOST:PORT] [--token T]
//              [--allow-host NAME]... [--no-http]
//   nowait render config.toml --out file.wav [--seconds N]
//   nowait check-config config.toml
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <exception>
#include <iostream>
#include <string>

#include "commands.hpp"

namespace {

// A finite number of seconds above zero. CLI11's PositiveNumber lets "nan"
// through, and a NaN duration would never end.
const CLI::Validator positive_seconds(
    [](std::string& text) -> std::string {
      double value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value) || value <= 0) {
        return "must be a number of seconds above 0, got " + text;
      }
      return {};
    },
    "SECONDS>0", "positive seconds");

}  // namespace

int main(int argc, char** argv) {
  using namespace nowait::app;

  CLI::App app{"nowait: a real-time audio mixer, recorder and monitor on lock-free rings", "nowait"};
  app.require_subcommand(1);

  RunOptions run_options;
  std::string run_config;
  double run_duration = 0;
  CLI::App* run =
      app.add_subcommand("run", "Run the engine in real time until Ctrl-C, or for --duration seconds");
  CLI::Option* run_config_option =
      run->add_option("config", run_config, "Config file (TOML); without one, the embedded default")
          ->type_name("FILE");
  CLI::Option* run_duration_option =
      run->add_option("--duration", run_duration, "Stop after this many seconds")->check(positive_seconds);
  run->add_flag("-q,--quiet", run_options.quiet, "No status line; print only errors");
  run->add_option("--listen", run_options.listen,
                  "Serve the dashboard and API on HOST:PORT (port 0: any free port)")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  run->add_option("--token", run_options.token,
                  "Bearer token for control calls; required when --listen is not loopback")
      ->type_name("TOKEN");
  run->add_option("--allow-host", run_options.allow_hosts,
                  "Also answer to this Host name (a reverse proxy's, a scrape target's); repeatable")
      ->type_name("NAME[:PORT]")
      ->expected(1)  // one name per flag, so a config path after it stays the positional
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  bool no_http = false;
  run->add_flag("--no-http", no_http, "Run without the dashboard and API server");

  RenderOptions render_options;
  std::string render_config;
  std::string render_out;
  CLI::App* render =
      app.add_subcommand("render", "Render a config offline, faster than real time, to a file");
  render->add_option("config", render_config, "Config file (TOML)")->required()->type_name("FILE");
  render->add_option("-o,--out", render_out, "Output file (.wav or .flac)")->required()->type_name("FILE");
  render->add_option("-s,--seconds", render_options.seconds, "Length of the render in seconds")
      ->check(positive_seconds)
      ->capture_default_str();

  CheckConfigOptions check_options;
  std::string check_config;
  CLI::App* check = app.add_subcommand("check-config", "Validate a config file and print what it would run");
  check->add_option("config", check_config, "Config file (TOML)")->required()->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  try {
    if (run->parsed()) {
      if (run_config_option->count() > 0) run_options.config = run_config;
      if (run_duration_option->count() > 0) run_options.duration_seconds = run_duration;
      run_options.http = !no_http;
      return run_engine(run_options);
    }
    if (render->parsed()) {
      render_options.config = render_config;
      render_options.out = render_out;
      return render_offline(render_options);
    }
    check_options.config = check_config;
    return run_check_config(check_options);
  } catch (const std::exception& error) {
    std::cerr << "nowait: " << error.what() << '\n';
    return exit_failure;
  }
}
