#include "server/server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <utility>
#include <vector>

#include "server/assets.hpp"
#include "server/snapshot.hpp"

namespace nowait::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A request the API turns down: its status and the reason, sent as
// {"error": message}. Thrown inside handlers, caught by the dispatcher.
struct ApiError : std::runtime_error {
  ApiError(int status_code, const std::string& message) : std::runtime_error(message), status(status_code) {}
  int status;
};

constexpr std::string_view json_type = "application/json";

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), std::string(json_type));
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

int status_for(engine::CommandFailure failure) {
  switch (failure) {
    case engine::CommandFailure::none:
      return 200;
    case engine::CommandFailure::invalid:
      return 400;
    case engine::CommandFailure::unknown:
      return 404;
    case engine::CommandFailure::conflict:
      return 409;
    case engine::CommandFailure::unavailable:
      return 503;
  }
  return 500;
}

// The engine's answer, or the ApiError it comes to.
engine::CommandResult checked(engine::CommandResult result) {
  if (!result.ok) throw ApiError(status_for(result.failure), result.error);
  return result;
}

// The body as a JSON object; an empty body is {} when `empty_ok`.
json parse_object(const std::string& body, bool empty_ok) {
  if (body.empty() && empty_ok) return json::object();
  json value;
  try {
    value = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("malformed JSON: ") + e.what());
  }
  if (!value.is_object()) throw ApiError(400, "the body must be a JSON object");
  return value;
}

void allow_only(const json& body, std::initializer_list<std::string_view> keys) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string allowed;
      for (std::string_view k : keys) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
      throw ApiError(400, "unknown key '" + key + "'; allowed: " + allowed);
    }
  }
}

// body[key] as a finite number in [lo, hi], if present.
std::optional<double> number_in(const json& body, const char* key, double lo, double hi, const char* unit) {
  const auto it = body.find(key);
  if (it == body.end()) return std::nullopt;
  if (!it->is_number()) throw ApiError(400, std::string(key) + " must be a number, got " + it->dump());
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    char text[160];
    std::snprintf(text, sizeof text, "%s must be between %g and %g%s, got %s", key, lo, hi, unit,
                  it->dump().c_str());
    throw ApiError(400, text);
  }
  return v;
}

std::optional<bool> boolean(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end()) return std::nullopt;
  if (!it->is_boolean()) throw ApiError(400, std::string(key) + " must be true or false, got " + it->dump());
  return it->get<bool>();
}

std::optional<std::string> text(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end()) return std::nullopt;
  if (!it->is_string()) throw ApiError(400, std::string(key) + " must be a string, got " + it->dump());
  return it->get<std::string>();
}

// Compares without an early exit, so the time taken says nothing of how much
// of a guessed token was right.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // the length alone is not worth hiding
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A recording's file name from the API: a plain name ending in .wav or .flac.
std::string recording_file(const json& body, std::string& format) {
  std::string file = text(body, "file").value_or("nowait-{timestamp}.wav");
  const bool plain = !file.empty() && file.size() <= 200 && file.find('/') == std::string::npos &&
                     file.find('\\') == std::string::npos && file != "." && file != ".." &&
                     file.find('\0') == std::string::npos && file.front() != '.';
  if (!plain)
    throw ApiError(400, "file must be a plain file name (no directory part), got " + json(file).dump());
  const auto dot = file.rfind('.');
  std::string ext = dot == std::string::npos ? "" : file.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".wav") {
    format = "wav";
  } else if (ext == ".flac") {
    format = "flac";
  } else {
    throw ApiError(400, "file must end in .wav or .flac, got " + json(file).dump());
  }
  return file;
}

// A Host header or an origin's authority, taken apart: the host in lower
// case without IPv6 brackets, and the port if one was given.
struct Authority {
  std::string host;
  std::optional<int> port;
};

