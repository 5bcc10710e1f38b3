// nowait server: the dashboard's snapshot, one JSON object built on the
// control side from the engine's telemetry (docs/api.md, "Snapshot"). The same
// text goes to GET /api/state and to every SSE client.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/engine.hpp"
#include "server/event_hub.hpp"

namespace nowait::server {

// Levels in dBFS, floored at -120 (silence, and anything not finite).
inline constexpr double silence_dbfs = -120.0;
double to_dbfs(double linear) noexcept;

// One input's entry, in the snapshot's form (also the answer of the input
// endpoints). Thread: any. Allocates.
nlohmann::json input_json(const engine::InputStatus& input);

// The whole snapshot: engine status, the newest `scope` pairs, the server's
// event figures. Thread: any. Allocates.
nlohmann::json snapshot_json(const engine::EngineStatus& status, const engine::StreamFormat& format,
                             int scope_rate, std::uint64_t scope_dropped,
                             const std::vector<engine::XyPair>& scope, const EventHub::Stats& events);

}  // namespace nowait::server
