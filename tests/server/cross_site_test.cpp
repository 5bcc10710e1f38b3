// The HTTP server against the requests another web page can make: every page
// the user opens can reach 127.0.0.1, so the server must refuse a change sent
// as a "simple" cross-origin request (text/plain, a form), a change from a
// foreign Origin, and any request whose Host is not its own (DNS rebinding).
// Each refusal is checked for its status and JSON error, and for leaving the
// mix, the inputs and the recordings exactly as they were (docs/api.md,
// "Requests from other web pages").
#include <filesystem>
#include <string>
#include <vector>

#include "server_test_support.hpp"

namespace nowait::server::test {
namespace {

// Everything a refused request must leave alone: the mix settings, whether
// a recording runs, and the files in the recordings directory.
std::string everything(LiveServer& live) {
  std::string out = mix_settings(live.engine);
  out += live.engine.status().recording.active ? " | recording" : " | not recording";
  for (const auto& entry : fs::directory_iterator(live.recordings)) out += " | " + entry.path().string();
  return out;
}

struct Attempt {
  std::string method;
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::string content_type;  // empty: none sent
};

// Sends exactly the headers given: no Content-Type unless the attempt has
// one (the convenience calls of httplib's client add their own).
httplib::Result send(httplib::Client& c, const Attempt& a) {
  httplib::Request req;
  req.method = a.method;
  req.path = a.path;
  req.headers = a.headers;
  req.body = a.body;
  if (!a.content_type.empty()) req.headers.emplace("Content-Type", a.content_type);
  return c.send(req);
}

void expect_refused(LiveServer& live, const std::vector<Attempt>& attempts, int status,
                    const std::string& says) {
  auto c = live.client();
  const std::string before = everything(live);
  for (const Attempt& a : attempts) {
    std::string what = a.method + " " + a.path + " [" + a.content_type + "]";
    for (const auto& [k, v] : a.headers) what += " " + k + ": " + v;
    const httplib::Result r = send(c, a);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, status) << what << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << what;
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin")) << what;
    const json b = body_of(r);
    ASSERT_TRUE(b.is_object() && b.contains("error")) << what << " -> " << r->body;
    EXPECT_NE(b["error"].get<std::string>().find(says), std::string::npos) << what << " -> " << r->body;
  }
  EXPECT_EQ(everything(live), before);
  EXPECT_EQ(live.engine.input_names(), (std::vector<std::string>{"tone A", "tone B"}));
}

// The state-changing requests an attacking page wants, each with `headers`
// and the given content type.
std::vector<Attempt> every_change(const httplib::Headers& headers, const std::string& content_type) {
  return {
      {"POST", "/api/inputs", headers, R"({"name": "evil", "source": "file:/etc/passwd"})", content_type},
      {"POST", "/api/inputs", headers, "name=evil&source=tone%3A100", content_type},
      {"POST", "/api/inputs", headers, R"({"name": "evil", "source": "tone:100"})", content_type},
      {"POST", "/api/recording/start", headers, R"({"file": "evil.wav"})", content_type},
      {"POST", "/api/recording/start", headers, "", content_type},
      {"PATCH", "/api/master", headers, R"({"gain_db": -120})", content_type},
      {"PATCH", "/api/inputs/tone%20A", headers, R"({"mute": true})", content_type},
      {"DELETE", "/api/inputs/tone%20A", headers, "", content_type},
  };
}

// ---- Content-Type --------------------------------------------------------------------------

TEST(CrossSite, AChangeSentAsTextPlainOrAFormGets415AndChangesNothing) {
  LiveServer live;
  for (const char* type : {"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                           "application/jsonp", "text/json"}) {
    SCOPED_TRACE(type);
    expect_refused(live, every_change({}, type), 415, "Content-Type: application/json");
  }
  // A form posted as multipart (httplib answers 400 itself to a multipart
  // type whose body does not parse, so this one is well formed).
  const std::string form = "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nevil\r\n--x--\r\n";
  expect_refused(live,
                 {{"POST", "/api/inputs", {}, form, "multipart/form-data; boundary=x"},
                  {"POST", "/api/recording/start", {}, form, "multipart/form-data; boundary=x"}},
                 415, "Content-Type: application/json");
}

TEST(CrossSite, AChangeWithNoContentTypeGets415AndChangesNothing) {
  LiveServer live;
  // httplib's client labels a body it is given without a type text/plain, so
  // only the empty bodies here arrive with no Content-Type at all.
  expect_refused(live, every_change({}, ""), 415, "Content-Type: application/json");
  expect_refused(
      live, {{"POST", "/api/recording/start", {}, "", ""}, {"DELETE", "/api/inputs/tone%20A", {}, "", ""}},
      415, "got none");
}

TEST(CrossSite, JsonWithACharsetOrInAnyCaseIsAccepted) {
  LiveServer live;
  auto c = live.client();
  const auto a = c.Patch("/api/master", R"({"gain_db": -2})", "application/json; charset=utf-8");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200) << a->body;
  const auto b = c.Patch("/api/master", R"({"gain_db": -4})", "Application/JSON");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200) << b->body;
  EXPECT_DOUBLE_EQ(live.engine.status().master_gain_db, -4.0);
}

