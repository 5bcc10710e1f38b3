// Scenario 3: audio bulk transfer. Interleaved stereo float blocks of 128 and
// 256 frames move from core A to core B; each peer uses its bulk path
// (nowait's chunks, boost's push/pop of a run, the deque's range insert).
#include <array>
#include <string>
#include <thread>
#include <vector>

#include "adapters.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;

constexpr std::size_t ring_samples = 8192;  // 4096 stereo frames, 32 KiB

// Block b carries its number (mod 2^24, exact in a float) in its first and
// last sample; the samples between hold j & 1023. The consumer checks both
// stamps of every block (sequence) and sums every sample it received as an
// integer (sum), which must match the total the producer sent.
inline float stamp(u64 block) { return static_cast<float>(block & 0xFFFFFF); }

template <std::size_t Samples>
u64 block_sum(const float* p) {
  u64 s = 0;
  for (std::size_t j = 0; j < Samples; ++j) s += static_cast<std::uint32_t>(p[j]);
  return s;
}

// The producer offers each block to the queue until all of it is in (a bulk
// call may take part of it); the consumer takes up to a block's worth per call
// until it has a whole block, then checks it. Time: start gate to the last
// block checked.
template <class Q, std::size_t Frames>
Sample bulk_run(u64 blocks) {
  constexpr std::size_t n = 2 * Frames;
  Q q(ring_samples);
  std::array<float, n> src{};
  for (std::size_t j = 1; j + 1 < n; ++j) src[j] = static_cast<float>(j & 1023);
  const u64 middle_sum = block_sum<n>(src.data());  // stamps are still 0 here
  StartGate gate(1);
  std::int64_t t_end = 0;
  u64 received_sum = 0;
  std::thread consumer = pinned_thread(machine().cpu_b, [&] {
    std::array<float, n> dst{};
    gate.arrive_and_wait();
    u64 s = 0;
    for (u64 b = 0; b < blocks; ++b) {
      std::size_t got = 0;
      while (got < n) {
        const std::size_t k = q.pop_some(dst.data() + got, n - got);
        if (k == 0) cpu_relax();
        got += k;
      }
      if (dst[0] != stamp(b) || dst[n - 1] != stamp(b))
        verification_failed("%s: block %llu arrived stamped %g / %g", Q::name,
                            static_cast<unsigned long long>(b), static_cast<double>(dst[0]),
                            static_cast<double>(dst[n - 1]));
      s += block_sum<n>(dst.data());
    }
    t_end = now_ns();
    received_sum = s;
  });
  gate.open();
  const std::int64_t t0 = now_ns();
  u64 sent_sum = 0;
  for (u64 b = 0; b < blocks; ++b) {
    src[0] = src[n - 1] = stamp(b);
    sent_sum += middle_sum + 2 * (b & 0xFFFFFF);
    std::size_t put = 0;
    while (put < n) {
      const std::size_t k = q.push_some(src.data() + put, n - put);
      if (k == 0) cpu_relax();
      put += k;
    }
  }
  consumer.join();
  if (received_sum != sent_sum)
    verification_failed("%s: samples summed to %llu, the producer sent %llu", Q::name,
                        static_cast<unsigned long long>(received_sum),
                        static_cast<unsigned long long>(sent_sum));
  const double seconds = static_cast<double>(t_end - t0) * 1e-9;
  const double samples_per_s = static_cast<double>(blocks * n) / seconds;
  const double gbs = samples_per_s * sizeof(float) * 1e-9;
  return {samples_per_s / 1e6, {{"GB/s", gbs}, {"x_memcpy_16k", gbs / floors().memcpy_16k_gbs}}};
}

template <class Q, std::size_t Frames>
Peer bulk_peer(u64 blocks) {
  return {Q::name, "bulk", [blocks] { return bulk_run<Q, Frames>(blocks); }};
}

template <std::size_t Frames>
void bulk_case(u64 samples) {
  const u64 blocks = std::max<u64>(1, samples / (2 * Frames));
  const u64 blocks_mutex = std::max<u64>(1, blocks / 10);  // a few Msamples/s: a tenth is plenty
  CaseSpec spec{"bulk",
                "frames" + std::to_string(Frames),
                "3. Audio bulk transfer, " + std::to_string(Frames) + "-frame stereo float blocks",
                "Msamples/s",
                Better::higher,
                Normalize::rate_per_round_trip,
                std::to_string(blocks) + " blocks per run (std::mutex + std::deque: " +
                    std::to_string(blocks_mutex) + ") through a ring of " + std::to_string(ring_samples) +
                    " samples; x_memcpy_16k = bytes/s over single-core memcpy of 16 KiB"};
  results().push_back(run_case(spec, {
                                         bulk_peer<NowaitChunk, Frames>(blocks),
                                         bulk_peer<BoostSpsc<float>, Frames>(blocks),
                                         bulk_peer<MutexDeque<float>, Frames>(blocks_mutex),
                                     }));
}

}  // namespace

void scenario_bulk() {
  const u64 samples = config().count(counts().bulk_samples, 1u << 14);
  bulk_case<128>(samples);
  bulk_case<256>(samples);
}

}  // namespace nwbench
