// Tests for the engine's TOML config: every error class with its exact
// message (file, line, key and problem), exact values for valid configs, path
// handling, and the embedded default against examples/configs/default.toml.
#include "engine/config.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace nowait::engine {
namespace {

namespace fs = std::filesystem;

// tests/engine/config_test.cpp -> the source tree's root.
const fs::path source_root = fs::path(__FILE__).parent_path().parent_path().parent_path();

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The message of the ConfigError that parsing `text` throws, or "no error".
std::string error_of(std::string_view text, const ParseOptions& options = {}) {
  try {
    parse_config(text, "test.toml", options);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

// A fresh directory for one test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        fs::temp_directory_path() / ("nowait_config_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

  fs::path write(const std::string& relative, std::string_view text) const {
    const fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  fs::path path_;
};

// Runs a test body with TZ set, restoring the previous value afterwards.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_.empty()) {
      ::unsetenv("TZ");
    } else {
      ::setenv("TZ", old_.c_str(), 1);
    }
    ::tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

 private:
  std::string old_;
};

// 2024-02-29 13:45:01 UTC.
const std::chrono::system_clock::time_point leap_day = std::chrono::system_clock::from_time_t(1709214301);

// Parse options for a fixed moment (and optionally a base directory).
ParseOptions at(std::chrono::system_clock::time_point now, fs::path base_dir = {}) {
  ParseOptions options;
  options.base_dir = std::move(base_dir);
  options.now = now;
  return options;
}

void expect_same_config(const EngineConfig& a, const EngineConfig& b) {
  EXPECT_EQ(a.format.sample_rate, b.format.sample_rate);
  EXPECT_EQ(a.format.block_frames, b.format.block_frames);
  EXPECT_EQ(a.driver, b.driver);
  EXPECT_EQ(a.master_gain_db, b.master_gain_db);
  EXPECT_EQ(a.scope_rate, b.scope_rate);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.sinks, b.sinks);
}

// --- valid configs ------------------------------------------------------------

TEST(Config, AnEmptyConfigHasTheDefaultEngineAndNoInputsOrSinks) {
  const EngineConfig config = parse_config("", "empty.toml");
  EXPECT_EQ(config.format.sample_rate, 48000);
  EXPECT_EQ(config.format.block_frames, 128);
  EXPECT_EQ(config.driver, "virtual");
  EXPECT_EQ(config.master_gain_db, 0.0);
  EXPECT_EQ(config.scope_rate, 4800);
  EXPECT_TRUE(config.inputs.empty());
  EXPECT_TRUE(config.sinks.empty());
}

TEST(Config, AValidConfigParsesToExactFieldValues) {
  const EngineConfig config = parse_config(R"(
[engine]
sample_rate = 44100
block_frames = 256
driver = "virtual"
master_gain_db = -3.5
scope_rate = 0

[[input]]
name = "left tone"
source = "tone:440.5"
gain_db = -6.25
pan = -1
mute = true
level_db = -20.0
loop = false

[[input]]
name = "hiss"
source = "noise:white"

[[sink]]
type = "recorder"
path = "/tmp/take.flac"
sample_format = "pcm16"
buffer_seconds = 2.5

[[sink]]
type = "null"
buffer_seconds = 1
)",
                                           "valid.toml");
  EXPECT_EQ(config.format.sample_rate, 44100);
  EXPECT_EQ(config.format.block_frames, 256);
  EXPECT_EQ(config.driver, "virtual");
  EXPECT_EQ(config.master_gain_db, -3.5);
  EXPECT_EQ(config.scope_rate, 0);

  ASSERT_EQ(config.inputs.size(), 2u);
  EXPECT_EQ(config.inputs[0],
            (InputConfig{"left tone", "tone:440.5", -6.25, -1.0, true, -20.0, false, 9, 11}));
  EXPECT_EQ(config.inputs[1], (InputConfig{"hiss", "noise:white", 0.0, 0.0, false, -12.0, true, 18, 20}));

  ASSERT_EQ(config.sinks.size(), 2u);
  EXPECT_EQ(config.sinks[0], (SinkConfig{"recorder", "/tmp/take.flac", "flac", "pcm16", 2.5, 22}));
  EXPECT_EQ(config.sinks[1], (SinkConfig{"null", "", "wav", "pcm24", 1.0, 28}));
}

