// nowait/detail/seqlock_words.hpp: the payload copy that every seqlock in
// nowait shares (BroadcastRing slots, SeqlockCell).
//
// A seqlock reader copies data that a writer may be overwriting at that very
// moment and throws the copy away if the sequence stamp changed. With a plain
// memcpy that concurrent copy is a data race, which is undefined behaviour in
// C++ and what ThreadSanitizer reports. So the payload lives in
// std::atomic<std::uint64_t> words that both sides access with relaxed
// operations, ordered by a release fence after the writer's "busy" stamp and an
// acquire fence before the reader's re-check of the stamp (H.-J. Boehm, "Can
// seqlocks get along with programming language memory models?", 2012). On
// x86-64 and AArch64 a relaxed 64-bit load or store is an ordinary move, so the
// copy costs one move per 8 bytes; compilers do not vectorise atomics, which is
// why it runs at a fraction of memcpy's speed (about 4x slower for a 2 KiB
// block in L1, measured), still well under a microsecond per audio block.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nowait/rt.hpp"

namespace nowait::detail {

using SeqlockWord = std::atomic<std::uint64_t>;

// The payload copy must be plain moves, never a lock: a lock-based atomic would
// make the writer blocking and the reader's copy a critical section.
static_assert(SeqlockWord::is_always_lock_free, "seqlocks need lock-free 64-bit atomics");
static_assert(sizeof(SeqlockWord) == sizeof(std::uint64_t), "payload words must pack densely");

// Words needed to hold `bytes` bytes.
constexpr std::size_t seqlock_words_for(std::size_t bytes) noexcept {
  return bytes / sizeof(std::uint64_t) + (bytes % sizeof(std::uint64_t) != 0 ? 1 : 0);
}

// Packs `bytes` bytes from `src` into `words` payload words, zeroing the rest,
// so a short block and the padding of the last word are deterministic.
inline void store_seqlock_words(SeqlockWord* dst, std::size_t words, const std::byte* src,
                                std::size_t bytes) noexcept NOWAIT_NONBLOCKING {
  constexpr std::size_t word = sizeof(std::uint64_t);
  const std::size_t full = bytes / word;
  std::size_t i = 0;
  for (; i < full; ++i) {
    std::uint64_t value;
    std::memcpy(&value, src + i * word, word);
    // Relaxed: the writer's release fence before the payload and the reader's
    // acquire fence after it provide all the ordering (see the header comment).
    dst[i].store(value, std::memory_order_relaxed);
  }
  if (const std::size_t tail = bytes % word; tail != 0) {
    std::uint64_t value = 0;
    std::memcpy(&value, src + i * word, tail);
    dst[i].store(value, std::memory_order_relaxed);  // relaxed: as above
    ++i;
  }
  for (; i < words; ++i) dst[i].store(0, std::memory_order_relaxed);  // relaxed: as above
}

// Unpacks the first `bytes` bytes of the payload words into `dst`.
inline void load_seqlock_words(const SeqlockWord* src, std::byte* dst,
                               std::size_t bytes) noexcept NOWAIT_NONBLOCKING {
  constexpr std::size_t word = sizeof(std::uint64_t);
  const std::size_t full = bytes / word;
  std::size_t i = 0;
  for (; i < full; ++i) {
    // Relaxed: the value is kept only if the stamp is unchanged after the
    // acquire fence that follows the whole copy.
    const std::uint64_t value = src[i].load(std::memory_order_relaxed);
    std::memcpy(dst + i * word, &value, word);
  }
  if (const std::size_t tail = bytes % word; tail != 0) {
    const std::uint64_t value = src[i].load(std::memory_order_relaxed);  // relaxed: as above
    std::memcpy(dst + i * word, &value, tail);
  }
}

}  // namespace nowait::detail
