// Scenario 4: one writer fanning 256-frame stereo blocks out to 0, 1, 2 or 4
// readers. The writer runs on core A, every reader on core B. Two designs:
// nowait's BroadcastRing (the writer never looks at readers) and a mutex
// around a vector of per-reader queues (the writer copies each block into
// every reader's queue under the lock, dropping a reader's oldest block when
// its queue is full, so both designs lose data the same way).
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "nowait/broadcast_ring.hpp"
#include "scenarios.hpp"

namespace nwbench {
namespace {

using u64 = std::uint64_t;
using ull = unsigned long long;

constexpr std::size_t frames = 256;
constexpr std::size_t block_samples = 2 * frames;  // 2 KiB
constexpr std::size_t ring_slots = 64;

// What a reader's read() returned, the same for both designs.
struct Outcome {
  nowait::ReadStatus status;
  u64 sequence;  // item: its sequence; otherwise the reader's next position
  u64 lost;
};

// Block b is variant b % 16 of a set of precomputed blocks (so the writer's
// cost stays a copy, not a fill), stamped with b in its first and last sample.
// A reader checks, for every block it gets, that both stamps match the
// sequence number it was told and that the samples in between sum to that
// variant's sum: a torn or misplaced block fails one or the other.
struct Blocks {
  static constexpr std::size_t variants = 16;
  std::array<std::array<float, block_samples>, variants> data{};
  std::array<u64, variants> middle_sum{};
  Blocks() {
    for (std::size_t v = 0; v < variants; ++v) {
      for (std::size_t j = 1; j + 1 < block_samples; ++j) {
        data[v][j] = static_cast<float>((j * (v + 1)) & 1023);
        middle_sum[v] += (j * (v + 1)) & 1023;
      }
    }
  }
  static float stamp(u64 b) { return static_cast<float>(b & 0xFFFFFF); }
  const float* prepare(u64 b) {
    auto& block = data[b % variants];
    block[0] = block[block_samples - 1] = stamp(b);
    return block.data();
  }
  void check(const char* design, const float* p, u64 b) const {
    if (p[0] != stamp(b) || p[block_samples - 1] != stamp(b))
      verification_failed("%s: reader got block %llu stamped %g / %g", design, static_cast<ull>(b),
                          static_cast<double>(p[0]), static_cast<double>(p[block_samples - 1]));
    u64 s = 0;
    for (std::size_t j = 1; j + 1 < block_samples; ++j) s += static_cast<std::uint32_t>(p[j]);
    if (s != middle_sum[b % variants])
      verification_failed("%s: block %llu delivered torn (sum %llu, expected %llu)", design,
                          static_cast<ull>(b), static_cast<ull>(s),
                          static_cast<ull>(middle_sum[b % variants]));
  }
};

class NowaitBroadcast {
 public:
  static constexpr const char* name = "nowait BroadcastRing";
  NowaitBroadcast(int readers)
      : NowaitBroadcast(nowait::BroadcastRing<float>::create(ring_slots, block_samples), readers) {}
  void write(const float* block) noexcept { writer_.write(std::span<const float>(block, block_samples)); }
  Outcome read(int reader, float* out) noexcept {
    const nowait::ReadResult r =
        readers_[static_cast<std::size_t>(reader)].reader.read(std::span<float>(out, block_samples));
    return {r.status, r.sequence, r.lost};
  }