TEST(Config, InputsMayBeWrittenAsAnInlineArrayOfTables) {
  const EngineConfig config = parse_config(
      "input = [ { name = \"a\", source = \"silence\" }, { name = \"b\", source = \"noise:pink\" } ]\n",
      "inline.toml");
  ASSERT_EQ(config.inputs.size(), 2u);
  EXPECT_EQ(config.inputs[0].name, "a");
  EXPECT_EQ(config.inputs[1].source, "noise:pink");
}

TEST(Config, TheBoundsOfEveryRangeAreAccepted) {
  const EngineConfig low = parse_config(R"(
[engine]
sample_rate = 8000
block_frames = 32
master_gain_db = -120
scope_rate = 0
[[input]]
name = "x"
source = "tone:0.001"
gain_db = -120
pan = -1
level_db = -120
[[sink]]
type = "null"
buffer_seconds = 1
)",
                                        "low.toml");
  EXPECT_EQ(low.format.sample_rate, 8000);
  EXPECT_EQ(low.format.block_frames, 32);
  EXPECT_EQ(low.inputs[0].level_db, -120.0);

  const EngineConfig high = parse_config(R"(
[engine]
sample_rate = 192000
block_frames = 4096
master_gain_db = 24
scope_rate = 192000
[[input]]
name = "x"
source = "tone:95999.5"
gain_db = 24
pan = 1
level_db = 0
[[sink]]
type = "null"
buffer_seconds = 600
)",
                                         "high.toml");
  EXPECT_EQ(high.format.sample_rate, 192000);
  EXPECT_EQ(high.scope_rate, 192000);
  EXPECT_EQ(high.sinks[0].buffer_seconds, 600.0);
}

// --- the error message ----------------------------------------------------------

TEST(Config, AConfigErrorCarriesFileLineKeyAndProblem) {
  try {
    parse_config("[engine]\n\n\nsample_rate = 7999\n", "studio.toml");
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file, "studio.toml");
    EXPECT_EQ(error.line, 4);
    EXPECT_EQ(error.key, "engine.sample_rate");
    EXPECT_EQ(error.problem, "must be between 8000 and 192000 Hz, got 7999");
    EXPECT_STREQ(error.what(),
                 "studio.toml:4: engine.sample_rate: must be between 8000 and 192000 Hz, got 7999");
  }
}

TEST(Config, AConfigErrorLeavesOutTheLineOrKeyWhenThereIsNone) {
  EXPECT_STREQ(ConfigError("a.toml", 0, "", "cannot read").what(), "a.toml: cannot read");
  EXPECT_STREQ(ConfigError("a.toml", 3, "", "bad").what(), "a.toml:3: bad");
  EXPECT_STREQ(ConfigError("a.toml", 3, "engine", "bad").what(), "a.toml:3: engine: bad");
}

// --- TOML syntax ----------------------------------------------------------------

TEST(Config, TomlSyntaxErrorsReportTomlppsLineAndColumn) {
  EXPECT_EQ(
      error_of("[engine]\nsample_rate = 48000\nblock_frames =\n"),
      "test.toml:3: TOML syntax error at column 15: Error while parsing key-value pair: expected value, saw "
      "'\\n'");
  EXPECT_EQ(error_of("[engine\n"),
            "test.toml:1: TOML syntax error at column 8: Error while parsing table header: expected ']', saw "
            "'\\n'");
}

TEST(Config, ARepeatedKeyIsASyntaxErrorAtTheRepetition) {
  EXPECT_EQ(
      error_of("[engine]\nsample_rate = 48000\nsample_rate = 44100\n"),
      "test.toml:3: TOML syntax error at column 15: Error while parsing key-value pair: cannot redefine "
      "existing integer 'sample_rate'");
}

// --- unknown keys -----------------------------------------------------------------

TEST(Config, UnknownKeysSuggestTheClosestKnownKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[engine]\nsample_rat = 48000\n",
       "test.toml:2: engine.sample_rat: unknown key; did you mean 'sample_rate'?"},
      {"[engine]\nsamplerate = 48000\n",
       "test.toml:2: engine.samplerate: unknown key; did you mean 'sample_rate'?"},
      {"[engine]\nBlock_Frames = 64\n",
       "test.toml:2: engine.Block_Frames: unknown key; did you mean 'block_frames'?"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\ngian_db = 1\n",
       "test.toml:4: input[1].gian_db: unknown key; did you mean 'gain_db'?"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\ngain = 1\n",
       "test.toml:4: input[1].gain: unknown key; did you mean 'gain_db'?"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\nmuted = true\n",
       "test.toml:4: input[1].muted: unknown key; did you mean 'mute'?"},
      {"[[sink]]\ntype = \"null\"\nbufer_seconds = 2\n",
       "test.toml:3: sink[1].bufer_seconds: unknown key; did you mean 'buffer_seconds'?"},
      {"[[sink]]\ntype = \"recorder\"\npath = \"a.wav\"\nfromat = \"wav\"\n",
       "test.toml:4: sink[1].fromat: unknown key; did you mean 'format'?"},
      {"[[inputs]]\nname = \"a\"\n", "test.toml:1: inputs: unknown key; did you mean 'input'?"},
      {"[engnie]\n", "test.toml:1: engnie: unknown key; did you mean 'engine'?"},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(error_of(text), message) << text;
}

