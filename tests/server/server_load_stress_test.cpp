// Load: 20 event-stream clients plus a client hammering the control API, for
// 30 s in release (3 s under sanitizers), counted from the moment all 20 are
// connected and warmed up. Every client keeps getting events,
// every API call is answered, the server's memory stays flat, no input runs
// dry, and the engine's own work stays well inside the block period.
//
// Deadline misses are printed, not asserted: on this VM the clock thread is
// now and then woken late by the hypervisor whatever runs in the guest (a
// quiet 20 s run with no server missed 1), which no test here can control.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server_test_support.hpp"
#include "support/clock_stall.hpp"
#include "support/stress.hpp"

namespace nowait::server::test {
namespace {

// The process's resident set, in kB, from /proc/self/status.
long resident_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(ServerLoad, TwentyEventClientsAndApiCallsLeaveTheEngineOnTimeAndMemoryFlat) {
  // The run's length is counted in client 0's events, 10 a second: 30 s in
  // release, 3 s under sanitizers, with the first fifth as warm-up.
  const std::uint64_t run_events = nowait::test::stress_count(300, 30);
  const std::uint64_t warm_events = run_events / 5;
  constexpr int clients = 20;
  LiveServer live;
  const int port = live.server->port();

  std::atomic<bool> stop{false};
  // Each client's event count, read by the main thread while they run.
  std::vector<std::atomic<std::uint64_t>> events(clients);
  // Client 0's count, for the main thread to wait on.
  std::mutex progress_mutex;
  std::condition_variable progress;
  std::uint64_t client0_events = 0;
  const auto wait_for_client0 = [&](std::uint64_t n) {
    std::unique_lock lock(progress_mutex);
    return progress.wait_for(lock, std::chrono::seconds(10 + n), [&] { return client0_events >= n; });
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(std::chrono::seconds(10));
      // Counted per chunk boundary-safe: every event carries "event: metrics".
      std::string tail;
      c.Get("/events", [&](const char* data, std::size_t n) {
        tail.append(data, n);
        for (std::size_t at; (at = tail.find("event: metrics\n")) != std::string::npos;) {
          // relaxed: a count; the main thread's snapshots need no ordering with it
          const std::uint64_t count = events[i].fetch_add(1, std::memory_order_relaxed) + 1;
          tail.erase(0, at + 15);
          if (i == 0) {
            {
              const std::lock_guard lock(progress_mutex);
              client0_events = count;
            }
            progress.notify_all();
          }
        }
        if (tail.size() > 16) tail.erase(0, tail.size() - 16);
        return !stop.load();
      });
    });
  }
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;    // answered with anything but 200, or not at all after a retry
  std::uint64_t reconnects = 0;  // transport errors retried once, as a browser retries
  std::string first_failure;     // what the first failed call got
  std::thread api([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    c.set_keep_alive(true);   // one connection, as a dashboard keeps
    c.set_tcp_nodelay(true);  // as browsers do
    // Every call here is idempotent (a PATCH sets an absolute gain), so a
    // call whose connection broke before an answer is sent again, once.
    const auto call = [&](const std::function<httplib::Result()>& send) {
      httplib::Result r = send();
      if (!r) {
        ++reconnects;
        r = send();
      }
      ++calls;
      if (r && r->status == 200) return;
      ++failures;
      if (first_failure.empty())
        first_failure = r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error());
    };
    for (int k = 0; !stop.load(); ++k) {
      const std::string body = "{\"gain_db\": " + std::to_string(-(k % 24)) + "}";
      call([&] { return c.Patch("/api/inputs/tone%20A", body, "application/json"); });
      call([&] { return c.Get("/api/state"); });
      call([&] { return c.Get("/metrics"); });
    }
  });

  // Every client's count, each read once (relaxed: counts, no ordering needed).
  const auto counts = [&] {
    std::vector<std::uint64_t> now(clients);
    for (int i = 0; i < clients; ++i) now[i] = events[i].load(std::memory_order_relaxed);
    return now;
  };
  // Once every client is connected, warm up, then measure: each client's
  // events in the window against client 0's, and the resident set.
  const bool connected = live.server->wait_for_event_clients(clients, std::chrono::seconds(30));
  const bool warmed = connected && wait_for_client0(counts()[0] + warm_events);
  const std::vector<std::uint64_t> at_warm = counts();
  const auto start = std::chrono::steady_clock::now();
  const long rss_warm = resident_kb();
  const std::uint64_t misses_warm = live.engine.status().deadline_misses;
  const bool ran = warmed && wait_for_client0(at_warm[0] + run_events);
  const std::vector<std::uint64_t> at_end = counts();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long rss_end = resident_kb();
  const engine::EngineStatus status = live.engine.status();
  const RegistrySnapshot registry = live.engine.registry().snapshot();
  stop = true;
  api.join();
  for (std::thread& t : threads) t.join();

  ASSERT_TRUE(connected) << live.server->event_stats().clients << " of " << clients << " clients connected";
  ASSERT_TRUE(warmed) << "client 0 got no events";
  std::vector<std::uint64_t> got(clients);  // events in the measured window
  for (int i = 0; i < clients; ++i) got[i] = at_end[i] - at_warm[i];
  ASSERT_TRUE(ran) << "client 0 stopped getting events";
  std::printf(
      "load: %d clients for %.1f s (%.1f events/s): events per client min %llu (client 0: %llu), %llu API "
      "calls, "
      "RSS %ld -> %ld kB, deadline misses %llu (%llu after warm-up), max drift %.1f ms, realtime clock %s\n",
      clients, seconds, static_cast<double>(run_events) / seconds,
      static_cast<unsigned long long>(*std::min_element(got.begin(), got.end())),
      static_cast<unsigned long long>(got[0]), static_cast<unsigned long long>(calls), rss_warm, rss_end,
      static_cast<unsigned long long>(status.deadline_misses),
      static_cast<unsigned long long>(status.deadline_misses - misses_warm), live.driver.max_drift_ms(),
      live.driver.realtime() ? "yes" : "no");
  // Every client kept up with client 0 over the same window (a slow one
  // skips, never gets extra; the counts are read a moment apart, hence +2).
  const auto n = static_cast<double>(got[0]);
  for (int i = 0; i < clients; ++i) {
    EXPECT_GE(static_cast<double>(got[i]), n * (nowait::test::stress_full ? 0.9 : 0.5)) << "client " << i;
    EXPECT_LE(got[i], got[0] + 2) << "client " << i;
  }
  EXPECT_GT(calls, 0u);
  EXPECT_EQ(failures, 0u) << "first: " << first_failure;
  std::printf("load: %llu API calls retried after a broken connection\n",
              static_cast<unsigned long long>(reconnects));
  // The feeders (SCHED_FIFO below the clock) kept every ring filled, unless
  // the whole machine stalled for longer than the rings hold, after which an
  // input runs dry by design (support/clock_stall.hpp). This run is too long
  // to repeat, so only that check gives way, and says so.
  const double ride_out_ms = nowait::test::ring_ride_out_ms(live.engine.format());
  if (live.driver.max_drift_ms() < ride_out_ms) {
    EXPECT_EQ(status.dropped_blocks, 0u);
    for (const engine::InputStatus& in : status.inputs) EXPECT_EQ(in.underrun_blocks, 0u) << in.name;
  } else {
    std::printf(
        "load: the clock was kept from a block for %.1f ms, longer than the %.1f ms the rings ride "
        "out; %llu blocks with an underrun not judged\n",
        live.driver.max_drift_ms(), ride_out_ms, static_cast<unsigned long long>(status.dropped_blocks));
  }
  const Sample* process = registry.sample("nowait_process_duration_seconds");
  ASSERT_NE(process, nullptr);
  const double period = live.engine.format().block_seconds();
  const double p99 = as_double(process->histogram.p99);
  const double max = as_double(process->histogram.max);
  std::printf("load: process() p99 %.1f us, max %.1f us, block period %.1f us\n", p99 * 1e6, max * 1e6,
              period * 1e6);
  // The server's threads never pushed the mix near its deadline. (Half the
  // period, not the benchmark's tenth: 21 client threads on two vCPUs slow
  // every thread, and sanitizers slow process() several times.)
  EXPECT_LT(p99, period / 2) << "process() p99 under load";
#ifdef NOWAIT_STRESS_FULL
  // Release only: sanitizers' allocators keep freed memory in quarantine.
  EXPECT_LT(rss_end - rss_warm, 8 * 1024) << "the resident set grew under steady load";

#endif
}

}  // namespace
}  // namespace nowait::server::test
