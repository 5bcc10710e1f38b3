#include "load.hpp"

#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace nwbench {

Cpus detect_cpus() {
  Cpus c;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return c;
  c.allowed = CPU_COUNT(&set);
  bool first = true;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (first) {
      c.a = c.b = cpu;
      first = false;
    } else {
      c.b = cpu;
      break;
    }
  }
  return c;
}

ScopedPin::ScopedPin(int cpu) {
  if (pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) != 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  restore_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

ScopedPin::~ScopedPin() {
  if (restore_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
}

CompetingLoad::~CompetingLoad() { stop(); }

void CompetingLoad::start(int cpu) {
  if (running()) throw std::logic_error("CompetingLoad::start: already running");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    // A bench that dies must not leave a spinner behind: the kernel kills the
    // child with its parent (and the check covers a parent already gone).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof(one), &one);
    volatile unsigned long spins = 0;
    for (;;) spins = spins + 1;  // killed by the parent; never returns
  }
  pid_ = pid;
}

void CompetingLoad::stop() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace nwbench
