// nowait/pipeline_status.hpp: the health of a chunked processing pipeline
// (audio in, "inference" per chunk) in four numbers, updated wait-free from the
// threads doing the work and read as one plain struct.
//
//   nowait::PipelineStatus status;
//
//   // analysis thread, per chunk
//   status.set_inference_time_ms(elapsed_ms);
//   status.add_chunk(/*dropped=*/false);
//   // RT thread, per block
//   status.set_audio_lag_ms(lag_ms);
//
//   // control thread
//   auto s = status.snapshot();
//   std::printf("drops %.1f%%  RTF %.2f\n", 100 * s.drop_rate(), s.real_time_factor(0.5));
//
// Contract:
//
//   operation                             thread  progress   allocates
//   set_audio_lag_ms / set_inference_time_ms  any  wait-free  no
//   add_chunk / add_chunks                any     wait-free  no
//   snapshot                              any     wait-free  no
//   Snapshot::drop_rate / real_time_factor  any   wait-free  no (plain arithmetic)
//
// Each field is a Gauge or Counter from metrics.hpp. A snapshot reads them one
// by one, so it is not one instant across all fields; it does guarantee
// dropped_chunks <= total_chunks (see snapshot()), so drop_rate() is never
// above 1.
#pragma once

#include <atomic>
#include <cstdint>

#include "nowait/metrics.hpp"
#include "nowait/rt.hpp"

namespace nowait {

class PipelineStatus {
 public:
  // A plain copy of the fields.
  struct Snapshot {
    std::int64_t audio_lag_ms = 0;        // how far processing trails the audio; may be negative
    std::uint64_t inference_time_ms = 0;  // time spent on the latest chunk
    std::uint64_t dropped_chunks = 0;     // chunks skipped, since construction
    std::uint64_t total_chunks = 0;       // chunks seen, dropped ones included

    // dropped_chunks / total_chunks in [0, 1]; 0 when no chunk was seen.
    double drop_rate() const noexcept NOWAIT_NONBLOCKING {
      return total_chunks == 0 ? 0.0
                               : static_cast<double>(dropped_chunks) / static_cast<double>(total_chunks);
    }

    // Real-time factor: inference seconds per chunk over the chunk's length in
    // seconds. Below 1.0 the pipeline runs faster than real time; above 1.0 it
    // falls behind. Returns 0 when chunk_seconds is 0, negative or NaN, since
    // no chunk length means no meaningful ratio.
    double real_time_factor(double chunk_seconds) const noexcept NOWAIT_NONBLOCKING {
      if (!(chunk_seconds > 0.0)) return 0.0;
      return static_cast<double>(inference_time_ms) / 1000.0 / chunk_seconds;
    }
  };

  constexpr PipelineStatus() noexcept = default;
  PipelineStatus(const PipelineStatus&) = delete;
  PipelineStatus& operator=(const PipelineStatus&) = delete;

  // Sets the audio lag. Thread: any. Wait-free; no allocation.
  void set_audio_lag_ms(std::int64_t ms) noexcept NOWAIT_NONBLOCKING { audio_lag_ms_.set(ms); }

  // Sets the latest chunk's inference time. Thread: any. Wait-free; no allocation.
  void set_inference_time_ms(std::uint64_t ms) noexcept NOWAIT_NONBLOCKING { inference_time_ms_.set(ms); }

  // Counts one chunk, and one drop when `dropped`. Thread: any. Wait-free; no
  // allocation.
  void add_chunk(bool dropped) noexcept NOWAIT_NONBLOCKING { add_chunks(1, dropped ? 1 : 0); }

  // Counts `total` chunks of which `dropped` were dropped.
  // Precondition: dropped <= total (debug-checked).
  // Thread: any. Wait-free; no allocation.
  void add_chunks(std::uint64_t total, std::uint64_t dropped) noexcept NOWAIT_NONBLOCKING {
    NOWAIT_PRECONDITION(dropped <= total, "PipelineStatus::add_chunks: more dropped than total");
    total_chunks_.add(total);
    if (dropped == 0) return;
    // Release fence: publishes the total added before the drop (pairs with the
    // acquire fence in snapshot(), keeping dropped <= total there). Edge: our
    // total add -> this fence -> our drop add -> a snapshot's load that reads
    // it or a later add (all adds are RMWs, so they continue its release
    // sequence) -> that snapshot's acquire fence -> its load of the total.
    // On AArch64 the fences are DMB ISH and DMB ISHLD, which keep that order.
    detail::release_fence();
    dropped_chunks_.add(dropped);
  }

  // The four fields. dropped_chunks is read before total_chunks, with an
  // acquire fence between them that pairs with the release fence in
  // add_chunks, so every drop it counts has its chunk counted too.
  // Thread: any. Wait-free; no allocation.
  Snapshot snapshot() const noexcept NOWAIT_NONBLOCKING {
    Snapshot s;
    s.dropped_chunks = dropped_chunks_.value();
    // Acquire fence: makes visible the total added before every drop the load saw.
    detail::acquire_fence();
    s.total_chunks = total_chunks_.value();
    s.audio_lag_ms = audio_lag_ms_.value();
    s.inference_time_ms = inference_time_ms_.value();
    return s;
  }

 private:
  // One cache line per group of fields one thread writes together: the lag
  // usually comes from the RT thread and the rest from the analysis thread,
  // but a program may split them otherwise, and writers from different
  // threads on one line would invalidate each other's cache (false sharing).
  // The two chunk counters are always updated together, so they share a line.
  alignas(cache_line_size) Gauge<std::int64_t> audio_lag_ms_;
  alignas(cache_line_size) Gauge<std::uint64_t> inference_time_ms_;
  alignas(cache_line_size) Counter total_chunks_;
  Counter dropped_chunks_;
};

}  // namespace nowait
