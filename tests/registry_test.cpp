// Tests of nowait/registry.hpp: the exact Prometheus text and JSON of small
// registries, escaping, number formatting, unit conversion, and every
// registration error, each checked to name the offending metric. The
// function marked NOWAIT_NONBLOCKING below is the real-time side: the rtsan
// build checks, at compile time and at run time, that it touches only the
// metric objects and never the registry. promtool's verdict on a realistic
// registry is the CTest test PromtoolAcceptsTheRegistryExposition
// (registry_exposition_main.cpp).
#include "nowait/registry.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "nowait/metrics.hpp"
#include "nowait/pipeline_status.hpp"
#include "nowait/rt.hpp"

namespace {

using nowait::HistogramLayout;
using nowait::Labels;
using nowait::MetricType;
using nowait::Registry;
using nowait::RegistrySnapshot;
using nowait::Unit;

// The message of the std::invalid_argument that f throws, or "" if it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Expects registration f to throw, with a message naming `metric` and saying `why`.
void expect_rejected(const std::function<void()>& f, std::string_view metric, std::string_view why) {
  const std::string message = error_of(f);
  ASSERT_FALSE(message.empty()) << "registering " << metric << " did not throw";
  EXPECT_TRUE(contains(message, "metric \"" + std::string(metric) + "\"")) << message;
  EXPECT_TRUE(contains(message, why)) << message;
}

// ---------------------------------------------------------------------------
// Exposition

TEST(Registry, RendersTheExactPrometheusTextOfASmallRegistry) {
  Registry r;
  auto& mic1 = r.counter("audio_frames_total", "Frames processed", Unit::none, {{"input", "mic 1"}});
  auto& mic2 = r.counter("audio_frames_total", "Frames processed", Unit::none, {{"input", "mic 2"}});
  auto& lag =
      r.gauge<std::int64_t>("audio_lag_seconds", "How far processing trails the audio", Unit::milliseconds);
  auto& depth = r.gauge<std::uint64_t>("queue_depth", "Items queued");
  auto& peak = r.max_gauge<double>("audio_peak_ratio", "Loudest sample", Unit::ratio);
  auto& writes = r.sharded_counter("disk_written_bytes_total", "Bytes written", Unit::bytes, {}, 2);
  // S = 2: buckets [1] [2] [3] [4,5] [6,7] [8].
  auto& block =
      r.histogram("block_duration_seconds", "Block time", Unit::nanoseconds, HistogramLayout(1, 8, 2));
  auto& mix = r.stage_timer("pipeline_stage", "Stage time", {{"stage", "mix"}});

  mic1.add(256);
  lag.set(-12);
  depth.set(3);
  peak.observe(0.5);
  peak.observe(0.25);
  writes.shard().add(4096);
  for (std::uint64_t v : {0, 1, 3, 6, 20}) block.record(v);  // 0 underflows, 20 overflows
  mix.record(1500);
  mix.record(500);
  (void)mic2;

  EXPECT_EQ(r.prometheus(),
            "# HELP audio_frames_total Frames processed\n"
            "# TYPE audio_frames_total counter\n"
            "audio_frames_total{input=\"mic 1\"} 256\n"
            "audio_frames_total{input=\"mic 2\"} 0\n"
            "# HELP audio_lag_seconds How far processing trails the audio\n"
            "# TYPE audio_lag_seconds gauge\n"
            "audio_lag_seconds -0.012\n"
            "# HELP queue_depth Items queued\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth 3\n"
            "# HELP audio_peak_ratio Loudest sample\n"
            "# TYPE audio_peak_ratio gauge\n"
            "audio_peak_ratio 0.5\n"
            "# HELP disk_written_bytes_total Bytes written\n"
            "# TYPE disk_written_bytes_total counter\n"
            "disk_written_bytes_total 4096\n"
            "# HELP block_duration_seconds Block time\n"
            "# TYPE block_duration_seconds histogram\n"
            "block_duration_seconds_bucket{le=\"1e-09\"} 2\n"
            "block_duration_seconds_bucket{le=\"2e-09\"} 2\n"
            "block_duration_seconds_bucket{le=\"3e-09\"} 3\n"
            "block_duration_seconds_bucket{le=\"5e-09\"} 3\n"
            "block_duration_seconds_bucket{le=\"7e-09\"} 4\n"
            "block_duration_seconds_bucket{le=\"8e-09\"} 4\n"
            "block_duration_seconds_bucket{le=\"+Inf\"} 5\n"
            "block_duration_seconds_sum 3e-08\n"
            "block_duration_seconds_count 5\n"
            "# HELP pipeline_stage_seconds_total Stage time (total time)\n"
            "# TYPE pipeline_stage_seconds_total counter\n"
            "pipeline_stage_seconds_total{stage=\"mix\"} 2e-06\n"
            "# HELP pipeline_stage_calls_total Stage time (calls)\n"
            "# TYPE pipeline_stage_calls_total counter\n"
            "pipeline_stage_calls_total{stage=\"mix\"} 2\n"
            "# HELP pipeline_stage_max_seconds Stage time (longest call)\n"
            "# TYPE pipeline_stage_max_seconds gauge\n"
            "pipeline_stage_max_seconds{stage=\"mix\"} 1.5e-06\n");
}

TEST(Registry, AddsLeAfterTheSeriesLabelsOfAHistogram) {
  Registry r;
  auto& h = r.histogram("request_size_bytes", "Request size", Unit::bytes, HistogramLayout(1, 2, 1),
                        {{"route", "a"}});
  h.record(2);
  EXPECT_EQ(r.prometheus(),
            "# HELP request_size_bytes Request size\n"
            "# TYPE request_size_bytes histogram\n"
            "request_size_bytes_bucket{route=\"a\",le=\"1\"} 0\n"
            "request_size_bytes_bucket{route=\"a\",le=\"2\"} 1\n"
            "request_size_bytes_bucket{route=\"a\",le=\"+Inf\"} 1\n"
            "request_size_bytes_sum{route=\"a\"} 2\n"
            "request_size_bytes_count{route=\"a\"} 1\n");
}

TEST(Registry, ShowsTheChosenBucketsPerOctaveAndKeepsTheirCountsExact) {
  Registry r;
  // S = 4 over [1, 100]: 22 buckets. One per octave keeps the bounds 1, 3, 7,
  // 15, 31, 63 (each just below a power of two) and the last, 100.
  auto& h = r.histogram("item_size_bytes", "Item size", Unit::bytes, HistogramLayout(1, 100, 4), {}, 1);
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  const RegistrySnapshot snap = r.snapshot();
  const auto& buckets = snap.sample("item_size_bytes")->histogram.buckets;
  std::vector<std::uint64_t> le;
  std::vector<std::uint64_t> cumulative;
  for (const auto& b : buckets) {
    le.push_back(std::get<std::uint64_t>(b.le));
    cumulative.push_back(b.cumulative_count);
  }
  EXPECT_EQ(le, (std::vector<std::uint64_t>{1, 3, 7, 15, 31, 63, 100}));
  EXPECT_EQ(cumulative, (std::vector<std::uint64_t>{1, 3, 7, 15, 31, 63, 100}));
  EXPECT_EQ(snap.sample("item_size_bytes")->histogram.count, 100u);
}

TEST(Registry, ShowsEveryBucketWhenBucketsPerOctaveReachesTheSubBuckets) {
  Registry r;
  auto& h = r.histogram("item_size_bytes", "Item size", Unit::bytes, HistogramLayout(1, 100, 4), {}, 4);
  h.record(1);
  EXPECT_EQ(r.snapshot().sample("item_size_bytes")->histogram.buckets.size(), 22u);
}

TEST(Registry, EscapesBackslashQuoteAndNewlineInLabelValues) {
  Registry r;
  r.counter("events_total", "Events", Unit::none, {{"path", "C:\\dir \"x\"\nend"}}).add();
  EXPECT_EQ(r.prometheus(),
            "# HELP events_total Events\n"
            "# TYPE events_total counter\n"
            "events_total{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n");
}

TEST(Registry, EscapesBackslashAndNewlineButNotQuotesInHelpText) {
  Registry r;
  r.gauge("temperature_celsius", "Line one\\ \"two\"\nthree");
  EXPECT_EQ(r.prometheus(),
            "# HELP temperature_celsius Line one\\\\ \"two\"\\nthree\n"
            "# TYPE temperature_celsius gauge\n"
            "temperature_celsius 0\n");
}

TEST(Registry, SortsLabelsByNameWhateverTheOrderTheyWereGivenIn) {
  Registry r;
  r.counter("events_total", "Events", Unit::none, {{"zone", "z"}, {"area", "a"}});
  EXPECT_TRUE(contains(r.prometheus(), "events_total{area=\"a\",zone=\"z\"} 0\n"));
  // The same set in another order is the same series.
  expect_rejected(
      [&] {
        r.counter("events_total", "Events", Unit::none, {{"area", "a"}, {"zone", "z"}});
      },
      "events_total", "already registered with labels {area=\"a\",zone=\"z\"}");
}

TEST(Registry, WritesIntegersExactlyAndDoublesInShortestRoundTripForm) {
  Registry r;
  r.gauge<std::uint64_t>("big_value", "u64 max").set(std::numeric_limits<std::uint64_t>::max());
  r.gauge<std::int64_t>("low_value", "i64 min").set(std::numeric_limits<std::int64_t>::min());
  r.gauge("tenth_value", "0.1").set(0.1);
  r.gauge("third_value", "1/3").set(1.0 / 3.0);
  const std::string text = r.prometheus();
  EXPECT_TRUE(contains(text, "\nbig_value 18446744073709551615\n")) << text;
  EXPECT_TRUE(contains(text, "\nlow_value -9223372036854775808\n")) << text;
  EXPECT_TRUE(contains(text, "\ntenth_value 0.1\n")) << text;
  EXPECT_TRUE(contains(text, "\nthird_value 0.3333333333333333\n")) << text;
  EXPECT_EQ(std::strtod("0.3333333333333333", nullptr), 1.0 / 3.0);
}

TEST(Registry, WritesNonFiniteValuesAsPrometheusAndJsonRequire) {
  Registry r;
  r.gauge("nan_value", "NaN").set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("up_value", "+Inf").set(std::numeric_limits<double>::infinity());
  r.gauge("down_value", "-Inf").set(-std::numeric_limits<double>::infinity());
  const RegistrySnapshot snap = r.snapshot();
  const std::string text = nowait::to_prometheus(snap);
  EXPECT_TRUE(contains(text, "\nnan_value NaN\n")) << text;
  EXPECT_TRUE(contains(text, "\nup_value +Inf\n")) << text;
  EXPECT_TRUE(contains(text, "\ndown_value -Inf\n")) << text;
  const std::string json = nowait::to_json(snap);
  EXPECT_TRUE(contains(json,
                       "\"nan_value\":{\"type\":\"gauge\",\"help\":\"NaN\",\"unit\":\"\",\"samples\":[{"
                       "\"labels\":{},\"value\":null}]}"))
      << json;
  EXPECT_TRUE(contains(json,
                       "\"up_value\":{\"type\":\"gauge\",\"help\":\"+Inf\",\"unit\":\"\",\"samples\":[{"
                       "\"labels\":{},\"value\":null}]}"))
      << json;
  EXPECT_FALSE(contains(json, "Inf,")) << json;
}

TEST(Registry, ExposesEveryTimeUnitInSeconds) {
  Registry r;
  r.gauge<std::uint64_t>("a_seconds", "s", Unit::seconds).set(2);
  r.gauge<std::uint64_t>("b_seconds", "ms", Unit::milliseconds).set(1500);
  r.gauge<std::uint64_t>("c_seconds", "us", Unit::microseconds).set(250);
  r.gauge<std::uint64_t>("d_seconds", "ns", Unit::nanoseconds).set(1'000'000'001);
  r.gauge("e_seconds", "double ms", Unit::milliseconds).set(0.5);
  r.counter("f_seconds_total", "ns counter", Unit::nanoseconds).add(3'000'000'000);
  const RegistrySnapshot snap = r.snapshot();
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("a_seconds")->value), 2u);
  EXPECT_EQ(std::get<double>(snap.sample("b_seconds")->value), 1.5);
  EXPECT_EQ(std::get<double>(snap.sample("c_seconds")->value), 0.00025);
  EXPECT_EQ(std::get<double>(snap.sample("d_seconds")->value), 1.000000001);
  EXPECT_EQ(std::get<double>(snap.sample("e_seconds")->value), 0.0005);
  EXPECT_EQ(std::get<double>(snap.sample("f_seconds_total")->value), 3.0);
  const std::string text = nowait::to_prometheus(snap);
  EXPECT_TRUE(contains(text, "\nd_seconds 1.000000001\n")) << text;
  EXPECT_TRUE(contains(text, "\nf_seconds_total 3\n")) << text;
}

// ---------------------------------------------------------------------------
// JSON

TEST(Registry, RendersTheExactJsonOfATinyRegistry) {
  Registry r;
  r.counter("frames_total", "Frames", Unit::none, {{"input", "mic 1"}}).add(42);
  r.gauge("level_ratio", "Level", Unit::ratio).set(0.25);
  r.histogram("wait_seconds", "Wait", Unit::nanoseconds, HistogramLayout(1, 2, 1)).record(2);
  EXPECT_EQ(
      r.json(),
      "{\"frames_total\":{\"type\":\"counter\",\"help\":\"Frames\",\"unit\":\"\",\"samples\":["
      "{\"labels\":{\"input\":\"mic 1\"},\"value\":42}]},"
      "\"level_ratio\":{\"type\":\"gauge\",\"help\":\"Level\",\"unit\":\"ratio\",\"samples\":["
      "{\"labels\":{},\"value\":0.25}]},"
      "\"wait_seconds\":{\"type\":\"histogram\",\"help\":\"Wait\",\"unit\":\"seconds\",\"samples\":["
      "{\"labels\":{},\"count\":1,\"sum\":2e-09,\"min\":2e-09,\"max\":2e-09,"
      "\"p50\":2e-09,\"p90\":2e-09,\"p99\":2e-09,\"p999\":2e-09,"
      "\"buckets\":[{\"le\":1e-09,\"cumulative_count\":0},{\"le\":2e-09,\"cumulative_count\":1}]}]}}\n");
}

TEST(Registry, EscapesQuotesBackslashesAndControlCharactersInJsonStrings) {
  Registry r;
  r.counter("events_total", "Tab\there \"q\" \\", Unit::none,
            {{"path", std::string("a\nb\x01"
                                  "c\x1f",
                                  6)}});
  const std::string json = r.json();
  EXPECT_TRUE(contains(json, "\"help\":\"Tab\\there \\\"q\\\" \\\\\"")) << json;
  EXPECT_TRUE(contains(json, "\"labels\":{\"path\":\"a\\nb\\u0001c\\u001f\"}")) << json;
}

// Every number in the Prometheus text, found character for character at its
// place in the JSON, when both come from one snapshot.
TEST(Registry, JsonCarriesTheSameNumbersAsThePrometheusTextOfTheSameSnapshot) {
  Registry r;
  r.counter("frames_total", "Frames", Unit::none, {{"input", "a"}}).add(123456789);
  r.gauge("gain_ratio", "Gain", Unit::ratio).set(0.1 + 0.2);  // 0.30000000000000004
  r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds).set(-7);
  auto& h =
      r.histogram("callback_seconds", "Callback", Unit::nanoseconds, HistogramLayout(1'000, 1'000'000, 8));
  for (std::uint64_t v = 1'000; v < 1'000'000; v = v * 3 + 17) h.record(v);

  const RegistrySnapshot snap = r.snapshot();
  const std::string text = nowait::to_prometheus(snap);
  const std::string json = nowait::to_json(snap);
  std::istringstream lines(text);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) continue;
    const std::string value = line.substr(line.rfind(' ') + 1);
    std::string expected;
    if (contains(line, "_bucket{") && !contains(line, "+Inf")) {
      const std::size_t at = line.find("le=\"") + 4;
      const std::string le = line.substr(at, line.find('"', at) - at);
      expected = "{\"le\":" + le + ",\"cumulative_count\":" + value + "}";
    } else if (contains(line, "_bucket{")) {
      expected = "\"count\":" + value + ",";
    } else if (line.starts_with("callback_seconds_sum")) {
      expected = "\"sum\":" + value + ",";
    } else if (line.starts_with("callback_seconds_count")) {
      expected = "\"count\":" + value + ",";
    } else {
      expected = "\"value\":" + value + "}";
    }
    EXPECT_TRUE(contains(json, expected)) << "line " << line << " wants " << expected << " in " << json;
    ++checked;
  }
  EXPECT_GT(checked, 10);
  EXPECT_TRUE(contains(json, "\"value\":0.30000000000000004}")) << json;
  EXPECT_TRUE(contains(json, "\"value\":-0.007}")) << json;
}

// ---------------------------------------------------------------------------
// Snapshots

TEST(Registry, RendersTheNumbersOfItsSnapshotNotTheLiveValues) {
  Registry r;
  auto& c = r.counter("frames_total", "Frames");
  c.add(1);
  const RegistrySnapshot snap = r.snapshot();
  c.add(99);
  EXPECT_TRUE(contains(nowait::to_prometheus(snap), "\nframes_total 1\n"));
  EXPECT_TRUE(contains(nowait::to_json(snap), "\"value\":1}"));
  EXPECT_TRUE(contains(r.prometheus(), "\nframes_total 100\n"));
}

TEST(Registry, EvaluatesCallbackGaugesAtSnapshotTime) {
  Registry r;
  int calls = 0;
  double level = 1.0;
  r.callback_gauge("queue_fill_ratio", "Queue fill", Unit::ratio, [&] {
    ++calls;
    return level;
  });
  EXPECT_EQ(calls, 0);
  level = 0.75;
  const RegistrySnapshot snap = r.snapshot();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(std::get<double>(snap.sample("queue_fill_ratio")->value), 0.75);
  level = 0.5;
  EXPECT_TRUE(contains(r.prometheus(), "\nqueue_fill_ratio 0.5\n"));
  EXPECT_EQ(calls, 2);
}

TEST(Registry, CallbackGaugesConvertTheirUnitToo) {
  Registry r;
  r.callback_gauge("poll_interval_seconds", "Poll interval", Unit::milliseconds, [] { return 250.0; });
  EXPECT_EQ(std::get<double>(r.snapshot().sample("poll_interval_seconds")->value), 0.25);
}

TEST(Registry, FindsFamiliesAndSamplesInASnapshotByNameAndLabels) {
  Registry r;
  r.counter("frames_total", "Frames", Unit::none, {{"input", "a"}, {"bus", "main"}}).add(3);
  r.counter("frames_total", "Frames", Unit::none, {{"input", "b"}, {"bus", "main"}}).add(4);
  const RegistrySnapshot snap = r.snapshot();
  ASSERT_NE(snap.family("frames_total"), nullptr);
  EXPECT_EQ(snap.family("frames_total")->type, MetricType::counter);
  EXPECT_EQ(snap.family("frames_total")->samples.size(), 2u);
  ASSERT_NE(snap.sample("frames_total", {{"input", "b"}, {"bus", "main"}}), nullptr);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("frames_total", {{"bus", "main"}, {"input", "b"}})->value),
            4u);
  EXPECT_EQ(snap.sample("frames_total", {{"input", "c"}, {"bus", "main"}}), nullptr);
  EXPECT_EQ(snap.sample("frames_total"), nullptr);
  EXPECT_EQ(snap.family("nothing_total"), nullptr);
}

