// nowait/rt.hpp: the vocabulary every real-time path in nowait shares.
//
// - NOWAIT_NONBLOCKING marks a function that may run on a real-time thread.
//   It is a function-type attribute, so it goes after the parameter list and
//   noexcept: `void f() noexcept NOWAIT_NONBLOCKING { ... }`.
//   Under clang >= 20 it is [[clang::nonblocking]]: the compiler then rejects
//   (with -Werror=function-effects) any call inside it that may allocate, lock,
//   throw or block, and RealtimeSanitizer (-fsanitize=realtime) traps such calls
//   at run time. On other compilers it expands to nothing.
// - cache_line_size is the alignment that keeps independently written atomics
//   on separate lines (no false sharing).
// - monotonic_ns() is the steady clock that real-time code may read.
// - NOWAIT_PRECONDITION(cond, msg) checks a caller's obligation. In builds
//   without NDEBUG a violation prints the message and aborts; with NDEBUG it
//   compiles to nothing, so it is free on the real-time path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <type_traits>

#if defined(__clang__) && __clang_major__ >= 20
#define NOWAIT_NONBLOCKING [[clang::nonblocking]]
// Nonblocking when the constant expression holds; otherwise the function counts
// as possibly blocking, so calling it from a NOWAIT_NONBLOCKING function is a
// compile error. Templates use it to be real-time safe exactly when their
// element type is (see realtime_safe below).
#define NOWAIT_NONBLOCKING_IF(...) [[clang::nonblocking(__VA_ARGS__)]]
#else
#define NOWAIT_NONBLOCKING
#define NOWAIT_NONBLOCKING_IF(...)
#endif

namespace nowait {

// Whether constructing, copying, moving and destroying a T never allocates,
// locks or blocks, so containers of T may do so on a real-time thread.
// Trivially copyable types qualify; specialise it as std::true_type for a type
// whose special members are real-time safe although not trivial. Containers
// mark their element-handling functions NOWAIT_NONBLOCKING_IF(realtime_safe<T>)
// so that a ring of std::string still works between ordinary threads but is
// rejected at compile time when pushed from a real-time function.
template <class T>
struct realtime_safe : std::is_trivially_copyable<T> {};

template <class T>
inline constexpr bool realtime_safe_v = realtime_safe<T>::value;

// 64 bytes on every x86-64 and most AArch64 cores. A constant rather than
// std::hardware_destructive_interference_size, whose value gcc warns may differ
// between translation units compiled with different -mtune (-Winterference-size).
inline constexpr std::size_t cache_line_size = 64;

namespace detail {

// Reports a broken precondition and ends the process. Reaching it is already a
// bug, so it is exempt from the nonblocking checks: the pragma silences the
// compile-time check for this body only, and RealtimeSanitizer would report the
// fprintf, which is one more loud signal of the same bug.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wfunction-effects"
#endif
[[noreturn]] inline void precondition_failed(const char* condition, const char* message, const char* file,
                                             int line) noexcept NOWAIT_NONBLOCKING {
  std::fprintf(stderr, "nowait: precondition failed: %s (%s) at %s:%d\n", message, condition, file, line);
  std::abort();
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

}  // namespace detail
}  // namespace nowait

namespace nowait {

// Nanoseconds on CLOCK_MONOTONIC: the one clock real-time code reads. On Linux
// clock_gettime(CLOCK_MONOTONIC) is served from the vDSO, a read of shared
// memory and the TSC with no system call, so it is safe on a real-time thread
// (RealtimeSanitizer does not flag it). libc does not declare it nonblocking,
// so the compile-time check is silenced for this one body.
// Thread: any. Wait-free; no allocation.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wfunction-effects"
#endif
inline std::int64_t monotonic_ns() noexcept NOWAIT_NONBLOCKING {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

namespace detail {

// The fences nowait's lock-free code pairs by hand (seqlocks, PipelineStatus);
// each call site says what its fence pairs with. ThreadSanitizer does not
// model fences, so GCC warns under -fsanitize=thread (-Wtsan) that a plain
// access ordered only by a fence may be reported as a race. Every access
// these fences order in nowait is itself atomic, so TSan has no plain access
// to misjudge; the warning is silenced for these two functions only.
// Thread: any. Wait-free; no allocation.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
inline void release_fence() noexcept NOWAIT_NONBLOCKING {
  std::atomic_thread_fence(std::memory_order_release);  // release: the caller's pairing, stated at the call
}
inline void acquire_fence() noexcept NOWAIT_NONBLOCKING {
  std::atomic_thread_fence(std::memory_order_acquire);  // acquire: the caller's pairing, stated at the call
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif

}  // namespace detail
}  // namespace nowait

#if defined(NDEBUG)
#define NOWAIT_PRECONDITION(cond, msg) static_cast<void>(0)
#else
#define NOWAIT_PRECONDITION(cond, msg) \
  ((cond) ? static_cast<void>(0) : ::nowait::detail::precondition_failed(#cond, msg, __FILE__, __LINE__))
#endif