// "name", "name:port", "[v6]" or "[v6]:port"; nothing when it is none of
// these (empty, white space, a path, user info, a port out of range).
std::optional<Authority> parse_authority(std::string_view text) {
  Authority a;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = std::string(text.substr(1, close - 1));
    in6_addr v6{};
    if (inet_pton(AF_INET6, a.host.c_str(), &v6) != 1) return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const auto colon = text.find(':');
    a.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    const bool name_chars = std::all_of(a.host.begin(), a.host.end(), [](unsigned char c) {
      return std::isalnum(c) != 0 || c == '.' || c == '-' || c == '_';
    });
    if (a.host.empty() || !name_chars) return std::nullopt;
  }
  if (!port.empty()) {
    int value = -1;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
      return std::nullopt;
    a.port = value;
  }
  std::transform(a.host.begin(), a.host.end(), a.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return a;
}

bool is_ip_literal(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// The rule behind host_is_allowed() and origin_is_own(); `default_port` is
// the port an authority without one stands for (80 for http, 443 for https).
bool authority_is_allowed(const Authority& a, int default_port, const ServerOptions& options,
                          int bound_port) {
  const int port = a.port.value_or(default_port);
  if (port == bound_port) {
    const std::optional<Authority> listen = parse_authority(
        options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host);
    if (a.host == "localhost" || a.host == "127.0.0.1" || a.host == "::1" ||
        (listen && a.host == listen->host))
      return true;
    // Listening on every address, the server is reached by whichever address
    // the user's network gives it. An address cannot be rebound the way a
    // DNS name can, so any IP literal is safe to answer to.
    if ((options.host == "0.0.0.0" || options.host == "::") && is_ip_literal(a.host)) return true;
  }
  for (const std::string& name : options.allowed_hosts) {
    const std::optional<Authority> allowed = parse_authority(name);
    if (allowed && allowed->host == a.host && (!allowed->port || *allowed->port == port)) return true;
  }
  return false;
}

struct Route {
  std::string_view method;
  std::string_view path;  // exact, or a prefix ending in '/' when `with_name`
  bool with_name = false;
};

}  // namespace

// ---- free functions -------------------------------------------------------------

void parse_listen(std::string_view text, ServerOptions& options) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument("--listen " + std::string(text) + ": " + why);
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) fail("expected HOST:PORT, e.g. 127.0.0.1:8080");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) fail("the host is missing");
  int value = -1;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc{} || end != port.data() + port.size() || value < 0 || value > 65535)
    fail("the port must be a number from 0 to 65535, got '" + std::string(port) + "'");
  options.host = std::string(host);
  options.port = value;
}