TEST(Registry, ExposesAPipelineStatusAndItsDerivedFiguresFromOneRead) {
  Registry r;
  auto& owned = r.pipeline_status("asr", 0.5, {{"model", "small"}});
  nowait::PipelineStatus external;
  r.pipeline_status("asr", external, 0.0, {{"model", "large"}});
  owned.set_audio_lag_ms(-20);
  owned.set_inference_time_ms(125);
  owned.add_chunks(8, 2);
  external.add_chunk(false);

  const RegistrySnapshot snap = r.snapshot();
  const Labels small{{"model", "small"}};
  EXPECT_EQ(std::get<double>(snap.sample("asr_audio_lag_seconds", small)->value), -0.02);
  EXPECT_EQ(std::get<double>(snap.sample("asr_inference_duration_seconds", small)->value), 0.125);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("asr_chunks_total", small)->value), 8u);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("asr_dropped_chunks_total", small)->value), 2u);
  EXPECT_EQ(std::get<double>(snap.sample("asr_drop_ratio", small)->value), 0.25);
  EXPECT_EQ(std::get<double>(snap.sample("asr_real_time_factor", small)->value), 0.25);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("asr_chunks_total", {{"model", "large"}})->value), 1u);
  // No chunk length, no real-time factor.
  EXPECT_EQ(snap.sample("asr_real_time_factor", {{"model", "large"}}), nullptr);
  EXPECT_EQ(snap.family("asr_real_time_factor")->samples.size(), 1u);
}