// ---- Origin ------------------------------------------------------------------------------

TEST(CrossSite, AChangeFromAForeignOriginGets403AndChangesNothing) {
  LiveServer live;
  const std::string port = std::to_string(live.server->port());
  const std::string other_port = std::to_string(live.server->port() == 1 ? 2 : live.server->port() - 1);
  for (const std::string& origin : std::vector<std::string>{
           "http://evil.example", "https://evil.example", "http://evil.example:" + port, "null",
           "http://127.0.0.1:" + other_port, "http://localhost:" + other_port,
           "http://localhost.evil.example:" + port, "http://127.0.0.1:" + port + ".evil.example", "file://",
           "http://user@127.0.0.1:" + port}) {
    SCOPED_TRACE(origin);
    expect_refused(live, every_change({{"Origin", origin}}, "application/json"), 403, "other web pages");
  }
}

TEST(CrossSite, AForeignOriginIsRefusedEvenWithTheRightToken) {
  ServerOptions options;
  options.token = "s3cret";
  LiveServer live(options);
  expect_refused(live,
                 every_change({{"Origin", "http://evil.example"}, {"Authorization", "Bearer s3cret"}},
                              "application/json"),
                 403, "other web pages");
  // And a text/plain change with the right token is still refused.
  expect_refused(live, every_change({{"Authorization", "Bearer s3cret"}}, "text/plain"), 415,
                 "application/json");
}

TEST(CrossSite, TheServersOwnPageAndScriptsWithoutAnOriginCanChangeTheMix) {
  LiveServer live;
  auto c = live.client();
  const std::string port = std::to_string(live.server->port());
  const auto own = c.Patch("/api/master", {{"Origin", "http://127.0.0.1:" + port}}, R"({"gain_db": -3})",
                           "application/json");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << own->body;
  EXPECT_DOUBLE_EQ(live.engine.status().master_gain_db, -3.0);
  const auto by_name = c.Post("/api/inputs", {{"Origin", "http://localhost:" + port}},
                              R"({"name": "added", "source": "tone:220"})", "application/json");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->status, 201) << by_name->body;
  const auto removed =
      c.Delete("/api/inputs/added", {{"Origin", "http://[::1]:" + port}}, "", "application/json");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 200) << removed->body;
  const auto script = c.Patch("/api/inputs/tone%20B", R"({"pan": 0.75})", "application/json");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200) << script->body;
  EXPECT_EQ(live.engine.input_names(), (std::vector<std::string>{"tone A", "tone B"}));
}

// ---- Host --------------------------------------------------------------------------------

TEST(CrossSite, AnUnknownHostGets421OnEveryRouteAndChangesNothing) {
  LiveServer live;
  const std::string port = std::to_string(live.server->port());
  const std::string other_port = std::to_string(live.server->port() == 1 ? 2 : live.server->port() - 1);
  for (const std::string& host :
       std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.1:" + other_port,
                                "localhost.:" + port, "127.0.0.1", "0.0.0.0:" + port, "", "a b:" + port}) {
    SCOPED_TRACE("Host: " + host);
    const httplib::Headers h = {{"Host", host}};
    std::vector<Attempt> attempts = every_change(h, "application/json");
    for (const char* path : {"/", "/app.js", "/api/state", "/metrics", "/healthz", "/events", "/api/nothing"})
      attempts.push_back({"GET", path, h, "", ""});
    expect_refused(live, attempts, 421, "does not answer to Host");
  }
}

TEST(CrossSite, TheLoopbackNamesWithTheListeningPortAreAnsweredInAnyCase) {
  LiveServer live;
  auto c = live.client();
  const std::string port = std::to_string(live.server->port());
  for (const std::string& host :
       {"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port}) {
    const auto r = c.Get("/api/state", {{"Host", host}});
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 200) << host << " -> " << r->body;
  }
}

