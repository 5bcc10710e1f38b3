// nowait engine: file sources through libsndfile, converted with libsamplerate.
//
// Data path, all buffers allocated in the constructor:
//
//   file --sf_readf_float--> raw_ (file channels) --to stereo--> block_
//        (fixed blocks of block_frames; a looping file seeks to 0 at its end)
//   direct:    render() copies out of block_
//   resampled: block_ --src_process--> out_ (fixed capacity); render() copies out of out_
//
// render() only ever copies out of a buffer and asks for the next one when it
// is empty. The sequence of sf_readf_float and src_process calls, and their
// arguments, therefore depend only on the stream position and never on the
// sizes render() is called with: chunking cannot change a single sample.
#include "engine/source_file.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <samplerate.h>
#include <sndfile.h>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace nowait::engine::detail {
namespace {

// Frames per file read and per converter output block. Small enough to stay
// in cache, large enough that the per-call overhead of libsndfile and
// libsamplerate does not matter.
constexpr std::size_t block_frames = 1024;

// A converter call that neither consumes nor produces is retried this many
// times before the stream is declared ended, so a misbehaving converter ends
// the source instead of hanging its producer thread.
constexpr int max_idle_conversions = 8;

struct SndfileCloser {
  void operator()(SNDFILE* file) const noexcept { sf_close(file); }
};
struct SrcDeleter {
  void operator()(SRC_STATE* state) const noexcept { src_delete(state); }
};

std::string major_format_name(int format) {
  switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX:
    case SF_FORMAT_RF64:
      return "WAV";
    case SF_FORMAT_FLAC:
      return "FLAC";
    case SF_FORMAT_OGG:
      return "Ogg";
    case SF_FORMAT_AIFF:
      return "AIFF";
    default:
      return "audio";
  }
}

std::string channels_name(int count) {
  if (count == 1) return "mono";
  if (count == 2) return "stereo";
  return std::to_string(count) + " channels, first two used";
}

class FileSource final : public Source {
 public:
  FileSource(const std::string& spec, const std::string& path, const StreamFormat& format, bool loop)
      : loop_(loop) {
    const std::string prefix = "source '" + spec + "': ";
    SF_INFO info{};
    file_.reset(sf_open(path.c_str(), SFM_READ, &info));
    if (!file_) throw SourceError(prefix + "cannot open '" + path + "': " + sf_strerror(nullptr));
    if (info.channels < 1) throw SourceError(prefix + "'" + path + "' has no channels");
    if (info.frames <= 0) throw SourceError(prefix + "'" + path + "' has no audio frames");
    file_channels_ = static_cast<std::size_t>(info.channels);

    raw_.resize(block_frames * file_channels_);
    block_.resize(block_frames * channels);

    std::string description = "file '" + path + "' (" + major_format_name(info.format) + ", " +
                              std::to_string(info.samplerate) + " Hz, " + channels_name(info.channels);
    if (info.samplerate != format.sample_rate) {
      ratio_ = static_cast<double>(format.sample_rate) / static_cast<double>(info.samplerate);
      if (src_is_valid_ratio(ratio_) == 0) {
        throw SourceError(prefix + "'" + path + "' is at " + std::to_string(info.samplerate) +
                          " Hz, which libsamplerate cannot convert to " + std::to_string(format.sample_rate) +
                          " Hz");
      }
      int error = 0;
      converter_.reset(src_new(SRC_SINC_MEDIUM_QUALITY, static_cast<int>(channels), &error));
      if (!converter_) {
        throw SourceError(prefix + "cannot make a sample rate converter for '" + path +
                          "': " + src_strerror(error));
      }
      out_.resize(block_frames * channels);
      description += ", resampled to " + std::to_string(format.sample_rate) + " Hz";
    }
    description += loop ? ", looping)" : ", one-shot)";
    description_ = std::move(description);
  }

