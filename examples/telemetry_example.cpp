// Telemetry from a hot thread, read from another. The README shows this file
// verbatim, and a test checks that the two agree.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nowait/metrics.hpp>
#include <nowait/pipeline_status.hpp>
#include <nowait/registry.hpp>
#include <span>
#include <thread>
#include <variant>
#include <vector>

using nowait::Unit;

// What the hot thread touches: the metric objects, never the registry.
struct AudioMetrics {
  nowait::Counter& frames;
  nowait::Counter& underruns;
  nowait::Histogram& callback;  // nanoseconds
  nowait::StageTimer& mix;
  nowait::PipelineStatus& status;
};

// One audio period. Every update is a relaxed atomic or two; under clang 20+
// a call in here that may allocate, lock or block is a compile error.
void process(AudioMetrics& m, std::span<float> block, std::uint64_t period) noexcept NOWAIT_NONBLOCKING {
  nowait::ScopedTimer whole(m.callback);  // records the period's duration on return
  {
    nowait::ScopedTimer t(m.mix);
    for (float& s : block) s *= 0.5f;
  }
  m.frames.add(block.size());
  const bool dropped = period % 50 == 49;  // pretend every 50th chunk misses its deadline
  if (dropped) m.underruns.add();
  m.status.add_chunk(dropped);
  m.status.set_inference_time_ms(120);  // for a 0.5 s chunk: real-time factor 0.24
  m.status.set_audio_lag_ms(12);
}

int main() {
  // Setup, on the control thread: registration allocates and locks.
  nowait::Registry registry;
  AudioMetrics m{
      registry.counter("audio_frames_total", "Frames processed", Unit::none, {{"input", "mic 1"}}),
      registry.counter("audio_underruns_total", "Periods that missed their deadline"),
      registry.histogram("audio_callback_duration_seconds", "Audio callback time", Unit::nanoseconds,
                         nowait::HistogramLayout(100, 100'000'000, 32)),
      registry.stage_timer("audio_stage", "Time in each stage", {{"stage", "mix"}}),
      registry.pipeline_status("asr", /*chunk_seconds=*/0.5),
  };

  constexpr std::uint64_t periods = 500;
  std::atomic<bool> done{false};
  std::thread hot([&] {
    std::vector<float> block(256, 1.0f);
    for (std::uint64_t p = 0; p < periods; ++p) {
      process(m, block, p);
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // stands in for the device's period
    }
    done.store(true, std::memory_order_release);
  });

  // Any other thread reads, as often as it likes: a snapshot never makes the
  // hot thread wait.
  while (!done.load(std::memory_order_acquire)) {
    const nowait::RegistrySnapshot live = registry.snapshot();
    const auto so_far = std::get<std::uint64_t>(live.sample("asr_chunks_total")->value);
    std::printf("live: %llu periods so far\n", static_cast<unsigned long long>(so_far));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  hot.join();

  // One snapshot: the figures printed and the Prometheus text agree.
  const nowait::RegistrySnapshot snap = registry.snapshot();
  const auto chunks = std::get<std::uint64_t>(snap.sample("asr_chunks_total")->value);
  const double drop_rate = nowait::as_double(snap.sample("asr_drop_ratio")->value);
  const double rtf = nowait::as_double(snap.sample("asr_real_time_factor")->value);
  const nowait::HistogramSample& callback = snap.sample("audio_callback_duration_seconds")->histogram;
  std::printf("periods %llu, drop rate %.1f%%, RTF %.2f, callback p99 %.1f us over %llu calls\n",
              static_cast<unsigned long long>(chunks), 100 * drop_rate, rtf,
              nowait::as_double(callback.p99) * 1e6, static_cast<unsigned long long>(callback.count));
  std::fputs(nowait::to_prometheus(snap).c_str(), stdout);
  return 0;
}