TEST(Config, UnknownKeysWithNothingCloseListTheAllowedKeys) {
  EXPECT_EQ(error_of("[engine]\nvolume = 3\n"),
            "test.toml:2: engine.volume: unknown key; allowed keys: sample_rate, block_frames, driver, "
            "master_gain_db, scope_rate");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\nsource = \"silence\"\ncolour = \"red\"\n"),
      "test.toml:4: input[1].colour: unknown key; allowed keys: name, source, gain_db, pan, mute, level_db, "
      "loop");
  EXPECT_EQ(error_of("title = \"x\"\n"),
            "test.toml:1: title: unknown key; allowed keys: engine, input, sink");
}

TEST(Config, AnUnknownKeyIsReportedBeforeOtherProblemsInItsTable) {
  // The out-of-range sample_rate comes first in the file, but the typo is what
  // the user needs to see: it may be why a value looks wrong.
  EXPECT_EQ(error_of("[engine]\nsample_rate = 1\nblok_frames = 64\n"),
            "test.toml:3: engine.blok_frames: unknown key; did you mean 'block_frames'?");
}

TEST(Config, OfSeveralUnknownKeysTheTopmostIsReported) {
  EXPECT_EQ(error_of("[engine]\nzzz = 1\naaa = 2\n"),
            "test.toml:2: engine.zzz: unknown key; allowed keys: sample_rate, block_frames, driver, "
            "master_gain_db, scope_rate");
}

TEST(Config, UnknownKeysInTheSecondInputNameThatInput) {
  EXPECT_EQ(error_of("[[input]]\nname = \"a\"\nsource = \"silence\"\n\n[[input]]\nname = \"b\"\nsource = "
                     "\"silence\"\nlevel = -6\n"),
            "test.toml:8: input[2].level: unknown key; did you mean 'level_db'?");
}

// --- types -------------------------------------------------------------------------

TEST(Config, WrongTypesAreErrorsThatNameBothTypes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[engine]\nmaster_gain_db = \"-6\"\n",
       "test.toml:2: engine.master_gain_db: expected a number, got a string"},
      {"[engine]\nsample_rate = 48000.0\n",
       "test.toml:2: engine.sample_rate: expected an integer, got a floating-point number"},
      {"[engine]\nblock_frames = \"128\"\n",
       "test.toml:2: engine.block_frames: expected an integer, got a string"},
      {"[engine]\ndriver = 1\n", "test.toml:2: engine.driver: expected a string, got an integer"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\nmute = \"yes\"\n",
       "test.toml:4: input[1].mute: expected a boolean (true or false), got a string"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\nloop = 1\n",
       "test.toml:4: input[1].loop: expected a boolean (true or false), got an integer"},
      {"[[input]]\nname = 7\nsource = \"silence\"\n",
       "test.toml:2: input[1].name: expected a string, got an integer"},
      {"[[input]]\nname = \"a\"\nsource = [\"tone:440\"]\n",
       "test.toml:3: input[1].source: expected a string, got an array"},
      {"[[input]]\nname = \"a\"\nsource = \"silence\"\npan = 1979-05-27\n",
       "test.toml:4: input[1].pan: expected a number, got a date"},
      {"[[sink]]\ntype = true\n", "test.toml:2: sink[1].type: expected a string, got a boolean"},
      {"engine = 5\n", "test.toml:1: engine: expected a table ([engine]), got an integer"},
      {"input = 5\n", "test.toml:1: input: expected an array of tables ([[input]]), got an integer"},
      {"[input]\nname = \"a\"\n",
       "test.toml:1: input: expected an array of tables ([[input]]), got [input] (a single table); write "
       "[[input]] for each input"},
      {"input = [1, 2]\n", "test.toml:1: input[1]: expected a table, got an integer"},
      {"[sink]\ntype = \"null\"\n",
       "test.toml:1: sink: expected an array of tables ([[sink]]), got [sink] (a single table); write "
       "[[sink]] "
       "for each sink"},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(error_of(text), message) << text;
}

