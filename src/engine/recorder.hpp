// nowait engine: the recorder sink, WAV or FLAC through libsndfile.
#pragma once

#include <cstdint>
#include <sndfile.h>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sink.hpp"

namespace nowait::engine {

// Writes the master to a file at the engine's sample rate, 2 channels:
//   format "wav":  sample_format "pcm16", "pcm24" or "float";
//   format "flac": sample_format "pcm16" or "pcm24".
// PCM: the recorder quantises the floats itself, x * 2^(bits-1) rounded to
// nearest (ties to even) and clipped to [-2^(bits-1), 2^(bits-1) - 1], no
// dither; the mixer counts clipped samples. libsndfile reads such a file back
// as q / 2^(bits-1), within half an LSB of what was recorded (one LSB where
// +1.0 was clipped). The recorder does not leave the conversion to libsndfile
// because its float-to-PCM scaling differs between WAV and FLAC by up to one
// LSB; this way a WAV and a FLAC of the same depth hold the same integers.
//
// Always a valid file:
// - WAV: the header is rewritten after every block (SFC_SET_UPDATE_HEADER_AUTO),
//   so a recording whose process is killed, even by SIGKILL, reads back as a
//   valid WAV holding every block written before the kill.
// - FLAC: the stream header (STREAMINFO) can only be completed by sf_close, so
//   a killed FLAC recording reads back with an unknown length and holds every
//   complete encoder frame: all but the last < 4096 frames written (libsndfile
//   encodes 4096-frame blocks). Use WAV where a kill must lose nothing.
// stop() finalises either with sf_close.
//
// status().bytes_written is the file's size on disk, taken with fstat after
// every block: exact, header included, and for FLAC what the encoder has
// flushed so far.
//
// Failures (state failed, error in status().error, engine unaffected):
// - a directory that cannot be created, or a file that cannot be opened:
//   "recorder: cannot open '<path>' for writing: <reason>";
// - a short write (a full disk, a file size limit): libsndfile's reason,
//   e.g. "recorder: writing '<path>' failed after 1234 frames: <sf_strerror>".
//
// Thread: control for construction and the Sink calls; the file is written on
// the sink thread.
class RecorderSink final : public Sink {
 public:
  // `path` may hold "{timestamp}", replaced by the local time as
  // YYYYMMDD-HHMMSS. Missing parent directories are created at start.
  // Throws std::invalid_argument for an empty path, an unknown format or
  // sample format, or FLAC with float samples, naming the allowed values.
  // Thread: control. Allocates.
  RecorderSink(std::string path, std::string_view format, std::string_view sample_format,
               std::string name = "recorder");
  ~RecorderSink() override;

  // The file being written ("{timestamp}" expanded). Thread: any.
  const std::string& path() const noexcept { return path_; }

 private:
  void open(const StreamFormat& format) override;
  void consume(std::span<const float> block, std::uint64_t sequence) override;
  void close() noexcept override;

  std::uint64_t file_size() const noexcept;

  std::string path_;
  std::string name_;
  std::string description_;  // e.g. "WAV 24-bit PCM", for messages
  int sf_format_ = 0;        // SF_FORMAT_* container | sample format
  int pcm_bits_ = 0;         // 16 or 24; 0 for float samples
  // Sink thread only, between open() and close():
  int fd_ = -1;
  SNDFILE* file_ = nullptr;
  std::vector<int> pcm_;  // one block, quantised
  std::uint64_t frames_ = 0;
};

}  // namespace nowait::engine