  std::size_t render(std::span<float> out) override {
    const std::size_t wanted = out.size() / channels;
    const std::vector<float>& source = converter_ ? out_ : block_;
    std::size_t done = 0;
    while (done < wanted) {
      if (pos_ == len_) {
        pos_ = 0;
        len_ = converter_ ? convert_block() : read_block();
        if (len_ == 0) break;
      }
      const std::size_t n = std::min(wanted - done, len_ - pos_);
      std::copy_n(source.begin() + static_cast<std::ptrdiff_t>(pos_ * channels), n * channels,
                  out.begin() + static_cast<std::ptrdiff_t>(done * channels));
      pos_ += n;
      done += n;
    }
    return done;
  }

  std::string describe() const override { return description_; }

 private:
  // Reads the next block of the file into block_ as stereo and returns its
  // frame count; a looping file wraps to frame 0 at its end. Returns 0 once
  // the file has ended (one-shot) or cannot be read any further.
  std::size_t read_block() {
    if (file_ended_) return 0;
    sf_count_t got = sf_readf_float(file_.get(), raw_.data(), static_cast<sf_count_t>(block_frames));
    if (got <= 0 && loop_ && sf_seek(file_.get(), 0, SEEK_SET) == 0) {
      got = sf_readf_float(file_.get(), raw_.data(), static_cast<sf_count_t>(block_frames));
    }
    if (got <= 0) {
      file_ended_ = true;
      return 0;
    }
    const auto frames = static_cast<std::size_t>(got);
    if (file_channels_ == 1) {
      for (std::size_t i = 0; i < frames; ++i) block_[2 * i] = block_[2 * i + 1] = raw_[i];
    } else {
      for (std::size_t i = 0; i < frames; ++i) {
        block_[2 * i] = raw_[i * file_channels_];
        block_[2 * i + 1] = raw_[i * file_channels_ + 1];
      }
    }
    return frames;
  }

  // Converts into out_ and returns the frames it holds; 0 once the converter
  // has been flushed after the file's end. Every call has the same output
  // capacity and takes input in whole file blocks, whatever render() asked.
  std::size_t convert_block() {
    if (converted_all_) return 0;
    for (int idle = 0; idle < max_idle_conversions;) {
      if (in_pos_ == in_len_ && !input_ended_) {
        in_pos_ = 0;
        in_len_ = read_block();
        input_ended_ = in_len_ == 0;
      }
      SRC_DATA data{};
      data.data_in = block_.data() + in_pos_ * channels;
      data.input_frames = static_cast<long>(in_len_ - in_pos_);
      data.data_out = out_.data();
      data.output_frames = static_cast<long>(block_frames);
      data.end_of_input = input_ended_ ? 1 : 0;
      data.src_ratio = ratio_;
      if (src_process(converter_.get(), &data) != 0) break;
      in_pos_ += static_cast<std::size_t>(data.input_frames_used);
      if (data.output_frames_gen > 0) return static_cast<std::size_t>(data.output_frames_gen);
      // With end_of_input set, a call that generates nothing means the
      // converter's tail has been flushed.
      if (input_ended_) break;
      if (data.input_frames_used == 0) ++idle;
    }
    converted_all_ = true;
    return 0;
  }

  bool loop_;
  std::unique_ptr<SNDFILE, SndfileCloser> file_;
  std::size_t file_channels_ = 0;
  std::vector<float> raw_;    // one block as the file stores it: block_frames * file_channels_
  std::vector<float> block_;  // the same block as stereo
  bool file_ended_ = false;

  std::unique_ptr<SRC_STATE, SrcDeleter> converter_;  // null when the rates match
  double ratio_ = 1.0;                                // engine rate / file rate
  std::vector<float> out_;                            // converted stereo, block_frames
  std::size_t in_pos_ = 0;                            // frames of block_ the converter has used
  std::size_t in_len_ = 0;                            // frames in block_
  bool input_ended_ = false;
  bool converted_all_ = false;

  // The buffer render() copies from: block_ (direct) or out_ (converted).
  std::size_t pos_ = 0;
  std::size_t len_ = 0;

  std::string description_;
};

}  // namespace

std::unique_ptr<Source> make_file_source(const std::string& spec, const std::string& path,
                                         const StreamFormat& format, bool loop) {
  return std::make_unique<FileSource>(spec, path, format, loop);
}

}  // namespace nowait::engine::detail
