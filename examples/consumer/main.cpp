// Moves 0..999 from a producer thread to this one through an installed nowait.
#include <cstdint>
#include <cstdio>
#include <nowait/spsc_ring.hpp>
#include <thread>

int main() {
  auto [tx, rx] = nowait::SpscRing<std::uint64_t>::create(64);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (std::uint64_t i = 0; i < 1000;) {
      if (tx.try_push(i)) {
        ++i;
      } else {
        std::this_thread::yield();  // full: let the consumer run
      }
    }
  });
  std::uint64_t count = 0, sum = 0;
  while (count < 1000) {
    if (auto v = rx.try_pop()) {
      if (*v != count) {
        std::printf("consumer: out of order: got %llu, expected %llu\n", static_cast<unsigned long long>(*v),
                    static_cast<unsigned long long>(count));
        return 1;
      }
      sum += *v;
      ++count;
    } else {
      std::this_thread::yield();  // empty: let the producer run
    }
  }
  producer.join();
  std::printf("consumer: moved %llu items, sum %llu\n", static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(sum));
  return 0;
}