bool is_loopback(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  const std::string h(host);
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool host_is_allowed(std::string_view authority, const ServerOptions& options, int bound_port) {
  const std::optional<Authority> a = parse_authority(authority);
  return a && authority_is_allowed(*a, 80, options, bound_port);
}

bool origin_is_own(std::string_view origin, const ServerOptions& options, int bound_port) {
  int default_port = 0;
  if (origin.starts_with("http://")) {
    default_port = 80;
    origin.remove_prefix(7);
  } else if (origin.starts_with("https://")) {
    default_port = 443;
    origin.remove_prefix(8);
  } else {
    return false;  // "null" (a sandboxed frame or a file: page), or not an origin at all
  }
  const std::optional<Authority> a = parse_authority(origin);
  return a && authority_is_allowed(*a, default_port, options, bound_port);
}

std::filesystem::path recordings_dir_for(const engine::EngineConfig& config) {
  for (const engine::SinkConfig& sink : config.sinks) {
    if (sink.type == "recorder" && !sink.path.empty()) {
      const std::filesystem::path parent = std::filesystem::path(sink.path).parent_path();
      return parent.empty() ? std::filesystem::path(".") : parent;
    }
  }
  return "recordings";
}

// ---- the server ------------------------------------------------------------------

struct Server::Impl {
  Impl(engine::Engine& e, ServerOptions o)
      : engine(e), options(std::move(o)), hub(options.max_event_clients) {}

  engine::Engine& engine;
  const ServerOptions options;
  EventHub hub;
  httplib::Server http;
  std::thread listener;
  std::thread ticker;

  // Set when the listener thread's accept loop has returned.
  std::mutex listener_mutex;
  std::condition_variable listener_done_cv;
  bool listener_done = false;  // guarded by listener_mutex
  // The listening socket, as httplib hands it to the socket-options hook
  // during bind (on the thread calling start()); -1 before.
  int listen_socket = -1;
  int bound_port = 0;
  bool started = false;

  // Serialises snapshot building: the engine's ScopeReader takes one control
  // thread at a time, and the ticker and GET /api/state both read it.
  std::mutex snapshot_mutex;
  std::vector<engine::XyPair> scope_pairs;  // guarded by snapshot_mutex

  // The ticker's stop flag and its wake-up.
  std::mutex ticker_mutex;
  std::condition_variable ticker_wake;
  bool stopping = false;  // guarded by ticker_mutex

  // Progress of the engine as the ticker saw it, for /healthz.
  std::atomic<std::uint64_t> last_blocks{0};      // relaxed: a reading for /healthz, orders nothing
  std::atomic<std::int64_t> last_progress_ns{0};  // relaxed: as above
  const Clock::time_point started_at = Clock::now();

  std::string build_snapshot() {
    const std::lock_guard lock(snapshot_mutex);
    const engine::EngineStatus status = engine.status();
    engine::ScopeReader& scope = engine.scope();
    scope.update();
    scope_pairs.resize(options.scope_pairs);
    scope_pairs.resize(scope.samples(std::span<engine::XyPair>(scope_pairs)));
    return snapshot_json(status, engine.format(), engine.config().scope_rate, status.scope_dropped_pairs,
                         scope_pairs, hub.stats())
        .dump();
  }

  void note_progress() {
    const std::uint64_t blocks = engine.blocks_processed();
    if (blocks != last_blocks.load(std::memory_order_relaxed)) {  // relaxed: see the members
      last_blocks.store(blocks, std::memory_order_relaxed);
      last_progress_ns.store((Clock::now() - started_at).count(), std::memory_order_relaxed);
    }
  }

  void run_ticker() {
    auto next = Clock::now();
    std::unique_lock lock(ticker_mutex);
    while (!stopping) {
      lock.unlock();
      note_progress();
      hub.publish("data: " + build_snapshot() + "\n\n");
      lock.lock();
      next += options.event_period;
      const auto now = Clock::now();
      if (next < now) next = now;  // fell behind (a stalled machine): carry on from now, no burst
      ticker_wake.wait_until(lock, next, [this] { return stopping; });
    }
  }

  // ---- handlers -------------------------------------------------------------------

  json input_entry(const std::string& name) {
    for (const engine::InputStatus& in : engine.status().inputs)
      if (in.name == name) return input_json(in);
    throw ApiError(404, "unknown input '" + name + "'");
  }

  void require_input(const std::string& name) {
    const std::vector<std::string> names = engine.input_names();
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw ApiError(404, "unknown input '" + name + "'");
  }

  void add_input(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_object(req.body, false);
    allow_only(body, {"name", "source", "gain_db", "pan", "mute", "level_db", "loop"});
    engine::InputConfig c;
    const std::optional<std::string> name = text(body, "name");
    if (!name || name->empty() || name->size() > engine::max_input_name_chars)
      throw ApiError(400, "name must be a string of 1 to " + std::to_string(engine::max_input_name_chars) +
                              " characters");
    const std::optional<std::string> source = text(body, "source");
    if (!source || source->empty())
      throw ApiError(400, "source is required: tone:<hz>, noise:white, noise:pink, silence or file:<path>");
    c.name = *name;
    c.source = *source;
    c.gain_db = number_in(body, "gain_db", engine::min_gain_db, engine::max_gain_db, " dB").value_or(0.0);
    c.pan = number_in(body, "pan", -1.0, 1.0, "").value_or(0.0);
    c.mute = boolean(body, "mute").value_or(false);
    c.level_db =
        number_in(body, "level_db", engine::min_level_db, engine::max_level_db, " dB").value_or(-12.0);
    c.loop = boolean(body, "loop").value_or(true);
    const engine::CommandResult r = checked(engine.add_input(c));
    json entry = input_entry(c.name);
    entry["block"] = r.block;
    send_json(res, 201, entry);
  }

  void patch_input(const std::string& name, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_object(req.body, false);
    allow_only(body, {"gain_db", "pan", "mute"});
    const auto gain = number_in(body, "gain_db", engine::min_gain_db, engine::max_gain_db, " dB");
    const auto pan = number_in(body, "pan", -1.0, 1.0, "");
    const auto mute = boolean(body, "mute");
    if (!gain && !pan && !mute) throw ApiError(400, "nothing to change: give gain_db, pan or mute");
    require_input(name);
    std::uint64_t block = 0;
    if (gain) block = checked(engine.set_gain(name, *gain)).block;
    if (pan) block = checked(engine.set_pan(name, *pan)).block;
    if (mute) block = checked(engine.set_mute(name, *mute)).block;
    json entry = input_entry(name);
    entry["block"] = block;
    send_json(res, 200, entry);
  }

  void delete_input(const std::string& name, httplib::Response& res) {
    const engine::CommandResult r = checked(engine.remove_input(name));
    send_json(res, 200, {{"removed", name}, {"block", r.block}});
  }

  void patch_master(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_object(req.body, false);
    allow_only(body, {"gain_db"});
    const auto gain = number_in(body, "gain_db", engine::min_gain_db, engine::max_gain_db, " dB");
    if (!gain) throw ApiError(400, "gain_db is required");
    const engine::CommandResult r = checked(engine.set_master_gain(*gain));
    send_json(res, 200, {{"gain_db", *gain}, {"block", r.block}});
  }

  void start_recording(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_object(req.body, true);
    allow_only(body, {"file", "sample_format"});
    std::string format;
    const std::string file = recording_file(body, format);
    const std::string sample_format = text(body, "sample_format").value_or("pcm24");
    const std::string path = (options.recordings_dir / file).string();
    const engine::CommandResult r = checked(engine.start_recording(path, format, sample_format));
    send_json(res, 200, {{"path", engine.status().recording.path}, {"block", r.block}});
  }

  void stop_recording(httplib::Response& res) {
    const engine::CommandResult r = checked(engine.stop_recording());
    const engine::RecordingStatus rec = engine.status().recording;
    if (!rec.error.empty()) throw ApiError(500, "the recording failed: " + rec.error);
    send_json(res, 200,
              {{"path", rec.path}, {"bytes", rec.bytes}, {"seconds", rec.seconds}, {"block", r.block}});
  }

  void healthz(httplib::Response& res) {
    note_progress();
    const double idle_s = std::chrono::duration<double>(Clock::now() - started_at).count() -
                          static_cast<double>(last_progress_ns.load(std::memory_order_relaxed)) *
                              1e-9;  // relaxed: see the members
    const engine::EngineStatus s = engine.status();
    const bool ok = idle_s < 1.0;
    json body = {{"ok", ok}, {"blocks", s.blocks}, {"uptime_s", s.uptime_seconds}};
    if (!ok) body["error"] = "the engine has mixed no block for " + std::to_string(idle_s) + " s";
    send_json(res, ok ? 200 : 503, body);
  }

  void events(httplib::Response& res) {
    if (!hub.join())
      throw ApiError(503,
                     "too many event clients (at most " + std::to_string(options.max_event_clients) + ")");
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto last = std::make_shared<std::uint64_t>(0);  // the id this client got last; 0: none yet
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, last](std::size_t /*offset*/, httplib::DataSink& sink) {
          if (*last == 0) {
            constexpr std::string_view hello = "retry: 1000\n\n";
            if (!sink.write(hello.data(), hello.size())) return false;
          }
          const std::optional<EventHub::Event> event = hub.next(*last, std::chrono::milliseconds(1000));
          if (!event) {
            if (hub.closed()) return false;
            constexpr std::string_view ping = ": idle\n\n";  // keeps proxies from timing out
            return sink.write(ping.data(), ping.size());
          }
          *last = event->id;
          const std::string head = "event: metrics\nid: " + std::to_string(event->id) + "\n";
          return sink.write(head.data(), head.size()) && sink.write(event->text->data(), event->text->size());
        },
        [this](bool /*success*/) { hub.leave(); });
  }

  void asset(const std::string& path, httplib::Response& res) {
    const std::string_view want = path == "/" ? "/index.html" : std::string_view(path);
    for (const Asset& a : web_assets()) {
      if (a.path == want) {
        res.set_header("Cache-Control", "no-cache");
        res.set_content(a.body.data(), a.body.size(), std::string(a.content_type).c_str());
        return;
      }
    }
    throw ApiError(404, "no such page: " + path);
  }

  // ---- dispatch -------------------------------------------------------------------

  static constexpr Route routes[] = {
      {"GET", "/events"},
      {"GET", "/api/state"},
      {"GET", "/metrics"},
      {"GET", "/healthz"},
      {"POST", "/api/inputs"},
      {"PATCH", "/api/inputs/", true},
      {"DELETE", "/api/inputs/", true},
      {"PATCH", "/api/master"},
      {"POST", "/api/recording/start"},
      {"POST", "/api/recording/stop"},
  };

  static bool matches(const Route& r, const std::string& path, std::string* name) {
    if (!r.with_name) return path == r.path;
    if (path.size() <= r.path.size() || path.compare(0, r.path.size(), r.path) != 0) return false;
    if (name) *name = path.substr(r.path.size());
    return true;
  }

  bool is_asset(const std::string& path) const {
    if (path == "/") return true;
    for (const Asset& a : web_assets())
      if (a.path == path) return true;
    return false;
  }

  void authorize(const httplib::Request& req) const {
    if (options.token.empty()) return;
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() < scheme.size() || header.compare(0, scheme.size(), scheme) != 0)
      throw ApiError(401, "this server needs a token: send Authorization: Bearer <token>");
    if (!same_secret(std::string_view(header).substr(scheme.size()), options.token))
      throw ApiError(401, "wrong token");
  }

  // Every page the user opens can send requests to 127.0.0.1, so a request
  // is served only when its Host names this server (a DNS-rebinding page
  // names its own host), and a change is made only when it comes from no
  // page or from this server's own page, as application/json: a browser
  // sends that type cross-origin only after a preflight, which the server
  // never grants (OPTIONS gets 405 and no CORS header is ever sent).
  void check_host(const httplib::Request& req) const {
    const std::string host = req.get_header_value("Host");
    if (!host_is_allowed(host, options, bound_port)) {
      throw ApiError(421, "this server does not answer to Host " + json(host).dump() +
                              "; it answers to localhost, 127.0.0.1 and [::1] on port " +
                              std::to_string(bound_port) + ", and to names given with --allow-host");
    }
  }

  void check_same_origin(const httplib::Request& req) const {
    if (!req.has_header("Origin")) return;  // not sent by a page: curl, a script, a same-origin GET
    const std::string origin = req.get_header_value("Origin");
    if (!origin_is_own(origin, options, bound_port))
      throw ApiError(
          403, "requests from other web pages may not change anything (Origin " + json(origin).dump() + ")");
  }

  static void check_json_body(const httplib::Request& req) {
    const std::string type = req.get_header_value("Content-Type");
    std::string media = type.substr(0, type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    std::transform(media.begin(), media.end(), media.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (media != json_type) {
      throw ApiError(415, "a change must be sent as Content-Type: application/json, got " +
                              (type.empty() ? std::string("none") : json(type).dump()));
    }
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    try {
      check_host(req);
      const std::string& path = req.path;
      if (is_asset(path)) {
        if (req.method != "GET") {
          res.set_header("Allow", "GET");
          throw ApiError(405, req.method + " is not allowed on " + path + "; allowed: GET");
        }
        return asset(path, res);
      }
      std::string name;
      const Route* route = nullptr;
      std::string allowed;
      for (const Route& r : routes) {
        if (!matches(r, path, nullptr)) continue;
        allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
        if (r.method == req.method) route = &r;
      }
      if (allowed.empty()) throw ApiError(404, "no such route: " + req.method + " " + path);
      if (route == nullptr) {
        res.set_header("Allow", allowed);
        throw ApiError(405, req.method + " is not allowed on " + path + "; allowed: " + allowed);
      }
      matches(*route, path, &name);
      if (route->method != "GET") {
        check_same_origin(req);
        authorize(req);
        check_json_body(req);
      }
      handle(*route, name, req, res);
    } catch (const ApiError& e) {
      if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, e.status, e.what());
    }
  }

  void handle(const Route& route, const std::string& name, const httplib::Request& req,
              httplib::Response& res) {
    const std::string_view path = route.path;
    if (path == "/events") return events(res);
    if (path == "/api/state") return res.set_content(build_snapshot(), std::string(json_type));
    if (path == "/metrics") {
      return res.set_content(to_prometheus(engine.registry().snapshot()),
                             std::string(prometheus_content_type));
    }
    if (path == "/healthz") return healthz(res);
    if (path == "/api/inputs") return add_input(req, res);
    if (path == "/api/inputs/")
      return route.method == "PATCH" ? patch_input(name, req, res) : delete_input(name, res);
    if (path == "/api/master") return patch_master(req, res);
    if (path == "/api/recording/start") return start_recording(req, res);
    if (path == "/api/recording/stop") return stop_recording(res);
    throw ApiError(404, "no such route");
  }

  void configure() {
    // Enough connection threads for every event client plus API calls: each
    // SSE client holds its thread for as long as it watches.
    const std::size_t threads = options.max_event_clients + 16;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options.max_body_bytes);
    http.set_write_timeout(std::chrono::seconds(2));  // a client that stops reading is dropped
    http.set_read_timeout(std::chrono::seconds(5));
    http.set_keep_alive_timeout(2);
    // Responses go out as header and body writes; with Nagle's algorithm on a
    // kept-alive connection the body waits for the client's delayed ACK (40 ms
    // on Linux), which a fader dragged in the browser would feel.
    http.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
    // second nowait would share the port silently instead of being told.
    // A fixed send buffer, which accepted sockets inherit, bounds what the
    // kernel holds for a client that stops reading (about 20 events), so
    // such a client hits the write timeout within seconds, not minutes.
    http.set_socket_options([this](socket_t sock) {
      listen_socket = sock;
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      const int send_buffer = 64 * 1024;
      setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
    });
    const auto handler = [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); };
    // One catch-all per method: dispatch() owns the routing, so that a known
    // path with the wrong method is a 405 and every error has a JSON body.
    const std::string everything = ".*";
    http.Get(everything, handler);
    http.Post(everything, handler);
    http.Patch(everything, handler);
    http.Delete(everything, handler);
    http.Put(everything, handler);
    http.Options(everything, handler);
    // Errors httplib produces itself (413 for a body over the limit, 400 for a
    // request it cannot parse) get a JSON body too; ours already have one.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [limit = options.max_body_bytes](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          std::string message = "HTTP " + std::to_string(res.status);
          if (res.status == 400) message = "malformed HTTP request";
          if (res.status == 413)
            message = "the body is too large (at most " + std::to_string(limit) + " bytes)";
          if (res.status == 414) message = "the URI is too long";
          send_error(res, res.status, message);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string message = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        message += std::string(": ") + e.what();
      } catch (...) {
      }
      send_error(res, 500, message);
    });
  }
};

