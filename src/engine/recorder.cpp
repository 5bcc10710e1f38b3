// The recorder sink: see recorder.hpp for what it guarantees about the file.
#include "engine/recorder.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace nowait::engine {
namespace {

std::string expand_timestamp(std::string path) {
  static constexpr std::string_view placeholder = "{timestamp}";
  const auto at = path.find(placeholder);
  if (at == std::string::npos) return path;
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  path.replace(at, placeholder.size(), stamp);
  return path;
}

struct FileFormat {
  int sf_format;
  int pcm_bits;  // 16 or 24; 0 for float
  std::string description;
};

FileFormat parse_file_format(std::string_view format, std::string_view sample_format) {
  int container = 0;
  std::string description;
  if (format == "wav") {
    container = SF_FORMAT_WAV;
    description = "WAV";
  } else if (format == "flac") {
    container = SF_FORMAT_FLAC;
    description = "FLAC";
  } else {
    throw std::invalid_argument("recorder: unknown format '" + std::string(format) +
                                "' (allowed: \"wav\", \"flac\")");
  }
  int samples = 0;
  int bits = 0;
  if (sample_format == "pcm16") {
    samples = SF_FORMAT_PCM_16;
    bits = 16;
    description += " 16-bit PCM";
  } else if (sample_format == "pcm24") {
    samples = SF_FORMAT_PCM_24;
    bits = 24;
    description += " 24-bit PCM";
  } else if (sample_format == "float") {
    if (container == SF_FORMAT_FLAC)
      throw std::invalid_argument(
          "recorder: FLAC cannot hold float samples (allowed with flac: \"pcm16\", \"pcm24\")");
    samples = SF_FORMAT_FLOAT;
    description += " 32-bit float";
  } else {
    throw std::invalid_argument("recorder: unknown sample_format '" + std::string(sample_format) +
                                "' (allowed: \"pcm16\", \"pcm24\", \"float\" (wav only))");
  }
  return {container | samples, bits, std::move(description)};
}

// x * 2^(bits-1), rounded to nearest (ties to even), clipped to the integer
// range, NaN as 0; then placed in the top bits of an int, which is how
// sf_writef_int takes samples of every depth (it shifts them down exactly).
int quantise(float x, int bits) noexcept {
  const double full_scale = std::ldexp(1.0, bits - 1);
  double scaled = std::nearbyint(static_cast<double>(x) * full_scale);
  if (std::isnan(scaled)) scaled = 0.0;
  scaled = std::clamp(scaled, -full_scale, full_scale - 1.0);
  return static_cast<int>(scaled) * (1 << (32 - bits));
}

}  // namespace

RecorderSink::RecorderSink(std::string path, std::string_view format, std::string_view sample_format,
                           std::string name)
    : Sink(name, "recorder"), path_(expand_timestamp(std::move(path))), name_(std::move(name)) {
  if (path_.empty()) throw std::invalid_argument(name_ + ": path is empty");
  FileFormat file_format = parse_file_format(format, sample_format);
  sf_format_ = file_format.sf_format;
  pcm_bits_ = file_format.pcm_bits;
  description_ = std::move(file_format.description);
  set_path(path_);
}

RecorderSink::~RecorderSink() { stop(); }

void RecorderSink::open(const StreamFormat& format) {
  const std::string cannot_open = name_ + ": cannot open '" + path_ + "' for writing: ";
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error)
      throw std::runtime_error(cannot_open + "cannot create directory '" + parent.string() +
                               "': " + error.message());
  }
  // The recorder owns the descriptor (libsndfile is told not to close it) so
  // that it can fstat the file for status().bytes_written. The flags are the
  // ones sf_open uses for SFM_WRITE.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) throw std::runtime_error(cannot_open + std::strerror(errno));

  SF_INFO info{};
  info.samplerate = format.sample_rate;
  info.channels = static_cast<int>(channels);
  info.format = sf_format_;
  file_ = sf_open_fd(fd_, SFM_WRITE, &info, SF_FALSE);
  // sf_strerror(nullptr) reports the error of the last failed sf_open in this process.
  if (file_ == nullptr) throw std::runtime_error(cannot_open + description_ + ": " + sf_strerror(nullptr));
  // Rewrite the header after every write, so that a killed process leaves a
  // valid WAV up to its last block. FLAC ignores it (see recorder.hpp).
  sf_command(file_, SFC_SET_UPDATE_HEADER_AUTO, nullptr, SF_TRUE);
  if (pcm_bits_ != 0) pcm_.assign(format.block_samples(), 0);
  frames_ = 0;
  report_bytes(file_size());
}

void RecorderSink::consume(std::span<const float> block, std::uint64_t /*sequence*/) {
  const auto frames = static_cast<sf_count_t>(block.size() / channels);
  sf_count_t wrote = 0;
  if (pcm_bits_ == 0) {
    wrote = sf_writef_float(file_, block.data(), frames);
  } else {
    const std::size_t samples = std::min(block.size(), pcm_.size());
    for (std::size_t i = 0; i < samples; ++i) pcm_[i] = quantise(block[i], pcm_bits_);
    wrote = sf_writef_int(file_, pcm_.data(), static_cast<sf_count_t>(samples / channels));
  }
  if (wrote > 0) frames_ += static_cast<std::uint64_t>(wrote);
  if (wrote != frames)
    throw std::runtime_error(name_ + ": writing '" + path_ + "' failed after " + std::to_string(frames_) +
                             " frames: " + sf_strerror(file_));
  report_bytes(file_size());
}

void RecorderSink::close() noexcept {
  if (file_ != nullptr) {
    // sf_close finalises the header (and, for FLAC, flushes the last frames).
    if (const int error = sf_close(file_); error != 0)
      std::fprintf(stderr, "%s: closing '%s' failed: %s\n", name_.c_str(), path_.c_str(),
                   sf_error_number(error));
    file_ = nullptr;
  }
  if (fd_ >= 0) {
    report_bytes(file_size());
    ::close(fd_);
    fd_ = -1;
  }
}

std::uint64_t RecorderSink::file_size() const noexcept {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace nowait::engine
