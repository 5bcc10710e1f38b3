// nowait engine: the XY scope feed. The RT thread pushes the master's (left,
// right) pairs, decimated to the configured scope rate, into an SpscRing; a
// pair that does not fit is dropped and counted, never waited for. The control
// side drains the ring into a display buffer with ScopeReader.
//
// Decimation: every D-th frame of the master is kept, D = max(1,
// round(sample_rate / scope_rate)), counted across block boundaries, so the
// pairs are evenly spaced at sample_rate / D per second (48000 / 4800: every
// 10th frame, 4800 pairs per second).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "nowait/metrics.hpp"
#include "nowait/rt.hpp"
#include "nowait/spsc_ring.hpp"

namespace nowait::engine {

struct XyPair {
  float x = 0.0f;  // left
  float y = 0.0f;  // right
  friend bool operator==(const XyPair&, const XyPair&) = default;
};

using ScopeRing = SpscRing<XyPair>;

// The decimation for a scope rate; 0 when scope_rate <= 0 (scope off).
std::uint32_t scope_decimation(int sample_rate, int scope_rate) noexcept;

// The RT side. A default-constructed tap is off and push() does nothing.
class ScopeTap {
 public:
  ScopeTap() noexcept = default;
  // Thread: control, before the RT thread owns it. `dropped` outlives the tap.
  ScopeTap(ScopeRing::Producer ring, std::uint32_t decimation, Counter& dropped) noexcept
      : ring_(std::move(ring)), decimation_(decimation), dropped_(&dropped) {}

  // Pushes every decimation-th frame of an interleaved stereo block.
  // Thread: RT. Wait-free; no allocation.
  void push(std::span<const float> block) noexcept NOWAIT_NONBLOCKING {
    if (!ring_ || decimation_ == 0) return;
    const std::size_t frames = block.size() / 2;
    std::uint64_t dropped = 0;
    for (std::size_t i = phase_; i < frames; i += decimation_) {
      if (!ring_->try_push(XyPair{block[2 * i], block[2 * i + 1]})) ++dropped;
    }
    // The next kept frame, relative to the next block's start.
    const std::size_t kept = phase_ < frames ? (frames - phase_ + decimation_ - 1) / decimation_ : 0;
    phase_ = static_cast<std::uint32_t>(phase_ + kept * decimation_ - frames);
    if (dropped != 0) dropped_->add(dropped);
  }

 private:
  std::optional<ScopeRing::Producer> ring_;
  std::uint32_t decimation_ = 0;
  std::uint32_t phase_ = 0;  // index within the next block of the next kept frame
  Counter* dropped_ = nullptr;
};

// The control side: drains the ring into a display buffer holding the latest
// `display_capacity` pairs. One control thread at a time.
class ScopeReader {
 public:
  // A reader with no ring (scope off): update() drains nothing.
  ScopeReader() = default;
  // Thread: control. Allocates the display buffer.
  ScopeReader(ScopeRing::Consumer ring, std::size_t display_capacity);

  // Moves every pair waiting in the ring into the display buffer, dropping the
  // oldest displayed pairs when it is full. Returns how many it moved.
  // Thread: control. Wait-free (bounded by the ring's capacity); no allocation.
  std::size_t update() noexcept;

  // The latest min(n, size()) pairs, oldest first. Does not touch the ring.
  // Thread: control. Allocates the result.
  std::vector<XyPair> samples(std::size_t n) const;

  // As samples(out.size()), into `out`; returns how many it wrote (the latest
  // pairs, oldest first, at the start of out). No allocation.
  std::size_t samples(std::span<XyPair> out) const noexcept;

  // Pairs in the display buffer, at most its capacity.
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return buffer_.size(); }
  // Pairs ever drained from the ring.
  std::uint64_t total() const noexcept { return total_; }

 private:
  std::optional<ScopeRing::Consumer> ring_;
  std::vector<XyPair> buffer_;  // circular; the newest pair is at next_ - 1
  std::size_t next_ = 0;
  std::size_t size_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace nowait::engine