void check_options(const ServerOptions& options) {
  for (const std::string& name : options.allowed_hosts) {
    if (!parse_authority(name)) {
      throw std::invalid_argument("--allow-host " + json(name).dump() +
                                  ": expected a host name, optionally with :PORT, such as "
                                  "mixer.example or mixer.example:8080");
    }
  }
  if (!is_loopback(options.host) && options.token.empty()) {
    throw std::invalid_argument(
        "listening on " + options.host +
        " (not loopback) needs --token TOKEN: anyone who can reach it could change the mix");
  }
}

Server::Server(engine::Engine& engine, ServerOptions options) {
  check_options(options);
  if (!engine.prepared()) throw std::invalid_argument("nowait server: the engine is not prepared");
  impl_ = std::make_unique<Impl>(engine, std::move(options));
}

Server::~Server() { stop(); }

void Server::start() {
  Impl& m = *impl_;
  if (m.started) throw std::logic_error("nowait server: already started");
  m.configure();
  const std::string where = m.options.host + ":" + std::to_string(m.options.port);
  if (m.options.port == 0) {
    m.bound_port = m.http.bind_to_any_port(m.options.host);
    if (m.bound_port <= 0) m.bound_port = 0;
  } else if (m.http.bind_to_port(m.options.host, m.options.port)) {
    m.bound_port = m.options.port;
  }
  if (m.bound_port == 0) {
    throw std::runtime_error("cannot listen on " + where + ": " + std::strerror(errno) +
                             "; choose another with --listen HOST:PORT");
  }
  // httplib listens with a backlog of 5. A dashboard opening its page, its
  // assets and its event stream, or twenty watchers arriving together,
  // overflow that; Linux then drops the connection requests and the clients
  // retry after 1 s, then 3 s. Linux lets listen() on a listening socket
  // change its backlog, so ask for the system's maximum.
  if (::listen(m.listen_socket, SOMAXCONN) != 0) {
    throw std::runtime_error("cannot raise the connection backlog on " + where + ": " + std::strerror(errno));
  }
  m.started = true;
  m.ticker = std::thread([&m] { m.run_ticker(); });
  m.listener_done = false;
  m.listener = std::thread([&m] {
    m.http.listen_after_bind();
    const std::lock_guard lock(m.listener_mutex);
    m.listener_done = true;
    m.listener_done_cv.notify_all();
  });
}