// The real-time side: only metric objects, all wait-free. Under the rtsan
// build a registry call in here would not compile, and any allocation or lock
// it reached would abort the test.
struct RtMetrics {
  nowait::Counter& frames;
  nowait::ShardedCounter::Shard blocks;
  nowait::Gauge<std::int64_t>& lag;
  nowait::MaxGauge<std::uint64_t>& depth;
  nowait::Histogram& callback;
  nowait::StageTimer& mix;
  nowait::PipelineStatus& status;
};

void rt_block(RtMetrics& m, std::uint64_t i) noexcept NOWAIT_NONBLOCKING {
  nowait::ScopedTimer whole(m.callback);
  {
    nowait::ScopedTimer t(m.mix);
    m.frames.add(256);
  }
  m.blocks.add();
  m.lag.set(static_cast<std::int64_t>(i % 7));
  m.depth.observe(i);
  m.status.add_chunk(i % 4 == 3);
  m.status.set_inference_time_ms(10);
}

TEST(Registry, ValuesRecordedFromANonblockingFunctionAppearInTheExposition) {
  Registry r;
  auto& blocks = r.sharded_counter("blocks_total", "Blocks", Unit::none, {}, 2);
  RtMetrics m{r.counter("frames_total", "Frames"),
              blocks.shard(),
              r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds),
              r.max_gauge("queue_depth_max", "Deepest queue"),
              r.histogram("callback_duration_seconds", "Callback", Unit::nanoseconds,
                          HistogramLayout(1, 1'000'000'000, 8)),
              r.stage_timer("stage", "Stage", {{"stage", "mix"}}),
              r.pipeline_status("pipeline", 0.1)};
  for (std::uint64_t i = 0; i < 100; ++i) rt_block(m, i);

  const RegistrySnapshot snap = r.snapshot();
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("frames_total")->value), 25'600u);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("blocks_total")->value), 100u);
  EXPECT_EQ(std::get<double>(snap.sample("lag_seconds")->value), 0.001);  // 99 % 7 = 1 ms
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("queue_depth_max")->value), 99u);
  EXPECT_EQ(snap.sample("callback_duration_seconds")->histogram.count, 100u);
  EXPECT_EQ(std::get<std::uint64_t>(snap.sample("stage_calls_total", {{"stage", "mix"}})->value), 100u);
  EXPECT_EQ(std::get<double>(snap.sample("pipeline_drop_ratio")->value), 0.25);
  EXPECT_DOUBLE_EQ(std::get<double>(snap.sample("pipeline_real_time_factor")->value), 0.1);
  const std::string text = nowait::to_prometheus(snap);
  EXPECT_TRUE(contains(text, "\nframes_total 25600\n")) << text;
  EXPECT_TRUE(contains(text, "\ncallback_duration_seconds_count 100\n")) << text;
  EXPECT_TRUE(contains(text, "\npipeline_dropped_chunks_total 25\n")) << text;
}

