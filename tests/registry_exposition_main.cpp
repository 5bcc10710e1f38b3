// Prints the exposition of a realistic registry: every metric kind, several
// series per family, label values that need escaping, histograms with thinned
// and with full buckets, non-finite gauges. Plain Prometheus text by default,
// JSON with --json. The CTest tests in registry_exposition_check.cmake pipe
// the text through `promtool check metrics` and parse the JSON, and fail on
// any complaint. Every value is recorded deterministically (no clock reads),
// so both runs print the same numbers.
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string_view>

#include "nowait/metrics.hpp"
#include "nowait/pipeline_status.hpp"
#include "nowait/registry.hpp"

int main(int argc, char** argv) {
  using nowait::HistogramLayout;
  using nowait::Unit;
  nowait::Registry r;

  // Counters, one family with several series; values that need escaping.
  const char* inputs[] = {"mic 1", "line \"in\" 2", "C:\\capture\\3", "two\nlines", "Mikrofon \xc3\xa4"};
  std::uint64_t n = 1;
  for (const char* input : inputs) {
    r.counter("audio_frames_total", "Frames read from each input", Unit::none,
              {{"input", input}, {"rate", "48000"}})
        .add(n *= 4801);
  }
  r.counter("audio_underruns_total", "Blocks with missing input\\data,\nfilled with silence").add(3);
  r.counter("audio_busy_seconds_total", "Time spent in the audio callback", Unit::nanoseconds)
      .add(12'345'678'901);
  r.counter("saturated_events_total", "A counter stuck at its maximum")
      .add(std::numeric_limits<std::uint64_t>::max());
  auto& writes =
      r.sharded_counter("recorder_written_bytes_total", "Bytes written by the recorder", Unit::bytes, {}, 4);
  writes.shard().add(1 << 20);
  writes.shard().add(4096);

  // Gauges of each value type and unit, finite and not.
  r.gauge<std::int64_t>("audio_clock_offset_seconds", "Device clock minus system clock", Unit::microseconds)
      .set(-1234);
  r.gauge<std::uint64_t>("ring_occupancy", "Samples waiting in the ring", Unit::none, {{"ring", "capture"}})
      .set(512);
  r.gauge<std::uint64_t>("ring_occupancy", "Samples waiting in the ring", Unit::none, {{"ring", "playback"}})
      .set(0);
  r.gauge("output_gain_ratio", "Linear output gain", Unit::ratio).set(0.1 + 0.2);
  r.gauge("meter_peak_dbfs", "Peak level in dBFS (-Inf: silence)")
      .set(-std::numeric_limits<double>::infinity());
  r.gauge("meter_crest_factor", "Peak over RMS (NaN: silence)").set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("meter_headroom_ratio", "Headroom (+Inf: silence)", Unit::ratio)
      .set(std::numeric_limits<double>::infinity());
  r.max_gauge("ring_occupancy_max", "Most samples ever waiting in the ring", Unit::none,
              {{"ring", "capture"}})
      .observe(4000);
  r.max_gauge<std::int64_t>("audio_lag_max_seconds", "Worst lag seen", Unit::milliseconds).observe(42);

  // Histograms: thinned (4 per octave) and every bucket, with labels and
  // values under and over the range.
  for (const char* stage : {"capture", "mix"}) {
    auto& h = r.histogram("stage_duration_seconds", "Time per block in each stage", Unit::nanoseconds,
                          HistogramLayout(1'000, 10'000'000, 32), {{"stage", stage}});
    for (std::uint64_t v = 500; v < 50'000'000; v = v * 5 / 4 + 333) h.record(v);
  }
  auto& sizes = r.histogram("packet_size_bytes", "Encoded packet size", Unit::bytes,
                            HistogramLayout(16, 4096, 4), {{"codec", "opus \"vbr\""}}, 4);
  for (std::uint64_t v = 1; v < 10'000; v = v * 3 + 1) sizes.record(v);

  // A stage timer per stage, a pipeline status, callback gauges.
  for (const char* stage : {"decode", "mix", "encode"}) {
    auto& t = r.stage_timer("pipeline_stage", "Time in each pipeline stage", {{"stage", stage}});
    t.record(1'500);
    t.record(250'000);
  }
  auto& status = r.pipeline_status("asr", 0.5, {{"model", "small"}});
  status.set_audio_lag_ms(-15);
  status.set_inference_time_ms(180);
  status.add_chunks(1000, 7);
  r.callback_gauge("process_open_streams", "Streams open", Unit::none, [] { return 3.0; }, {{"kind", "ws"}});
  r.callback_gauge("scrape_interval_seconds", "Expected scrape interval", Unit::milliseconds,
                   [] { return 15000.0; });

  const bool json = argc > 1 && std::string_view(argv[1]) == "--json";
  const nowait::RegistrySnapshot snap = r.snapshot();
  std::fputs((json ? nowait::to_json(snap) : nowait::to_prometheus(snap)).c_str(), stdout);
  return 0;
}
