// `nowait run` as a user runs it: a child process, stopped by a signal, and
// the recording it leaves checked with libsndfile.
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sndfile.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

// A scratch directory for one test, removed afterwards.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / ("nowait-cli-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
};

// A running `nowait` with its stdout on a pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, NOWAIT_BINARY, &actions, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("posix_spawn failed");
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }

  // Reads stdout until a line contains `needle` (true) or the stream ends or
  // 30 s pass (false). Waits in poll(), on the child's own output.
  bool wait_for_line(const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::size_t searched = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto newline = output_.find('\n', searched);
      if (newline != std::string::npos) {
        if (output_.substr(searched, newline - searched).find(needle) != std::string::npos) return true;
        searched = newline + 1;
        continue;
      }
      if (!read_some(1000)) return false;
    }
    return false;
  }

  // Sends `signal_number`, reads stdout to its end and returns the exit status.
  int stop_with(int signal_number) {
    kill(pid_, signal_number);
    return finish();
  }

  // Reads stdout to its end and returns the exit status.
  int finish() {
    while (read_some(30'000)) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  const std::string& output() const { return output_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buffer[4096];
    const ssize_t n = read(out_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// The frame count `nowait run` reported for a sink in its closing lines
// ("nowait: <sink>: <N> frames ..."), or -1. (No std::regex: gcc 12 under ASan
// warns inside its std::function internals.)
long long reported_frames(const std::string& output, const std::string& sink) {
  const std::string prefix = "nowait: " + sink + ": ";
  for (std::size_t at = output.find(prefix); at != std::string::npos; at = output.find(prefix, at + 1)) {
    const std::size_t digits = at + prefix.size();
    std::size_t end = digits;
    while (end < output.size() && output[end] >= '0' && output[end] <= '9') ++end;
    if (end > digits && output.compare(end, 7, " frames") == 0)
      return std::stoll(output.substr(digits, end - digits));
  }
  return -1;
}

struct WavInfo {
  bool readable = false;
  SF_INFO info{};
};

WavInfo read_wav(const fs::path& path) {
  WavInfo w;
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &w.info);
  if (f != nullptr) {
    w.readable = true;
    sf_close(f);
  }
  return w;
}

const char* recorder_config = R"(
[engine]
sample_rate = 48000
block_frames = 128

[[input]]
name = "tone"
source = "tone:440"

[[sink]]
type = "recorder"
path = "take.wav"
)";

void expect_clean_stop_leaves_a_valid_recording(int signal_number) {
  ScratchDir dir;
  write_file(dir.path / "run.toml", recorder_config);
  Child nowait({"nowait", "run", (dir.path / "run.toml").string(), "--quiet", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(nowait.wait_for_line("recorder started")) << nowait.output();

  const int status = nowait.stop_with(signal_number);
  ASSERT_TRUE(WIFEXITED(status)) << nowait.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << nowait.output();
  const long long frames = reported_frames(nowait.output(), "recorder");
  ASSERT_GT(frames, 0) << nowait.output();
  EXPECT_EQ(frames % 128, 0) << "the recorder writes whole blocks";

  const WavInfo wav = read_wav(dir.path / "take.wav");
  ASSERT_TRUE(wav.readable);
  EXPECT_EQ(wav.info.frames, frames);
  EXPECT_EQ(wav.info.channels, 2);
  EXPECT_EQ(wav.info.samplerate, 48000);
}

TEST(NowaitRun, SigintDuringRecordingLeavesAWavWithEveryFrameItReported) {
  expect_clean_stop_leaves_a_valid_recording(SIGINT);
}

TEST(NowaitRun, SigtermDuringRecordingLeavesAWavWithEveryFrameItReported) {
  expect_clean_stop_leaves_a_valid_recording(SIGTERM);
}

TEST(NowaitRun, AnUnwritableRecordingFailsThatSinkWhileTheOtherRecordsTheWholeRun) {
  ScratchDir dir;
  write_file(dir.path / "blocker", "a regular file where a directory should be");
  write_file(dir.path / "run.toml", std::string(recorder_config) + R"(
[[sink]]
type = "recorder"
path = "blocker/lost.wav"
)");
  Child nowait({"nowait", "run", (dir.path / "run.toml").string(), "--quiet", "--duration", "1", "--listen",
                "127.0.0.1:0"});
  const int status = nowait.finish();
  ASSERT_TRUE(WIFEXITED(status)) << nowait.output();
  EXPECT_EQ(WEXITSTATUS(status), 1) << "a failed sink is reported in the exit code";
  EXPECT_NE(nowait.output().find("failed"), std::string::npos) << nowait.output();

  const long long frames = reported_frames(nowait.output(), "recorder");
  ASSERT_GT(frames, 0) << nowait.output();
  const WavInfo wav = read_wav(dir.path / "take.wav");
  ASSERT_TRUE(wav.readable);
  EXPECT_EQ(wav.info.frames, frames);
  EXPECT_GE(frames, 48000 - 128) << "the healthy recorder kept the whole second";
}

}  // namespace