TEST(Registry, RegistersAndRendersFromSeveralControlThreadsAtOnce) {
  Registry r;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < 50; ++i) {
        r.counter("work_total", "Work", Unit::none,
                  {{"worker", std::to_string(t)}, {"item", std::to_string(i)}})
            .add(1);
        (void)r.prometheus();
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  EXPECT_EQ(r.snapshot().family("work_total")->samples.size(), 150u);
}

// ---------------------------------------------------------------------------
// Registration errors

TEST(Registry, RejectsADuplicateNameAndLabelSet) {
  Registry r;
  r.counter("frames_total", "Frames", Unit::none, {{"input", "mic 1"}});
  expect_rejected(
      [&] {
        r.counter("frames_total", "Frames", Unit::none, {{"input", "mic 1"}});
      },
      "frames_total", "already registered with labels {input=\"mic 1\"}");
  r.gauge("level_ratio", "Level", Unit::ratio);
  expect_rejected([&] { r.gauge("level_ratio", "Level", Unit::ratio); }, "level_ratio",
                  "already registered with labels {}");
}

TEST(Registry, RejectsInvalidMetricNamesNamingTheMetric) {
  Registry r;
  expect_rejected([&] { r.gauge("", "h"); }, "", "must match [a-zA-Z_][a-zA-Z0-9_]*");
  expect_rejected([&] { r.gauge("3rd_value", "h"); }, "3rd_value", "must match [a-zA-Z_][a-zA-Z0-9_]*");
  expect_rejected([&] { r.gauge("audio-level", "h"); }, "audio-level", "must match");
  expect_rejected([&] { r.gauge("audio level", "h"); }, "audio level", "must match");
  expect_rejected([&] { r.gauge("niveau_é", "h"); }, "niveau_é", "must match");
  expect_rejected([&] { r.gauge("job:level", "h"); }, "job:level", "reserved for recording rules");
  expect_rejected([&] { r.gauge("__level", "h"); }, "__level", "reserved");
}

