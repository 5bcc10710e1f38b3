// nowait server: hands the newest event to every Server-Sent-Events client.
//
// The ticker publishes one event text per period; each client's thread waits
// for an event newer than the one it sent last and sends the newest. Nothing
// is queued per client: a client that falls behind skips straight to the
// newest event (counted), so a slow client costs one shared pointer of memory,
// not a backlog. The hub also admits clients up to a limit.
//
// All of it is control-side: the RT thread never comes near (the ticker reads
// the engine's lock-free telemetry, see snapshot.hpp).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace nowait::server {

class EventHub {
 public:
  struct Event {
    std::uint64_t id = 0;  // 1 for the first event published
    std::shared_ptr<const std::string> text;
  };

  struct Stats {
    std::size_t clients = 0;      // admitted and not yet left
    std::uint64_t published = 0;  // events published
    std::uint64_t sent = 0;       // events handed to clients, all clients together
    std::uint64_t skipped = 0;    // events clients never got because a newer one had come
    std::uint64_t refused = 0;    // clients turned away at the limit
  };

  explicit EventHub(std::size_t max_clients) : max_clients_(max_clients) {}

  // Makes `text` the newest event and wakes every waiting client.
  // Thread: any (the ticker). Blocking (the hub's mutex); allocates.
  void publish(std::string text);

  // Admits one more client, or returns false at the limit or once closed.
  // Thread: any. Blocking (the hub's mutex); no allocation.
  bool join();
  // A client admitted by join() is gone. Thread: any. Blocking; no allocation.
  void leave();

  // Waits up to `timeout` until exactly `count` clients are admitted; returns
  // whether that happened. join() and leave() wake it, so a caller (a test, or
  // a shutdown that wants the streams gone) needs no polling.
  // Thread: any. Blocking; no allocation.
  bool wait_for_clients(std::size_t count, std::chrono::milliseconds timeout);

  // Waits up to `timeout` for an event with an id above `after` and returns
  // the newest, counting those it skipped; nothing on timeout or once closed.
  // Thread: a client's. Blocking; no allocation.
  std::optional<Event> next(std::uint64_t after, std::chrono::milliseconds timeout);

  // Wakes every waiting client for good: next() returns nothing from now on.
  // Thread: any. Blocking; no allocation.
  void close();
  bool closed() const;

  Stats stats() const;

 private:
  const std::size_t max_clients_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Event newest_;  // guarded by mutex_
  Stats stats_;   // guarded by mutex_
  bool closed_ = false;
};

}  // namespace nowait::server
