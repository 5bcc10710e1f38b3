// A test element that counts its constructions and destructions, so a test can
// assert that every object a container built was destroyed exactly once.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "nowait/rt.hpp"

namespace nowait::test {

struct LifetimeStats {
  std::atomic<std::int64_t> constructed{0};  // every constructor, copy and move included
  std::atomic<std::int64_t> destroyed{0};

  std::int64_t alive() const { return constructed.load() - destroyed.load(); }
};

// Holds a value and a pointer to the stats it reports to. A destroyed or
// moved-from object is marked, so a double destroy or a read of a dead
// element shows up as a wrong value rather than passing silently.
class Counted {
 public:
  Counted(LifetimeStats& stats, std::uint64_t value) : stats_(&stats), value_(value) { bump(); }
  Counted(const Counted& other) : stats_(other.stats_), value_(other.value_) { bump(); }
  Counted(Counted&& other) noexcept : stats_(other.stats_), value_(other.value_) {
    other.value_ = moved_from;
    bump();
  }
  Counted& operator=(const Counted& other) {
    stats_ = other.stats_;
    value_ = other.value_;
    return *this;
  }
  Counted& operator=(Counted&& other) noexcept {
    stats_ = other.stats_;
    value_ = other.value_;
    other.value_ = moved_from;
    return *this;
  }
  ~Counted() {
    // Relaxed: tests read the totals only after joining the threads involved.
    stats_->destroyed.fetch_add(1, std::memory_order_relaxed);
    value_ = destroyed_marker;
  }

  std::uint64_t value() const { return value_; }

  static constexpr std::uint64_t moved_from = ~std::uint64_t{0};
  static constexpr std::uint64_t destroyed_marker = ~std::uint64_t{0} - 1;

 private:
  void bump() { stats_->constructed.fetch_add(1, std::memory_order_relaxed); }  // see ~Counted
  LifetimeStats* stats_;
  std::uint64_t value_;
};

}  // namespace nowait::test

namespace nowait {
// Counted's special members are atomic increments: safe on a real-time thread,
// so rings of Counted are checked as nonblocking in the rtsan build too.
template <>
struct realtime_safe<test::Counted> : std::true_type {};
}  // namespace nowait
