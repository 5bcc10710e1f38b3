#include "engine/thread_priority.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <pthread.h>
#include <sched.h>

namespace nowait::engine {

bool request_fifo_priority(int priority, const char* who, std::atomic<bool>& warned) noexcept {
  sched_param param{};
  param.sched_priority =
      std::clamp(priority, sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_FIFO));
  const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  if (err == 0) return true;
  // relaxed: only picks which caller prints the one warning; orders nothing
  if (!warned.exchange(true, std::memory_order_relaxed)) {
    std::fprintf(stderr, "nowait: %s: SCHED_FIFO not permitted (%s); running at normal priority\n", who,
                 std::strerror(err));
  }
  return false;
}

}  // namespace nowait::engine