TEST(Registry, RejectsInvalidLabelNamesNamingTheMetric) {
  Registry r;
  auto with = [&](Labels labels) {
    return [&r, labels] { r.counter("frames_total", "Frames", Unit::none, labels); };
  };
  expect_rejected(with({{"", "x"}}), "frames_total", "label \"\": a label name must match");
  expect_rejected(with({{"1input", "x"}}), "frames_total", "label \"1input\": a label name must match");
  expect_rejected(with({{"in-put", "x"}}), "frames_total", "label \"in-put\"");
  expect_rejected(with({{"in:put", "x"}}), "frames_total", "label \"in:put\"");
  expect_rejected(with({{"__name__", "x"}}), "frames_total",
                  "label \"__name__\": names starting with \"__\"");
  expect_rejected(with({{"le", "1"}}), "frames_total", "label \"le\": reserved for histogram buckets");
  expect_rejected(with({{"quantile", "1"}}), "frames_total", "label \"quantile\": reserved");
  expect_rejected(with({{"inputName", "x"}}), "frames_total", "snake_case");
  expect_rejected(with({{"input", "a"}, {"bus", "b"}, {"input", "c"}}), "frames_total",
                  "label \"input\" appears more than once");
  expect_rejected(
      [&] {
        r.histogram("wait_seconds", "W", Unit::seconds, HistogramLayout(1, 2, 1), {{"le", "1"}});
      },
      "wait_seconds", "reserved for histogram buckets");
  EXPECT_EQ(r.snapshot().families.size(), 0u);
}