TEST(CrossSite, AllowHostAddsNamesOnAnyPortOrOnTheGivenPort) {
  ServerOptions options;
  options.allowed_hosts = {"Mixer.Example", "scrape.example:9090"};
  LiveServer live(options);
  auto c = live.client();
  for (const std::string host : {"mixer.example", "mixer.example:443", "scrape.example:9090"}) {
    const auto r = c.Get("/metrics", {{"Host", host}});
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 200) << host;
  }
  const auto wrong_port = c.Get("/metrics", {{"Host", "scrape.example:9091"}});
  ASSERT_TRUE(wrong_port);
  EXPECT_EQ(wrong_port->status, 421);
  // A page served through the proxy by that name is the server's own page.
  const auto proxied =
      c.Patch("/api/master", {{"Host", "mixer.example"}, {"Origin", "https://mixer.example"}},
              R"({"gain_db": -5})", "application/json");
  ASSERT_TRUE(proxied);
  EXPECT_EQ(proxied->status, 200) << proxied->body;
  EXPECT_DOUBLE_EQ(live.engine.status().master_gain_db, -5.0);
}

TEST(CrossSite, HostAndOriginRulesFollowTheListenAddress) {
  ServerOptions o;
  o.host = "127.0.0.1";
  EXPECT_TRUE(host_is_allowed("127.0.0.1:8080", o, 8080));
  EXPECT_TRUE(host_is_allowed("localhost:8080", o, 8080));
  EXPECT_TRUE(host_is_allowed("[::1]:8080", o, 8080));
  EXPECT_FALSE(host_is_allowed("127.0.0.1", o, 8080));  // no port: 80
  EXPECT_TRUE(host_is_allowed("127.0.0.1", o, 80));
  EXPECT_FALSE(host_is_allowed("127.0.0.2:8080", o, 8080));
  EXPECT_FALSE(host_is_allowed("192.168.1.2:8080", o, 8080));
  EXPECT_FALSE(host_is_allowed("evil.example:8080", o, 8080));
  EXPECT_FALSE(host_is_allowed("127.0.0.1:8080:1", o, 8080));
  EXPECT_FALSE(host_is_allowed("[::1:8080", o, 8080));
  EXPECT_FALSE(host_is_allowed("127.0.0.1:0", o, 8080));
  EXPECT_FALSE(host_is_allowed("127.0.0.1:99999", o, 8080));

  ServerOptions v6;
  v6.host = "::1";
  EXPECT_TRUE(host_is_allowed("[::1]:9000", v6, 9000));
  EXPECT_FALSE(host_is_allowed("[::2]:9000", v6, 9000));

  // Listening on every address, any IP literal with the port is answered (an
  // address cannot be rebound as a DNS name can), names only when allowed.
  ServerOptions any;
  any.host = "0.0.0.0";
  any.token = "t";
  EXPECT_TRUE(host_is_allowed("192.168.1.2:8080", any, 8080));
  EXPECT_TRUE(host_is_allowed("[fe80::1]:8080", any, 8080));
  EXPECT_FALSE(host_is_allowed("192.168.1.2:8081", any, 8080));
  EXPECT_FALSE(host_is_allowed("studio.lan:8080", any, 8080));
  any.allowed_hosts = {"studio.lan"};
  EXPECT_TRUE(host_is_allowed("studio.lan:8080", any, 8080));

  EXPECT_TRUE(origin_is_own("http://127.0.0.1:8080", o, 8080));
  EXPECT_TRUE(origin_is_own("http://LOCALHOST:8080", o, 8080));
  EXPECT_FALSE(origin_is_own("https://127.0.0.1:8080/", o, 8080));  // an origin has no path
  EXPECT_FALSE(origin_is_own("http://127.0.0.1", o, 8080));
  EXPECT_FALSE(origin_is_own("null", o, 8080));
  EXPECT_FALSE(origin_is_own("", o, 8080));
  EXPECT_FALSE(origin_is_own("ws://127.0.0.1:8080", o, 8080));
}

TEST(CrossSite, AnAllowedHostThatIsNotAHostNameIsRefusedAtStart) {
  for (const char* bad : {"", "http://mixer.example", "mixer.example/", "two words", "mixer.example:0",
                          "mixer.example:http", "[::1"}) {
    ServerOptions o;
    o.allowed_hosts = {bad};
    EXPECT_THROW(check_options(o), std::invalid_argument) << bad;
  }
  ServerOptions good;
  good.allowed_hosts = {"mixer.example", "mixer.example:8443", "[::1]:9000", "10.0.0.7"};
  EXPECT_NO_THROW(check_options(good));
}

}  // namespace
}  // namespace nowait::server::test