 private:
  NowaitBroadcast(std::pair<nowait::BroadcastRing<float>::Writer, nowait::BroadcastRing<float>> ends,
                  int readers)
      : writer_(std::move(ends.first)) {
    for (int i = 0; i < readers; ++i) readers_.push_back({ends.second.subscribe()});
  }
  // Each endpoint on lines of its own (two, against the adjacent-line
  // prefetcher): they belong to different threads and write their own cursor
  // on every call.
  struct alignas(2 * nowait::cache_line_size) PaddedReader {
    nowait::BroadcastRing<float>::Reader reader;
  };
  alignas(2 * nowait::cache_line_size) nowait::BroadcastRing<float>::Writer writer_;
  alignas(2 * nowait::cache_line_size) std::vector<PaddedReader> readers_;
};

class MutexFanout {
 public:
  static constexpr const char* name = "std::mutex + per-reader queues";
  explicit MutexFanout(int readers) : queues_(static_cast<std::size_t>(readers)) {
    for (auto& q : queues_) q.data.resize(ring_slots * block_samples);
  }
  void write(const float* block) {
    std::lock_guard lock(mutex_);
    for (auto& q : queues_) {
      if (q.tail - q.head == ring_slots) {  // full: drop this reader's oldest block
        ++q.head;
        ++q.lost;
      }
      std::memcpy(q.data.data() + (q.tail % ring_slots) * block_samples, block,
                  block_samples * sizeof(float));
      ++q.tail;
    }
  }
  Outcome read(int reader, float* out) {
    std::lock_guard lock(mutex_);
    Queue& q = queues_[static_cast<std::size_t>(reader)];
    if (q.lost != 0) {
      const u64 lost = q.lost;
      q.lost = 0;
      return {nowait::ReadStatus::dropout, q.head, lost};
    }
    if (q.head == q.tail) return {nowait::ReadStatus::empty, q.head, 0};
    std::memcpy(out, q.data.data() + (q.head % ring_slots) * block_samples, block_samples * sizeof(float));
    return {nowait::ReadStatus::item, q.head++, 0};
  }

