// The floors: what the hardware allows, measured in the same run as the
// scenarios. A cache line's round trip between the two cores bounds any
// hand-off's latency; single-core memcpy bounds any copy's bandwidth.
#include <cstring>
#include <string>
#include <vector>

#include "scenarios.hpp"

namespace nwbench {
namespace {

// Bandwidth of memcpy between two buffers of `bytes` on one core, in GB/s
// (bytes copied per ns). Repeats until about `total` bytes have moved.
Sample memcpy_run(std::size_t bytes, std::uint64_t total) {
  std::vector<unsigned char> src(bytes), dst(bytes);
  for (std::size_t i = 0; i < bytes; ++i) src[i] = static_cast<unsigned char>(i * 131 + 7);
  std::memcpy(dst.data(), src.data(), bytes);  // touch both before timing
  const std::uint64_t reps = std::max<std::uint64_t>(1, total / bytes);
  const std::int64_t t0 = now_ns();
  for (std::uint64_t r = 0; r < reps; ++r) {
    std::memcpy(dst.data(), src.data(), bytes);
    keep(dst);  // each copy must happen
  }
  const std::int64_t t1 = now_ns();
  if (std::memcmp(dst.data(), src.data(), bytes) != 0)
    verification_failed("memcpy floor: %zu bytes copied wrongly", bytes);
  return {static_cast<double>(reps * bytes) / static_cast<double>(t1 - t0), {}};
}

Sample round_trip_floor_run(int round_trips) { return {cache_line_round_trip_ns(round_trips), {}}; }

}  // namespace

void scenario_floors() {
  const Config& cfg = config();
  const int rts = static_cast<int>(cfg.count(100'000, 200));
  CaseSpec rt{"floor",
              "cache_line_round_trip",
              "Floor: cache-line round trip between the two cores",
              "ns",
              Better::lower,
              Normalize::time_over_probe,
              std::to_string(rts) +
                  " round trips of one std::atomic on its own line, median of per-round-trip times"};
  auto r1 = run_case(rt, {{"std::atomic ping-pong", "floor", [rts] { return round_trip_floor_run(rts); }}});
  floors().round_trip_ns = r1.peers[0].median;
  results().push_back(std::move(r1));

  const std::uint64_t total = cfg.count(2u << 30, 1u << 20);
  CaseSpec mc{"floor",
              "memcpy",
              "Floor: single-core memcpy bandwidth",
              "GB/s",
              Better::higher,
              Normalize::none,
              "repeated memcpy between two buffers, about " + std::to_string(total >> 20) + " MiB per run"};
  auto r2 = run_case(mc, {{"memcpy 16 KiB", "16k", [total] { return memcpy_run(16u << 10, total); }},
                          {"memcpy 8 MiB", "8m", [total] { return memcpy_run(8u << 20, total / 4); }}});
  floors().memcpy_16k_gbs = r2.peers[0].median;
  floors().memcpy_8m_gbs = r2.peers[1].median;
  results().push_back(std::move(r2));
}

}  // namespace nwbench
