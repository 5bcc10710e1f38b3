// nowait engine: the stream format every part of the engine agrees on.
#pragma once

#include <cstddef>

namespace nowait::engine {

// The engine mixes, meters, records and broadcasts interleaved stereo float
// (L R L R ...). Mono sources are spread to both channels by their input.
inline constexpr std::size_t channels = 2;

inline constexpr int min_sample_rate = 8000;
inline constexpr int max_sample_rate = 192000;
inline constexpr int min_block_frames = 32;
inline constexpr int max_block_frames = 4096;

struct StreamFormat {
  int sample_rate = 48000;  // frames per second, min_sample_rate..max_sample_rate
  int block_frames = 128;   // frames per process() call, min_block_frames..max_block_frames

  std::size_t block_samples() const noexcept { return static_cast<std::size_t>(block_frames) * channels; }
  double block_seconds() const noexcept { return static_cast<double>(block_frames) / sample_rate; }
};

}  // namespace nowait::engine
