#include "engine/scope.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace nowait::engine {

std::uint32_t scope_decimation(int sample_rate, int scope_rate) noexcept {
  if (scope_rate <= 0 || sample_rate <= 0) return 0;
  const double d = std::round(static_cast<double>(sample_rate) / scope_rate);
  return d < 1.0 ? 1u : static_cast<std::uint32_t>(d);
}

ScopeReader::ScopeReader(ScopeRing::Consumer ring, std::size_t display_capacity)
    : ring_(std::move(ring)), buffer_(std::max<std::size_t>(1, display_capacity)) {}

std::size_t ScopeReader::update() noexcept {
  if (!ring_) return 0;
  auto chunk = ring_->read_chunk(ring_->capacity());
  const std::size_t n = chunk.size();
  auto store = [this](std::span<const XyPair> pairs) {
    for (const XyPair& p : pairs) {
      buffer_[next_] = p;
      next_ = next_ + 1 == buffer_.size() ? 0 : next_ + 1;
    }
  };
  store(chunk.first());
  store(chunk.second());
  chunk.commit(n);
  size_ = std::min(buffer_.size(), size_ + n);
  total_ += n;
  return n;
}

std::size_t ScopeReader::samples(std::span<XyPair> out) const noexcept {
  const std::size_t n = std::min(out.size(), size_);
  // The oldest of the latest n pairs sits n places before next_.
  std::size_t at = (next_ + buffer_.size() - n) % buffer_.size();
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = buffer_[at];
    at = at + 1 == buffer_.size() ? 0 : at + 1;
  }
  return n;
}

std::vector<XyPair> ScopeReader::samples(std::size_t n) const {
  std::vector<XyPair> out(std::min(n, size_));
  samples(std::span<XyPair>(out));
  return out;
}

}  // namespace nowait::engine