TEST(Config, NanAndInfinitiesAreRejected) {
  EXPECT_EQ(error_of("[engine]\nmaster_gain_db = nan\n"),
            "test.toml:2: engine.master_gain_db: expected a finite number, got nan");
  EXPECT_EQ(error_of("[[input]]\nname = \"a\"\nsource = \"silence\"\ngain_db = -inf\n"),
            "test.toml:4: input[1].gain_db: expected a finite number, got -inf");
  EXPECT_EQ(error_of("[[input]]\nname = \"a\"\nsource = \"silence\"\npan = +inf\n"),
            "test.toml:4: input[1].pan: expected a finite number, got inf");
  EXPECT_EQ(error_of("[[sink]]\ntype = \"null\"\nbuffer_seconds = nan\n"),
            "test.toml:3: sink[1].buffer_seconds: expected a finite number, got nan");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\nsource = \"tone:nan\"\n"),
      "test.toml:3: input[1].source: tone frequency must be above 0 and below 24000 Hz (half the sample "
      "rate), got nan");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\nsource = \"tone:inf\"\n"),
      "test.toml:3: input[1].source: tone frequency must be above 0 and below 24000 Hz (half the sample "
      "rate), got inf");
}

// --- ranges --------------------------------------------------------------------------

TEST(Config, EveryRangeIsCheckedAndTheMessageNamesIt) {
  const std::string input = "[[input]]\nname = \"a\"\nsource = \"silence\"\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[engine]\nsample_rate = 7999\n",
       "test.toml:2: engine.sample_rate: must be between 8000 and 192000 Hz, got 7999"},
      {"[engine]\nsample_rate = 192001\n",
       "test.toml:2: engine.sample_rate: must be between 8000 and 192000 Hz, got 192001"},
      {"[engine]\nsample_rate = 9223372036854775807\n",
       "test.toml:2: engine.sample_rate: must be between 8000 and 192000 Hz, got 9223372036854775807"},
      {"[engine]\nblock_frames = 31\n",
       "test.toml:2: engine.block_frames: must be between 32 and 4096 frames, got 31"},
      {"[engine]\nblock_frames = 4097\n",
       "test.toml:2: engine.block_frames: must be between 32 and 4096 frames, got 4097"},
      {"[engine]\nmaster_gain_db = 24.5\n",
       "test.toml:2: engine.master_gain_db: must be between -120 and 24 dB, got 24.5"},
      {"[engine]\nmaster_gain_db = -121\n",
       "test.toml:2: engine.master_gain_db: must be between -120 and 24 dB, got -121"},
      {"[engine]\nsample_rate = 44100\nscope_rate = 44101\n",
       "test.toml:3: engine.scope_rate: must be between 0 and 44100 pairs per second (the sample rate), got "
       "44101"},
      {"[engine]\nscope_rate = -1\n",
       "test.toml:2: engine.scope_rate: must be between 0 and 48000 pairs per second (the sample rate), got "
       "-1"},
      {input + "gain_db = 30\n", "test.toml:4: input[1].gain_db: must be between -120 and 24 dB, got 30"},
      {input + "pan = 1.5\n", "test.toml:4: input[1].pan: must be between -1 and 1 (left to right), got 1.5"},
      {input + "pan = -2\n", "test.toml:4: input[1].pan: must be between -1 and 1 (left to right), got -2"},
      {input + "level_db = 0.1\n",
       "test.toml:4: input[1].level_db: must be between -120 and 0 dBFS, got 0.1"},
      {input + "level_db = -200\n",
       "test.toml:4: input[1].level_db: must be between -120 and 0 dBFS, got -200"},
      {"[[sink]]\ntype = \"null\"\nbuffer_seconds = 0.5\n",
       "test.toml:3: sink[1].buffer_seconds: must be between 1 and 600 s, got 0.5"},
      {"[[sink]]\ntype = \"null\"\nbuffer_seconds = 601\n",
       "test.toml:3: sink[1].buffer_seconds: must be between 1 and 600 s, got 601"},
  };
  for (const auto& [text, message] : cases) EXPECT_EQ(error_of(text), message) << text;
}

TEST(Config, TheScopeRateLimitFollowsTheSampleRateWhereverItIsWritten) {
  // scope_rate is checked against this file's sample_rate even when written first.
  EXPECT_EQ(parse_config("[engine]\nscope_rate = 96000\nsample_rate = 96000\n", "x.toml").scope_rate, 96000);
}

