#include "engine/meters.hpp"

#include <cmath>

namespace nowait::engine {

PeakHold::PeakHold(const StreamFormat& format)
    : hold_blocks_(static_cast<std::uint32_t>(std::ceil(peak_hold_seconds / format.block_seconds()))),
      decay_(static_cast<float>(
          std::pow(10.0, -peak_hold_decay_db_per_second * format.block_seconds() / 20.0))) {}

}  // namespace nowait::engine