void Server::stop() {
  if (!impl_ || !impl_->started) return;
  Impl& m = *impl_;
  {
    const std::lock_guard lock(m.ticker_mutex);
    m.stopping = true;
  }
  m.ticker_wake.notify_all();
  m.ticker.join();
  m.hub.close();  // every event stream ends at its next wait
  // cpp-httplib 0.11's stop() does nothing until the listener thread has
  // entered its accept loop, so a stop() that lands right after start() (a
  // signal at startup) would leave that loop running for ever. Ask again until
  // the loop has returned; each ask is answered within one wait.
  {
    std::unique_lock lock(m.listener_mutex);
    while (!m.listener_done) {
      lock.unlock();
      m.http.stop();
      lock.lock();
      m.listener_done_cv.wait_for(lock, std::chrono::milliseconds(5), [&m] { return m.listener_done; });
    }
  }
  m.listener.join();
  m.started = false;
}

int Server::port() const noexcept { return impl_->bound_port; }

std::string Server::url() const {
  const std::string& host = impl_->options.host;
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->bound_port) + "/";
}

EventHub::Stats Server::event_stats() const { return impl_->hub.stats(); }

bool Server::wait_for_event_clients(std::size_t count, std::chrono::milliseconds timeout) {
  return impl_->hub.wait_for_clients(count, timeout);
}

}  // namespace nowait::server