TEST(Config, AnUnknownDriverIsRejectedWithTheAllowedList) {
  EXPECT_EQ(error_of("[engine]\ndriver = \"jack\"\n"),
            "test.toml:2: engine.driver: unknown driver \"jack\"; allowed: \"virtual\"");
}

// --- inputs ---------------------------------------------------------------------------

TEST(Config, AnInputNeedsANameAndASource) {
  EXPECT_EQ(error_of("\n[[input]]\nsource = \"silence\"\n"),
            "test.toml:2: input[1].name: missing; every [[input]] needs a name");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\n"),
      "test.toml:1: input[1].source: missing; every [[input]] needs a source, e.g. source = \"tone:440\"");
}

TEST(Config, InputNamesMustBeNonEmptyShortAndPrintable) {
  EXPECT_EQ(error_of("[[input]]\nname = \"\"\nsource = \"silence\"\n"),
            "test.toml:2: input[1].name: must not be empty");
  EXPECT_EQ(error_of("[[input]]\nname = \"   \"\nsource = \"silence\"\n"),
            "test.toml:2: input[1].name: must not be empty");
  EXPECT_EQ(error_of("[[input]]\nname = \"" + std::string(65, 'x') + "\"\nsource = \"silence\"\n"),
            "test.toml:2: input[1].name: is 65 characters long; at most 64 are allowed");
  EXPECT_EQ(error_of("[[input]]\nname = \"a\\tb\"\nsource = \"silence\"\n"),
            "test.toml:2: input[1].name: must not contain control characters");
}

TEST(Config, InputNameLengthCountsCharactersNotBytes) {
  std::string name;
  for (int i = 0; i < 64; ++i) name += "\xC3\xA9";  // é, two bytes in UTF-8
  const EngineConfig config =
      parse_config("[[input]]\nname = \"" + name + "\"\nsource = \"silence\"\n", "x.toml");
  EXPECT_EQ(config.inputs[0].name, name);
}

TEST(Config, ADuplicateInputNamePointsAtTheSecondOne) {
  EXPECT_EQ(
      error_of("[[input]]\nname = \"mic\"\nsource = \"silence\"\n\n[[input]]\nname = \"tone\"\nsource = "
               "\"silence\"\n\n[[input]]\nname = \"mic\"\nsource = \"tone:100\"\n"),
      "test.toml:10: input[3].name: duplicate input name \"mic\"; it is already used at line 2");
}

TEST(Config, ToneFrequenciesMustLieBetweenZeroAndHalfTheSampleRate) {
  const std::string engine = "[engine]\nsample_rate = 8000\n";
  EXPECT_EQ(error_of(engine + "[[input]]\nname = \"a\"\nsource = \"tone:4000\"\n"),
            "test.toml:5: input[1].source: tone frequency must be above 0 and below 4000 Hz (half the sample "
            "rate), got 4000");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\nsource = \"tone:0\"\n"),
      "test.toml:3: input[1].source: tone frequency must be above 0 and below 24000 Hz (half the sample "
      "rate), got 0");
  EXPECT_EQ(
      error_of("[[input]]\nname = \"a\"\nsource = \"tone:-5\"\n"),
      "test.toml:3: input[1].source: tone frequency must be above 0 and below 24000 Hz (half the sample "
      "rate), got -5");
  EXPECT_EQ(
      parse_config(engine + "[[input]]\nname = \"a\"\nsource = \"tone:3999.5\"\n", "x.toml").inputs[0].source,
      "tone:3999.5");
}

TEST(Config, MalformedSourceSpecsAreRejectedWithTheGrammar) {
  const std::string head = "[[input]]\nname = \"a\"\nsource = ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"tone:abc\"",
       "test.toml:3: input[1].source: expected tone:<hz> with a frequency in Hz, such as tone:440, got "
       "\"tone:abc\""},
      {"\"tone:\"",
       "test.toml:3: input[1].source: expected tone:<hz> with a frequency in Hz, such as tone:440, got "
       "\"tone:\""},
      {"\"tone:440hz\"",
       "test.toml:3: input[1].source: expected tone:<hz> with a frequency in Hz, such as tone:440, got "
       "\"tone:440hz\""},
      {"\"noise:blue\"",
       "test.toml:3: input[1].source: unknown noise colour \"blue\"; allowed: noise:white, noise:pink"},
      {"\"mic:1\"",
       "test.toml:3: input[1].source: unknown source \"mic:1\"; allowed: tone:<hz>, noise:white, noise:pink, "
       "silence, file:<path>"},
      {"\"\"",
       "test.toml:3: input[1].source: unknown source \"\"; allowed: tone:<hz>, noise:white, noise:pink, "
       "silence, "
       "file:<path>"},
      {"\"file:\"", "test.toml:3: input[1].source: expected file:<path>, got an empty path"},
  };
  for (const auto& [spec, message] : cases) EXPECT_EQ(error_of(head + spec + "\n"), message) << spec;
}