TEST(Registry, RejectsACounterWhoseNameDoesNotEndInTotal) {
  Registry r;
  expect_rejected([&] { r.counter("frames", "Frames"); }, "frames", "a counter's name must end in _total");
  expect_rejected([&] { r.sharded_counter("frames_totals", "Frames"); }, "frames_totals",
                  "must end in _total");
  expect_rejected([&] { r.counter("busy_seconds", "Busy", Unit::seconds); }, "busy_seconds",
                  "must end in _total");
}

TEST(Registry, RejectsTotalAndHistogramSuffixesOnOtherTypes) {
  Registry r;
  expect_rejected([&] { r.gauge("frames_total", "h"); }, "frames_total",
                  "only a counter's name may end in _total");
  expect_rejected([&] { r.gauge("queue_count", "h"); }, "queue_count",
                  "_count is reserved for histogram series");
  expect_rejected([&] { r.gauge("queue_sum", "h"); }, "queue_sum", "_sum is reserved");
  expect_rejected([&] { r.gauge("queue_bucket", "h"); }, "queue_bucket", "_bucket is reserved");
  expect_rejected([&] { r.histogram("wait_total", "h", Unit::none, HistogramLayout(1, 2, 1)); }, "wait_total",
                  "only a counter's name may end in _total");
}

