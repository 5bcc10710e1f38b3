// nowait server: the HTTP side of `nowait run`: the dashboard, the event
// stream, the JSON control API and Prometheus metrics (docs/api.md).
//
//   nowait::server::Server server(engine, {.host = "127.0.0.1", .port = 8080});
//   server.start();            // binds, then serves on its own threads
//   std::puts(server.url().c_str());
//   ...
//   server.stop();             // before the engine goes
//
// Threads: a listener, a pool of connection threads (one per open
// connection, each SSE client holding one) and a ticker that builds one
// snapshot per event period. All of them are control-side: they read the
// engine's lock-free telemetry and send commands through Engine::call, so the
// RT thread never waits on a client. Every public function is control-side
// and blocking.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "server/event_hub.hpp"

namespace nowait::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;    // 0: any free port (port() tells which)
  std::string token;  // empty: none. Required unless host is loopback.
  // Names the server answers to besides localhost, 127.0.0.1, [::1] and the
  // listen address (--allow-host): a reverse proxy's name, or the name a
  // Prometheus scrapes it by. "NAME" matches on any port, "NAME:PORT" on that
  // port only. Compared without regard to case.
  std::vector<std::string> allowed_hosts;
  std::chrono::milliseconds event_period{100};
  std::size_t max_event_clients = 64;
  std::size_t scope_pairs = 512;  // the newest XY pairs in each snapshot
  std::size_t max_body_bytes = 64 * 1024;
  // Where POST /api/recording/start writes.
  std::filesystem::path recordings_dir = "recordings";
};

// "HOST:PORT" or "[V6]:PORT" -> options.host/port. Throws
// std::invalid_argument naming what is wrong. Thread: any.
void parse_listen(std::string_view text, ServerOptions& options);

// Whether `host` is a loopback address or "localhost". Thread: any.
bool is_loopback(std::string_view host);

// Whether a request's Host header (an authority: "name", "name:port",
// "[v6]:port") names this server, bound to `bound_port` (see docs/api.md,
// "Requests from other web pages"). Thread: any. Blocking; allocates.
bool host_is_allowed(std::string_view authority, const ServerOptions& options, int bound_port);

// Whether an Origin header ("scheme://authority") is this server's own: an
// http or https origin whose authority host_is_allowed() accepts. "null" and
// anything else that does not parse are foreign. Thread: any. Blocking;
// allocates.
bool origin_is_own(std::string_view origin, const ServerOptions& options, int bound_port);

// Throws std::invalid_argument when the options cannot be served: a host that
// is not loopback without a token, or an allowed host that is not a host name
// (empty, or holding a scheme, a path, white space or a bad port). Server's constructor checks the same; a
// caller may check before it builds anything else. Thread: any.
void check_options(const ServerOptions& options);

// The directory recordings started from the API go to: the directory of the
// config's first recorder, else "recordings". Thread: any.
std::filesystem::path recordings_dir_for(const engine::EngineConfig& config);

class Server {
 public:
  // Throws std::invalid_argument when the host is not loopback and there is
  // no token. Binds nothing yet. The engine must be prepared and outlive the
  // server.
  Server(engine::Engine& engine, ServerOptions options);
  // stop().
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving. Throws std::runtime_error "cannot listen on
  // HOST:PORT: <reason>" when the address cannot be bound.
  void start();
  // Closes every event stream, stops serving and joins the server's threads.
  // Idempotent.
  void stop();

  // The bound port (after start()).
  int port() const noexcept;
  // "http://HOST:PORT/".
  std::string url() const;
  EventHub::Stats event_stats() const;
  // EventHub::wait_for_clients on the server's event stream. Blocking.
  bool wait_for_event_clients(std::size_t count, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nowait::server