TEST(Config, AFileSourceMustNameAnExistingFile) {
  TempDir dir;
  const fs::path missing = dir.path() / "gone.wav";
  EXPECT_EQ(error_of("[[input]]\nname = \"a\"\nsource = \"file:" + missing.string() + "\"\n"),
            "test.toml:3: input[1].source: file not found: " + missing.string());
  EXPECT_EQ(error_of("[[input]]\nname = \"a\"\nsource = \"file:" + dir.path().string() + "\"\n"),
            "test.toml:3: input[1].source: " + dir.path().string() + " is a directory, not an audio file");
}

TEST(Config, RelativeFileSourcesResolveAgainstTheConfigFilesDirectory) {
  TempDir dir;
  dir.write("sounds/loop.wav", "not really audio; only its existence is checked");
  const fs::path config_path =
      dir.write("configs/player.toml", "[[input]]\nname = \"a\"\nsource = \"file:../sounds/loop.wav\"\n");
  const EngineConfig config = load_config(config_path);
  EXPECT_EQ(config.inputs[0].source, "file:" + (dir.path() / "sounds/loop.wav").string());
}

TEST(Config, ARelativeFileSourceThatIsMissingSaysWhereItWasLookedFor) {
  TempDir dir;
  const fs::path config_path =
      dir.write("player.toml", "[[input]]\nname = \"a\"\nsource = \"file:sounds/loop.wav\"\n");
  try {
    load_config(config_path);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), config_path.string() + ":3: input[1].source: file not found: " +
                                             (dir.path() / "sounds/loop.wav").string() +
                                             " (relative paths resolve against the config file's directory)");
  }
}

TEST(Config, WithoutABaseDirectoryRelativePathsStayRelative) {
  const EngineConfig config =
      parse_config("[[sink]]\ntype = \"recorder\"\npath = \"out/./take.wav\"\n", "x.toml", ParseOptions{});
  EXPECT_EQ(config.sinks[0].path, "out/take.wav");
}

// --- sinks ------------------------------------------------------------------------------

TEST(Config, ASinkNeedsAKnownType) {
  EXPECT_EQ(error_of("[[sink]]\npath = \"a.wav\"\n"),
            "test.toml:1: sink[1].type: missing; every [[sink]] needs a type: \"recorder\", \"null\"");
  EXPECT_EQ(error_of("[[sink]]\ntype = \"icecast\"\n"),
            "test.toml:2: sink[1].type: unknown sink type \"icecast\"; allowed: \"recorder\", \"null\"");
}

TEST(Config, ARecorderNeedsANonEmptyPath) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\n"),
            "test.toml:1: sink[1].path: missing; a recorder needs a path, e.g. path = "
            "\"recordings/nowait-{timestamp}.wav\"");
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"\"\n"),
            "test.toml:3: sink[1].path: must not be empty");
}

TEST(Config, ARecordersFormatIsInferredFromThePathsExtension) {
  EXPECT_EQ(parse_config("[[sink]]\ntype = \"recorder\"\npath = \"/r/a.wav\"\n", "x.toml").sinks[0].format,
            "wav");
  EXPECT_EQ(parse_config("[[sink]]\ntype = \"recorder\"\npath = \"/r/a.flac\"\n", "x.toml").sinks[0].format,
            "flac");
  EXPECT_EQ(parse_config("[[sink]]\ntype = \"recorder\"\npath = \"/r/A.FLAC\"\n", "x.toml").sinks[0].format,
            "flac");
}

TEST(Config, ARecordersFormatMustAgreeWithThePathsExtension) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"a.wav\"\nformat = \"flac\"\n"),
            "test.toml:4: sink[1].format: \"flac\" does not agree with the path's extension \".wav\"");
  EXPECT_EQ(parse_config("[[sink]]\ntype = \"recorder\"\npath = \"a.flac\"\nformat = \"flac\"\n", "x.toml")
                .sinks[0]
                .format,
            "flac");
}

