#include "server/snapshot.hpp"

#include <chrono>
#include <cmath>

namespace nowait::server {

namespace {

using nlohmann::json;

// Rounds to `decimals` places, so the text stays short and stable.
double rounded(double x, int decimals) {
  if (!std::isfinite(x)) return 0.0;
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

double dbfs(float linear) { return rounded(to_dbfs(linear), 1); }

json levels_json(const engine::StereoLevel& levels, json out) {
  json peak = json::array();
  json rms = json::array();
  json hold = json::array();
  for (const engine::ChannelLevel& c : levels.channel) {
    peak.push_back(dbfs(c.peak));
    rms.push_back(dbfs(c.rms()));
    hold.push_back(dbfs(c.hold));
  }
  out["peak_dbfs"] = std::move(peak);
  out["rms_dbfs"] = std::move(rms);
  out["hold_dbfs"] = std::move(hold);
  return out;
}

json sink_json(const engine::SinkStatus& sink) {
  return {{"name", sink.name},
          {"type", sink.type},
          {"state", engine::to_string(sink.state)},
          {"error", sink.error},
          {"path", sink.path},
          {"bytes", sink.bytes_written},
          {"blocks", sink.blocks_written},
          {"dropouts", sink.dropouts},
          {"blocks_lost", sink.blocks_lost}};
}

}  // namespace

double to_dbfs(double linear) noexcept {
  if (!(linear > 0.0) || !std::isfinite(linear)) return silence_dbfs;
  const double db = 20.0 * std::log10(linear);
  return db < silence_dbfs ? silence_dbfs : db;
}

json input_json(const engine::InputStatus& input) {
  return levels_json(input.levels, {{"name", input.name},
                                    {"source", input.source},
                                    {"gain_db", rounded(input.gain_db, 2)},
                                    {"pan", rounded(input.pan, 3)},
                                    {"mute", input.mute},
                                    {"underrun_blocks", input.underrun_blocks},
                                    {"overrun_frames", input.overrun_frames},
                                    {"ended", input.ended}});
}

json snapshot_json(const engine::EngineStatus& s, const engine::StreamFormat& format, int scope_rate,
                   std::uint64_t scope_dropped, const std::vector<engine::XyPair>& scope,
                   const EventHub::Stats& events) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  json points = json::array();
  for (const engine::XyPair& p : scope) {
    points.push_back(rounded(p.x, 4));
    points.push_back(rounded(p.y, 4));
  }
  json inputs = json::array();
  for (const engine::InputStatus& input : s.inputs) inputs.push_back(input_json(input));
  json sinks = json::array();
  for (const engine::SinkStatus& sink : s.sinks) sinks.push_back(sink_json(sink));

  return {
      {"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()},
      {"uptime_s", rounded(s.uptime_seconds, 3)},
      {"sample_rate", format.sample_rate},
      {"block_frames", format.block_frames},
      {"block_ms", rounded(format.block_seconds() * 1e3, 3)},
      {"pipeline",
       {{"latency_ms", rounded(s.latency_ms, 2)},
        {"rtf", rounded(s.rtf, 4)},
        {"rtf_max", rounded(s.max_rtf, 4)},
        {"drop_percent", rounded(s.drop_percent, 3)},
        {"dropped_blocks", s.dropped_blocks},
        {"total_blocks", s.blocks},
        {"process_ms",
         {{"p50", rounded(s.process.p50_ms, 4)},
          {"p99", rounded(s.process.p99_ms, 4)},
          {"max", rounded(s.process.max_ms, 4)}}},
        {"deadline_misses", s.deadline_misses},
        {"clipped_samples", s.clipped_samples}}},
      {"drift_ms", rounded(s.drift_ms, 3)},
      {"master", levels_json(s.master_levels, {{"gain_db", rounded(s.master_gain_db, 2)}})},
      {"inputs", std::move(inputs)},
      {"scope", {{"rate", scope_rate}, {"points", std::move(points)}, {"dropped", scope_dropped}}},
      {"recording",
       {{"active", s.recording.active},
        {"path", s.recording.path},
        {"bytes", s.recording.bytes},
        {"seconds", rounded(s.recording.seconds, 2)},
        {"blocks_lost", s.recording.blocks_lost},
        {"error", s.recording.error}}},
      {"sinks", std::move(sinks)},
      {"rates", {{"blocks_per_second", rounded(s.blocks_per_second, 1)}}},
      {"server",
       {{"clients", events.clients}, {"events_sent", events.sent}, {"events_skipped", events.skipped}}},
  };
}

}  // namespace nowait::server
