#include "server/event_hub.hpp"

#include <utility>

namespace nowait::server {

void EventHub::publish(std::string text) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  {
    const std::lock_guard lock(mutex_);
    newest_.id += 1;
    newest_.text = std::move(shared);
    stats_.published += 1;
  }
  changed_.notify_all();
}

bool EventHub::join() {
  {
    const std::lock_guard lock(mutex_);
    if (closed_ || stats_.clients >= max_clients_) {
      stats_.refused += 1;
      return false;
    }
    stats_.clients += 1;
  }
  changed_.notify_all();
  return true;
}

void EventHub::leave() {
  {
    const std::lock_guard lock(mutex_);
    if (stats_.clients > 0) stats_.clients -= 1;
  }
  changed_.notify_all();
}

bool EventHub::wait_for_clients(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return stats_.clients == count; });
}

std::optional<EventHub::Event> EventHub::next(std::uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return closed_ || newest_.id > after; })) return std::nullopt;
  if (closed_) return std::nullopt;
  // A client that has sent nothing yet (after == 0) skips nothing: it joins now.
  if (after != 0) stats_.skipped += newest_.id - after - 1;
  stats_.sent += 1;
  return newest_;
}

void EventHub::close() {
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool EventHub::closed() const {
  const std::lock_guard lock(mutex_);
  return closed_;
}

EventHub::Stats EventHub::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace nowait::server