TEST(Config, AnUnknownExtensionNeedsAnExplicitFormat) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"take.ogg\"\n"),
            "test.toml:3: sink[1].path: cannot tell the format from the extension \".ogg\"; end the path in "
            ".wav or "
            ".flac, or set format");
  EXPECT_EQ(
      error_of("[[sink]]\ntype = \"recorder\"\npath = \"take\"\n"),
      "test.toml:3: sink[1].path: cannot tell the format from a path without an extension; end the path in "
      ".wav or .flac, or set format");
  const EngineConfig config =
      parse_config("[[sink]]\ntype = \"recorder\"\npath = \"take.raw\"\nformat = \"wav\"\n", "x.toml");
  EXPECT_EQ(config.sinks[0].format, "wav");
}

TEST(Config, UnknownFormatsAndSampleFormatsAreRejectedWithTheAllowedValues) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"a.mp3\"\nformat = \"mp3\"\n"),
            "test.toml:4: sink[1].format: unknown format \"mp3\"; allowed: \"wav\", \"flac\"");
  EXPECT_EQ(
      error_of("[[sink]]\ntype = \"recorder\"\npath = \"a.wav\"\nsample_format = \"pcm32\"\n"),
      "test.toml:4: sink[1].sample_format: unknown sample format \"pcm32\"; allowed: \"pcm16\", \"pcm24\", "
      "\"float\"");
}

TEST(Config, FloatSamplesAreOnlyForWav) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"a.flac\"\nsample_format = \"float\"\n"),
            "test.toml:4: sink[1].sample_format: \"float\" is only available for wav; flac takes \"pcm16\", "
            "\"pcm24\"");
  EXPECT_EQ(
      parse_config("[[sink]]\ntype = \"recorder\"\npath = \"a.wav\"\nsample_format = \"float\"\n", "x.toml")
          .sinks[0]
          .sample_format,
      "float");
}

TEST(Config, ANullSinkRejectsTheRecordersKeys) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"null\"\npath = \"a.wav\"\n"),
            "test.toml:3: sink[1].path: does not apply to a null sink; a null sink takes only type, "
            "buffer_seconds");
}

TEST(Config, RelativeRecorderPathsResolveAgainstTheConfigFilesDirectory) {
  TempDir dir;
  const fs::path config_path =
      dir.write("studio/session.toml", "[[sink]]\ntype = \"recorder\"\npath = \"takes/one.wav\"\n");
  EXPECT_EQ(load_config(config_path).sinks[0].path, (dir.path() / "studio/takes/one.wav").string());
}

TEST(Config, AbsoluteRecorderPathsAreKeptAsTheyAre) {
  TempDir dir;
  const fs::path config_path =
      dir.write("session.toml", "[[sink]]\ntype = \"recorder\"\npath = \"/srv/a.wav\"\n");
  EXPECT_EQ(load_config(config_path).sinks[0].path, "/srv/a.wav");
}

// --- {timestamp} ----------------------------------------------------------------------------

TEST(Config, TimestampExpandsToTheLocalTime) {
  {
    const ScopedTimeZone utc("UTC0");
    EXPECT_EQ(expand_path_template("rec/nowait-{timestamp}.wav", leap_day), "rec/nowait-20240229-134501.wav");
  }
  {
    const ScopedTimeZone tokyo("JST-9");
    EXPECT_EQ(expand_path_template("{timestamp}/{timestamp}.flac", leap_day),
              "20240229-224501/20240229-224501.flac");
  }
}

TEST(Config, ARecorderPathsTimestampIsTheParseTime) {
  const ScopedTimeZone utc("UTC0");
  const EngineConfig config = parse_config(
      "[[sink]]\ntype = \"recorder\"\npath = \"nowait-{timestamp}.wav\"\n", "x.toml", at(leap_day, "/data"));
  EXPECT_EQ(config.sinks[0].path, "/data/nowait-20240229-134501.wav");
}

TEST(Config, AMisspeltPlaceholderIsAnErrorButOtherBracesAreKept) {
  EXPECT_EQ(error_of("[[sink]]\ntype = \"recorder\"\npath = \"take-{timestmp}.wav\"\n"),
            "test.toml:3: sink[1].path: unknown placeholder \"{timestmp}\"; the only placeholder is "
            "\"{timestamp}\"");
  EXPECT_EQ(expand_path_template("a{ }b{}c{.wav", leap_day), "a{ }b{}c{.wav");
}

// --- files ------------------------------------------------------------------------------------

TEST(Config, LoadingAMissingFileSaysItCannotBeRead) {
  TempDir dir;
  const fs::path path = dir.path() / "absent.toml";
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), path.string() + ": cannot read: No such file or directory");
    EXPECT_EQ(error.line, 0);
    EXPECT_EQ(error.key, "");
  }
}

