// Test support for the HTTP server: a real engine on the virtual clock, the
// real server on a free loopback port, and a real HTTP client.
#pragma once

#include <chrono>
#include <filesystem>
#include <httplib.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace nowait::server::test
