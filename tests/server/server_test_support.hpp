// Test support for the HTTP server: a real engine on the virtual clock, the
// real server on a free loopback port, and a real HTTP client.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <httplib.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/driver.hpp"
#include "engine/engine.hpp"
#include "server/server.hpp"

namespace nowait::server::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("nowait_server_test_" + name + "_" +
                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  return dir;
}

// Two tones panned apart, no sinks.
inline engine::EngineConfig two_tones() {
  engine::EngineConfig c;
  engine::InputConfig a;
  a.name = "tone A";
  a.source = "tone:440";
  a.pan = -0.5;
  engine::InputConfig b;
  b.name = "tone B";
  b.source = "tone:660";
  b.pan = 0.5;
  c.inputs = {a, b};
  return c;
}

// The engine running in real time with the server in front of it.
struct LiveServer {
  explicit LiveServer(ServerOptions options = {}, engine::EngineConfig config = two_tones()) {
    engine.prepare(config);
    driver.start(engine);
    options.port = 0;
    if (options.recordings_dir == "recordings") options.recordings_dir = scratch_dir("recordings");
    recordings = options.recordings_dir;
    server = std::make_unique<Server>(engine, options);
    server->start();
  }
  ~LiveServer() {
    server->stop();
    driver.stop();
    engine.shutdown();
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(std::chrono::seconds(10));
    return c;
  }

  engine::Engine engine;
  engine::VirtualClockDriver driver;
  std::unique_ptr<Server> server;
  fs::path recordings;
};

// Every input's gain, pan and mute, and the master gain: what a rejected
// request must leave alone.
inline std::string mix_settings(engine::Engine& engine) {
  const engine::EngineStatus s = engine.status();
  std::string out = "master " + std::to_string(s.master_gain_db);
  for (const engine::InputStatus& in : s.inputs)
    out += " | " + in.name + " " + std::to_string(in.gain_db) + " " + std::to_string(in.pan) + " " +
           (in.mute ? "muted" : "on");
  return out;
}

// The body of a response as JSON; fails the test when it is not.
inline json body_of(const httplib::Result& r) {
  if (!r) {
    ADD_FAILURE() << "no response: " << httplib::to_string(r.error());
    return {};
  }
  try {
    return json::parse(r->body);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << r->body;
    return {};
  }
}

// What a client of /events saw: the parsed snapshots, their ids, how long it
// watched, and whether the server sent its "retry:" hint.
struct Watched {
  std::vector<json> events;
  std::vector<std::uint64_t> ids;
  double seconds = 0.0;
  bool retry_seen = false;
};

// Reads /events until `done` says so after an event (or the stream ends).
// Blocks on the socket: every wake-up is an event from the server.
inline Watched watch_events(int port, const std::function<bool(const Watched&)>& done) {
  Watched w;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(10));
  std::string buffer;
  const auto start = std::chrono::steady_clock::now();
  c.Get("/events", [&](const char* data, std::size_t n) {
    buffer.append(data, n);
    for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string frame = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (frame.rfind("retry: ", 0) == 0) w.retry_seen = true;
      if (frame.rfind("event: metrics\n", 0) != 0) continue;
      const auto id_at = frame.find("id: ");
      const auto data_at = frame.find("data: ");
      w.ids.push_back(std::stoull(frame.substr(id_at + 4)));
      w.events.push_back(json::parse(frame.substr(data_at + 6)));
      if (done(w)) return false;  // closes the stream
    }
    return true;
  });
  w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return w;
}

// Reads /events until `want` metrics events have arrived.
inline Watched watch_events(int port, std::size_t want) {
  return watch_events(port, [want](const Watched& w) { return w.events.size() >= want; });
}

}  // namespace nowait::server::test