TEST(Config, LoadingADirectorySaysItCannotBeRead) {
  TempDir dir;
  try {
    load_config(dir.path());
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), dir.path().string() + ": cannot read: it is a directory");
  }
}

TEST(Config, ErrorsFromALoadedFileNameThePathAsGiven) {
  TempDir dir;
  const fs::path path = dir.write("bad.toml", "[engine]\nblock_frames = 5\n");
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              path.string() + ":2: engine.block_frames: must be between 32 and 4096 frames, got 5");
  }
}

// --- the default and the examples --------------------------------------------------------------

TEST(Config, TheDefaultConfigIsTwoTonesPannedApartAndQuietPinkNoiseRecordedToWav) {
  const ScopedTimeZone utc("UTC0");
  const EngineConfig config = default_config(at(leap_day));
  EXPECT_EQ(config.format.sample_rate, 48000);
  EXPECT_EQ(config.format.block_frames, 128);
  ASSERT_EQ(config.inputs.size(), 3u);
  EXPECT_TRUE(config.inputs[0].source.starts_with("tone:"));
  EXPECT_TRUE(config.inputs[1].source.starts_with("tone:"));
  EXPECT_NE(config.inputs[0].source, config.inputs[1].source);
  EXPECT_LT(config.inputs[0].pan, 0.0);
  EXPECT_GT(config.inputs[1].pan, 0.0);
  EXPECT_EQ(config.inputs[2].source, "noise:pink");
  EXPECT_LT(config.inputs[2].level_db + config.inputs[2].gain_db,
            config.inputs[0].level_db + config.inputs[0].gain_db - 12.0);
  ASSERT_EQ(config.sinks.size(), 1u);
  EXPECT_EQ(config.sinks[0].type, "recorder");
  EXPECT_EQ(config.sinks[0].path, "recordings/nowait-20240229-134501.wav");
  EXPECT_EQ(config.sinks[0].format, "wav");
}

TEST(Config, TheDefaultConfigIsTheSameAsExamplesDefaultToml) {
  const fs::path file = source_root / "examples/configs/default.toml";
  const std::string text = read_text(file);
  EXPECT_EQ(text, default_config_text());
  expect_same_config(parse_config(text, file.string(), at(leap_day)), default_config(at(leap_day)));
}

TEST(Config, EveryExampleConfigLoads) {
  int examples = 0;
  for (const auto& entry : fs::directory_iterator(source_root / "examples/configs")) {
    if (entry.path().extension() != ".toml") continue;
    ++examples;
    EXPECT_NO_THROW(load_config(entry.path())) << entry.path();
  }
  EXPECT_GE(examples, 3);
}

TEST(Config, TheEightInputExampleHasEightUniquelyNamedInputs) {
  const EngineConfig config = load_config(source_root / "examples/configs/eight_inputs.toml");
  ASSERT_EQ(config.inputs.size(), 8u);
}

TEST(Config, TheFilePlayerExampleFindsItsFileNextToTheConfig) {
  const fs::path dir = source_root / "examples/configs";
  const EngineConfig config = load_config(dir / "file_player.toml");
  EXPECT_EQ(config.inputs[0].source, "file:" + (dir / "sounds/chime.wav").lexically_normal().string());
}

// Each tests/engine/configs/*.toml starts with "# expect: <line>: <message>";
// the CLI test runs the same files through `nowait check-config`.
TEST(Config, EveryBadConfigFixtureFailsWithTheMessageOnItsFirstLine) {
  int fixtures = 0;
  for (const auto& entry : fs::directory_iterator(source_root / "tests/engine/configs")) {
    if (entry.path().extension() != ".toml") continue;
    ++fixtures;
    std::string expected = read_text(entry.path());
    expected = expected.substr(0, expected.find('\n'));
    ASSERT_TRUE(expected.starts_with("# expect: ")) << entry.path();
    expected = entry.path().string() + ":" + expected.substr(10);
    if (const auto at = expected.find("@DIR@"); at != std::string::npos) {
      expected.replace(at, 5, entry.path().parent_path().string());
    }
    try {
      load_config(entry.path());
      ADD_FAILURE() << entry.path() << ": no error";
    } catch (const ConfigError& error) {
      EXPECT_EQ(std::string(error.what()), expected);
    }
  }
  EXPECT_GE(fixtures, 5);
}

}  // namespace
}  // namespace nowait::engine