TEST(Registry, RejectsNamesThatPromtoolLintWouldFlag) {
  Registry r;
  expect_rejected([&] { r.gauge("audioLevel", "h"); }, "audioLevel", "snake_case, not camelCase");
  expect_rejected([&] { r.gauge("queue_gauge", "h"); }, "queue_gauge",
                  "must not include the metric type \"gauge\"");
  expect_rejected([&] { r.counter("frames_counter_total", "h"); }, "frames_counter_total",
                  "metric type \"counter\"");
  expect_rejected([&] { r.gauge("lag_ms", "h"); }, "lag_ms", "\"ms\" is an abbreviated unit");
  expect_rejected([&] { r.gauge("lag_sec_value", "h"); }, "lag_sec_value", "\"sec\" is an abbreviated unit");
  expect_rejected([&] { r.gauge("buffer_kb", "h"); }, "buffer_kb", "\"kb\" is an abbreviated unit");
  expect_rejected([&] { r.gauge("lag_milliseconds", "h"); }, "lag_milliseconds",
                  "use the base unit \"seconds\", not \"milliseconds\"");
  expect_rejected([&] { r.gauge("uptime_hours", "h"); }, "uptime_hours", "use the base unit \"seconds\"");
  expect_rejected([&] { r.counter("link_bits_total", "h"); }, "link_bits_total",
                  "use the base unit \"bytes\"");
  expect_rejected([&] { r.gauge("level", ""); }, "level", "the help text is empty");
}

TEST(Registry, RequiresTheUnitInTheNameAndTheNameToMatchTheUnit) {
  Registry r;
  expect_rejected([&] { r.gauge("lag", "h", Unit::milliseconds); }, "lag",
                  "its unit is milliseconds, so its name must end in _seconds");
  expect_rejected([&] { r.counter("written_total", "h", Unit::bytes); }, "written_total",
                  "its name must end in _bytes_total");
  expect_rejected([&] { r.gauge("level", "h", Unit::ratio); }, "level", "must end in _ratio");
  expect_rejected([&] { r.gauge("lag_seconds", "h"); }, "lag_seconds",
                  "its name ends in _seconds but its unit is none");
  expect_rejected([&] { r.gauge("size_bytes", "h", Unit::seconds); }, "size_bytes", "must end in _seconds");
  expect_rejected([&] { r.histogram("wait", "h", Unit::nanoseconds, HistogramLayout(1, 2, 1)); }, "wait",
                  "must end in _seconds");
  EXPECT_NO_THROW(r.counter("busy_seconds_total", "h", Unit::nanoseconds));
  EXPECT_NO_THROW(r.gauge("fill_ratio", "h", Unit::ratio));
}