 private:
  struct Queue {
    std::vector<float> data;
    u64 head = 0, tail = 0, lost = 0;
  };
  std::mutex mutex_;
  std::vector<Queue> queues_;
};

struct ReaderTally {
  u64 delivered = 0;
  u64 lost = 0;
  u64 dropouts = 0;
};

// Every reader is subscribed before the first write, reads until the writer is
// done and it has drained what is left, and checks every block it gets; then
// delivered + lost must equal the blocks written, for every reader.
// Flat out: the writer writes `blocks` back to back; the value is its mean
// time per block. Paced: one block every `pace_ns`, each write timed alone; the
// value is the median write, with p99 and max as extras.
template <class D>
Sample broadcast_run(int readers, u64 blocks, std::int64_t pace_ns) {
  D design(readers);
  Blocks source;
  const Blocks& check = source;
  StartGate gate(readers);
  std::atomic<bool> done{false};
  std::vector<ReaderTally> tallies(static_cast<std::size_t>(readers));
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.push_back(pinned_thread(machine().cpu_b, [&, r] {
      std::array<float, block_samples> out{};
      ReaderTally t;
      u64 position = 0;
      gate.arrive_and_wait();
      for (;;) {
        // Acquire: once the writer's `done` is seen, every block it wrote is visible.
        const bool writer_done = done.load(std::memory_order_acquire);
        const Outcome o = design.read(r, out.data());
        if (o.status == nowait::ReadStatus::item) {
          if (o.sequence != position)
            verification_failed("%s: reader at %llu was handed block %llu", D::name,
                                static_cast<ull>(position), static_cast<ull>(o.sequence));
          check.check(D::name, out.data(), o.sequence);
          ++t.delivered;
          ++position;
        } else if (o.status == nowait::ReadStatus::dropout) {
          if (o.lost == 0 || o.sequence != position + o.lost)
            verification_failed("%s: dropout from %llu to %llu reported %llu lost", D::name,
                                static_cast<ull>(position), static_cast<ull>(o.sequence),
                                static_cast<ull>(o.lost));
          t.lost += o.lost;
          ++t.dropouts;
          position = o.sequence;
        } else if (writer_done) {
          break;
        } else {
          cpu_relax();
        }
      }
      tallies[static_cast<std::size_t>(r)] = t;
    }));
  }
  std::vector<std::int64_t> write_ns;
  if (pace_ns > 0) write_ns.resize(static_cast<std::size_t>(blocks));
  gate.open();
  const std::int64_t t0 = now_ns();
  if (pace_ns == 0) {
    for (u64 b = 0; b < blocks; ++b) design.write(source.prepare(b));
  } else {
    std::int64_t next = t0;
    for (u64 b = 0; b < blocks; ++b) {
      const float* block = source.prepare(b);
      const std::int64_t w0 = now_ns();
      design.write(block);
      write_ns[b] = now_ns() - w0;
      next += pace_ns;
      while (now_ns() < next) cpu_relax();
    }
  }
  const std::int64_t t1 = now_ns();
  // Release: pairs with the readers' acquire of `done`.
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  double delivered_fraction = 0, reader_msamples = 0, dropouts = 0;
  const double seconds = static_cast<double>(t1 - t0) * 1e-9;
  for (const ReaderTally& t : tallies) {
    if (t.delivered + t.lost != blocks)
      verification_failed("%s: a reader got %llu and lost %llu of %llu blocks written", D::name,
                          static_cast<ull>(t.delivered), static_cast<ull>(t.lost), static_cast<ull>(blocks));
    delivered_fraction += static_cast<double>(t.delivered) / static_cast<double>(blocks) / readers;
    reader_msamples += static_cast<double>(t.delivered * block_samples) / seconds / 1e6 / readers;
    dropouts += static_cast<double>(t.dropouts) / readers;
  }
  std::vector<std::pair<std::string, double>> extra;
  if (readers > 0) {
    extra = {{"reader_Msamples/s", reader_msamples},
             {"delivered_%", 100 * delivered_fraction},
             {"dropouts_per_reader", dropouts}};
  }
  if (pace_ns == 0) return {static_cast<double>(t1 - t0) / static_cast<double>(blocks), extra};
  const double med = quantile_ns(write_ns, 0.5);
  extra.insert(extra.begin(),
               {{"p99_ns", quantile_ns(write_ns, 0.99)}, {"max_ns", quantile_ns(write_ns, 1.0)}});
  return {med, extra};
}

std::vector<Peer> broadcast_peers(u64 blocks, std::int64_t pace_ns) {
  std::vector<Peer> peers;
  for (const int readers : {0, 1, 2, 4}) {
    const std::string group = std::to_string(readers) + " readers";
    const std::string suffix = ", " + std::to_string(readers) + (readers == 1 ? " reader" : " readers");
    peers.push_back({std::string(NowaitBroadcast::name) + suffix, group,
                     [=] { return broadcast_run<NowaitBroadcast>(readers, blocks, pace_ns); }});
    peers.push_back({std::string(MutexFanout::name) + suffix, group,
                     [=] { return broadcast_run<MutexFanout>(readers, blocks, pace_ns); }});
  }
  return peers;
}

}  // namespace

void scenario_broadcast() {
  const Config& cfg = config();
  const u64 flat = cfg.count(counts().broadcast_blocks, 300);
  const u64 paced = cfg.count(counts().broadcast_paced_blocks, 100);
  const std::int64_t pace = counts().broadcast_pace_ns;
  const std::string geometry = "256-frame stereo float blocks (2 KiB), " + std::to_string(ring_slots) +
                               " slots, writer on core A, all readers on core B";
  CaseSpec flat_spec{"broadcast",
                     "flat",
                     "4a. Broadcast writer cost per block, flat out",
                     "ns/block",
                     Better::lower,
                     Normalize::none,
                     std::to_string(flat) + " blocks written back to back; " + geometry};
  results().push_back(run_case(flat_spec, broadcast_peers(flat, 0)));
  CaseSpec paced_spec{"broadcast",
                      "paced",
                      "4b. Broadcast writer cost per block, paced",
                      "ns/block (median)",
                      Better::lower,
                      Normalize::none,
                      std::to_string(paced) + " blocks, one every " + std::to_string(pace / 1000) +
                          " us, each write timed alone; " + geometry};
  results().push_back(run_case(paced_spec, broadcast_peers(paced, pace)));
}

}  // namespace nwbench
