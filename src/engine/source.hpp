// nowait engine: where input audio comes from.
//
// A Source renders stereo audio on its input's producer thread (or, for an
// offline render, on the render loop), never on the real-time thread. It is
// built on the control thread by make_source() from an input's config.
//
// Every source is a pure function of (spec, format, options) and of how many
// frames it has rendered so far: two sources built alike render the same
// samples bit for bit, whatever the sizes of the render() calls. That is what
// lets an offline render and a real-time run of one config agree.
//
// Generators (exact definitions, so that tests can recompute them):
//   level = std::pow(10.0, options.level_db / 20.0)                 (double)
//
//   tone:<hz>    frame n (counted from 0 at construction), L and R alike:
//                  static_cast<float>(level * std::sin(2.0 * std::numbers::pi * hz
//                                                      * static_cast<double>(n)
//                                                      / static_cast<double>(sample_rate)))
//                evaluated in double, left to right as written, then rounded
//                to float once. level is the peak: -12 dBFS peaks at 0.2512.
//                The phase is the frame count, never an accumulated increment,
//                so it does not drift and is continuous across render() calls.
//
//   noise:white  xoshiro256** 1.0 (Blackman and Vigna), its four state words
//                the first four outputs of splitmix64 seeded with options.seed. Each frame takes one 64-bit
//                output, keeps its top 53 bits as u in [0, 1) and renders
//                  static_cast<float>((2.0 * u - 1.0) * (level * std::sqrt(3.0)))
//                in L and R alike (a mono generator, so pan places it). A
//                uniform variable on [-a, a) has RMS a / sqrt(3), so level is
//                the RMS and the peak is level * sqrt(3) (+4.77 dB): at
//                level_db above -4.77 the mixer will count clipped samples.
//
//   noise:pink   The same white sequence through Paul Kellet's "refined"
//                pink filter (six one-pole sections plus a direct and a
//                one-sample-delayed term), computed in double, L and R alike.
//                Kellet gives its slope as -3 dB/octave within +-0.05 dB from
//                9.2 Hz up to Nyquist at 44.1 kHz; the poles are fixed per
//                sample, so at another rate that band scales with the rate
//                (from 10 Hz at 48 kHz, 40 Hz at 192 kHz). The output is
//                scaled by the filter's exact noise gain (the closed form of
//                the sum of its squared impulse response), so its RMS is
//                level in expectation. Most of pink noise's power sits in its
//                lowest octaves, which a short window samples sparsely: the
//                RMS of one second scatters by about 0.25 dB (one standard
//                deviation), of five seconds by 0.12 dB, of a minute by 0.04.
//
//   silence      zeros.
//
// Files ("file:<path>", via libsndfile: WAV, FLAC, Ogg/Vorbis and whatever
// else the installed libsndfile reads):
//   - Samples are read as float, normalised by libsndfile (16-bit PCM s
//     becomes s / 32768). options.level_db does not apply to files; the
//     input's gain does.
//   - Mono is copied to L and R; stereo is kept; with more channels the first
//     two are used as L and R and the rest are ignored.
//   - options.loop: the file wraps back to its frame 0 seamlessly, forever.
//     Otherwise it plays once: the call that reaches the end returns only the
//     frames left, and every later call returns 0.
//   - A file at another sample rate is converted to the engine's with
//     libsamplerate, SRC_SINC_MEDIUM_QUALITY, streaming. The converter is fed
//     and drained in fixed blocks that depend only on the stream position,
//     never on render()'s request sizes, so chunking does not change the
//     output. A looping file feeds the wrapped stream continuously (the wrap
//     is filtered like any other sample); a one-shot file flushes the
//     converter with end_of_input at its end, so its length is
//     frames * engine_rate / file_rate, give or take a frame. The converter
//     adds no delay; its filter sees silence before frame 0, which shapes
//     the first few dozen output frames (a fade-in of the first samples).
//   - A looping file whose reads fail part way (a truncated or corrupt file)
//     ends like a one-shot file rather than spinning on the error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "engine/format.hpp"

namespace nowait::engine {

class Source {
 public:
  virtual ~Source() = default;

  // Renders up to out.size() / channels frames of interleaved stereo into out
  // and returns how many frames it rendered. Fewer than asked only once a
  // one-shot source has reached its end; 0 from then on. Deterministic: two
  // sources built from the same spec and format render the same samples,
  // whatever the sizes of the calls. A trailing odd sample of out is left
  // untouched. Frames past the returned count are left untouched.
  // Thread: the input's producer thread (one thread at a time). Blocking (a
  // file source reads the disk). Allocates only in its constructor (the
  // libraries a file source calls may allocate inside their decoders, e.g.
  // libvorbis on its first blocks).
  virtual std::size_t render(std::span<float> out) = 0;

  // A short human-readable description, e.g. "tone 440 Hz at -12 dBFS".
  // Thread: any. Blocking; allocates.
  virtual std::string describe() const = 0;
};

// An error in a source spec or its file, with a message fit for the user.
struct SourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What make_source needs beyond the spec itself.
struct SourceOptions {
  bool loop = true;        // file sources: start again at the end, or stop (one-shot)
  double level_db = -12;   // generators: output level in dBFS (peak for tones, RMS for noise); finite
  std::uint64_t seed = 1;  // noise generators: the pseudo-random seed, for reproducible renders
};

// Builds a source from its spec:
//   "tone:<hz>"         a sine at <hz> (0 < hz < sample_rate / 2), a decimal number
//   "noise:white"       white noise
//   "noise:pink"        pink noise (-3 dB per octave)
//   "silence"           zeros
//   "file:<path>"       WAV, FLAC or Ogg via libsndfile, mono or stereo, resampled
//                       with libsamplerate when its rate differs from the engine's;
//                       a relative path is relative to the working directory
// Throws SourceError whose what() starts with "source '<spec>': " and says
// what is wrong: an unknown kind, a frequency that is not a number or is out
// of range, an unknown noise colour, a non-finite level, an empty path, and
// for files the path and libsndfile's own reason (sf_strerror), or that the
// file has no audio frames, or a rate libsamplerate cannot convert.
// Precondition: format is valid (see format.hpp). Thread: control. Blocking;
// allocates every buffer the source will use.
std::unique_ptr<Source> make_source(const std::string& spec, const StreamFormat& format,
                                    const SourceOptions& options = {});

}  // namespace nowait::engine