TEST(Registry, RejectsTheSameNameWithADifferentTypeHelpUnitOrLabelNames) {
  Registry r;
  r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds, {{"input", "a"}});
  expect_rejected([&] { r.histogram("lag_seconds", "Lag", Unit::milliseconds, HistogramLayout(1, 2, 1)); },
                  "lag_seconds", "already registered as a gauge, not a histogram");
  expect_rejected(
      [&] {
        r.gauge<std::int64_t>("lag_seconds", "Delay", Unit::milliseconds, {{"input", "b"}});
      },
      "lag_seconds", "already registered with different help text");
  expect_rejected(
      [&] {
        r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::nanoseconds, {{"input", "b"}});
      },
      "lag_seconds", "already registered with unit milliseconds, not nanoseconds");
  expect_rejected(
      [&] {
        r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds, {{"bus", "b"}});
      },
      "lag_seconds", "already registered with label names (input), not (bus)");
  expect_rejected([&] { r.gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds); }, "lag_seconds",
                  "already registered with label names (input), not ()");
  r.histogram("wait_seconds", "Wait", Unit::nanoseconds, HistogramLayout(1, 100, 4), {{"q", "a"}});
  expect_rejected(
      [&] {
        r.histogram("wait_seconds", "Wait", Unit::nanoseconds, HistogramLayout(1, 200, 4), {{"q", "b"}});
      },
      "wait_seconds", "different histogram layout");
  // A gauge and a max gauge of the same type and unit may share a family.
  EXPECT_NO_THROW(r.max_gauge<std::int64_t>("lag_seconds", "Lag", Unit::milliseconds, {{"input", "b"}}));
}

TEST(Registry, RejectsHelpAndLabelValuesThatAreNotValidUtf8) {
  Registry r;
  expect_rejected([&] { r.gauge("level", "bad \xff"); }, "level", "help text is not valid UTF-8");
  expect_rejected(
      [&] {
        r.counter("frames_total", "F", Unit::none, {{"input", "\xc3"}});
      },
      "frames_total", "label \"input\": the value is not valid UTF-8");
  expect_rejected(
      [&] {
        r.counter("frames_total", "F", Unit::none, {{"input", "\xc0\xaf"}});
      },
      "frames_total",
      "not valid UTF-8");  // overlong '/'
  expect_rejected(
      [&] {
        r.counter("frames_total", "F", Unit::none, {{"input", "\xed\xa0\x80"}});
      },
      "frames_total", "not valid UTF-8");  // a surrogate
  EXPECT_NO_THROW(
      r.counter("frames_total", "F", Unit::none, {{"input", "Mikrofon \xc3\xa4 \xf0\x9f\x8e\xa4"}}));
}

TEST(Registry, RejectsBadArgumentsOfCompositeAndCallbackMetrics) {
  Registry r;
  expect_rejected([&] { r.histogram("wait_seconds", "W", Unit::seconds, HistogramLayout(1, 2, 1), {}, 3); },
                  "wait_seconds", "buckets_per_octave must be a power of two");
  expect_rejected([&] { r.pipeline_status("asr", -1.0); }, "asr", "chunk_seconds must be finite");
  expect_rejected([&] { r.callback_gauge("level_ratio", "L", Unit::ratio, nullptr); }, "level_ratio",
                  "the callback is empty");
  expect_rejected([&] { r.stage_timer("mix_ms", "Mix"); }, "mix_ms_seconds_total",
                  "\"ms\" is an abbreviated unit");
  EXPECT_EQ(r.snapshot().families.size(), 0u);
}

TEST(Registry, AFailedRegistrationRegistersNothing) {
  Registry r;
  // The third family a stage timer needs exists with other help text: the
  // first two must not appear either.
  r.gauge<std::uint64_t>("mix_max_seconds", "Other", Unit::nanoseconds);
  expect_rejected([&] { r.stage_timer("mix", "Mix"); }, "mix_max_seconds", "with different help text");
  const RegistrySnapshot snap = r.snapshot();
  ASSERT_EQ(snap.families.size(), 1u);
  EXPECT_EQ(snap.families[0].name, "mix_max_seconds");
  // And the names stay free for a correct registration.
  EXPECT_NO_THROW(r.counter("mix_seconds_total", "Other", Unit::nanoseconds));
}

}  // namespace
