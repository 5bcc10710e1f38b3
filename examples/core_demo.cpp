// nowait core demo (`make run` until the engine exists): for each primitive, a
// producer thread feeds a consumer and the demo prints what moved, checking
// every value on the way.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <numbers>
#include <thread>
#include <vector>

#include "nowait/broadcast_ring.hpp"
#include "nowait/command_channel.hpp"
#include "nowait/spsc_ring.hpp"

namespace {

constexpr int sample_rate = 48000;
constexpr std::size_t block_frames = 128;

// Sample n of a 440 Hz tone at -6 dBFS; both sides compute it, so the
// consumer can check every sample bit for bit.
float tone(std::uint64_t n) {
  return 0.5f *
         static_cast<float>(std::sin(2.0 * std::numbers::pi * 440.0 * static_cast<double>(n) / sample_rate));
}

// One second of stereo audio through an SpscRing<float> in 128-frame chunks.
bool demo_spsc() {
  constexpr std::uint64_t total = 2ull * sample_rate;  // interleaved stereo samples
  auto [tx, rx] = nowait::SpscRing<float>::create(4096 * 2);
  std::latch start(2);
  std::uint64_t chunks = 0;
  std::thread producer([&start, &chunks, tx = std::move(tx)]() mutable {
    start.arrive_and_wait();
    for (std::uint64_t n = 0; n < total;) {
      auto chunk = tx.write_chunk(block_frames * 2);
      std::uint64_t i = n;
      for (float& s : chunk.first()) s = tone(i++ / 2);
      for (float& s : chunk.second()) s = tone(i++ / 2);
      n += chunk.size();
      if (chunk.size() == 0) std::this_thread::yield();  // full: the consumer is behind
      chunks += chunk.size() > 0;
      chunk.commit_all();
    }
  });
  start.arrive_and_wait();
  std::uint64_t received = 0, mismatches = 0;
  float peak = 0.0f;
  while (received < total) {
    auto chunk = rx.read_chunk(block_frames * 2);
    for (auto part : {chunk.first(), chunk.second()}) {
      for (float s : part) {
        mismatches += s != tone(received++ / 2);
        peak = std::max(peak, std::fabs(s));
      }
    }
    if (chunk.size() == 0) std::this_thread::yield();  // empty: the producer is behind
    chunk.commit_all();
  }
  producer.join();
  std::printf(
      "spsc_ring        %llu samples (%d stereo frames, 1 s) in %llu chunks; peak %.3f; %llu mismatches\n",
      static_cast<unsigned long long>(received), sample_rate, static_cast<unsigned long long>(chunks),
      static_cast<double>(peak), static_cast<unsigned long long>(mismatches));
  return mismatches == 0;
}

// A writer that never waits, paced like an audio clock at 8x real time (one
// 256-frame block every 0.67 ms), a fast reader that keeps up and a slow one
// that spends 1 ms on each block and so falls behind and loses blocks.
bool demo_broadcast() {
  constexpr std::size_t frames = 256, channels = 2;
  constexpr std::uint64_t blocks = 600;
  constexpr auto period = std::chrono::nanoseconds(1'000'000'000LL * frames / sample_rate / 8);
  auto [writer, hub] = nowait::BroadcastRing<float>::create(16, frames * channels);
  struct Tally {
    std::uint64_t delivered = 0, lost = 0, bad = 0;
  };
  auto read_all = [](nowait::BroadcastRing<float>::Reader reader, const std::atomic<bool>& done,
                     std::chrono::microseconds work) {
    Tally t;
    std::vector<float> block(frames * channels);
    for (;;) {
      const bool finished = done.load(std::memory_order_acquire);  // acquire: see every block written before
      const auto r = reader.read(block);
      if (r.status == nowait::ReadStatus::item) {
        ++t.delivered;
        t.bad +=
            block.front() != static_cast<float>(r.sequence) || block.back() != static_cast<float>(r.sequence);
        const auto until = std::chrono::steady_clock::now() + work;  // a slow sink's work, e.g. encoding
        while (std::chrono::steady_clock::now() < until) {
        }
      } else if (r.status == nowait::ReadStatus::dropout) {
        t.lost += r.lost;
      } else if (finished) {
        return t;
      }
    }
  };
  std::atomic<bool> done{false};
  Tally fast, slow;
  std::latch start(3);
  std::thread fast_thread([&, reader = hub.subscribe()]() mutable {
    start.arrive_and_wait();
    fast = read_all(std::move(reader), done, std::chrono::microseconds(0));
  });
  std::thread slow_thread([&, reader = hub.subscribe()]() mutable {
    start.arrive_and_wait();
    slow = read_all(std::move(reader), done, std::chrono::microseconds(1000));
  });
  start.arrive_and_wait();
  std::vector<float> block(frames * channels);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t b = 0; b < blocks; ++b) {
    std::this_thread::sleep_until(t0 + period * b);  // the demo's stand-in for an audio clock
    std::fill(block.begin(), block.end(), static_cast<float>(b));
    writer.write(block);
  }
  done.store(true, std::memory_order_release);  // release: publishes the last write to the readers' acquire
  fast_thread.join();
  slow_thread.join();
  for (auto [name, t] : {std::pair{"fast", fast}, std::pair{"slow", slow}}) {
    std::printf("broadcast_ring   %s reader: %llu blocks delivered + %llu lost = %llu written; %llu torn\n",
                name, static_cast<unsigned long long>(t.delivered), static_cast<unsigned long long>(t.lost),
                static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(t.bad));
  }
  return fast.delivered + fast.lost == blocks && slow.delivered + slow.lost == blocks &&
         fast.bad + slow.bad == 0;
}

// An object the control thread builds, the real-time thread uses, and the
// control thread frees when it comes back.
struct Oscillator {
  double frequency;
  static inline std::atomic<int> freed_on_control{0};
  static inline std::thread::id control;
  ~Oscillator() { freed_on_control += std::this_thread::get_id() == control; }
};

struct Command {
  enum class Kind { set_gain, swap_oscillator, stop } kind;
  float gain = 0.0f;
  Oscillator* oscillator = nullptr;
};
struct Reply {
  Command::Kind applied;
  float gain;
};
using Channel = nowait::CommandChannel<Command, Reply>;

// One real-time block: apply what the control side sent. Returns false on stop.
bool rt_block(Channel::Realtime& rt, float& gain, Oscillator*& current) noexcept NOWAIT_NONBLOCKING {
  while (auto cmd = rt.try_receive()) {
    switch (cmd->kind) {
      case Command::Kind::set_gain:
        gain = cmd->gain;
        break;
      case Command::Kind::swap_oscillator:
        if (current != nullptr) rt.retire(current);  // back to the control thread to be freed
        current = cmd->oscillator;
        break;
      case Command::Kind::stop:
        return false;
    }
    (void)rt.try_reply(Reply{cmd->kind, gain});
  }
  return true;
}

bool demo_command_channel() {
  Oscillator::control = std::this_thread::get_id();
  auto channel = Channel::create(64, 64, 8);
  Channel::Control& control = channel.first;
  Channel::Realtime& rt = channel.second;
  Oscillator* held = nullptr;  // what the RT thread holds when it stops
  std::thread rt_thread([&rt, &held] {
    float gain = 1.0f;
    while (rt_block(rt, gain, held)) std::this_thread::yield();  // stands in for waiting on the next period
  });
  int sent = 0, replies = 0;
  std::size_t freed = 0;
  for (int i = 0; i < 12; ++i) {
    if (i % 4 == 0) {
      auto osc = std::make_unique<Oscillator>(110.0 * (i + 1));
      Command cmd{Command::Kind::swap_oscillator, 0.0f, osc.get()};
      while (!control.try_send_with(osc, cmd))
        freed += control.collect();  // full: free what came back and retry
    } else {
      while (!control.try_send(Command{Command::Kind::set_gain, 0.1f * static_cast<float>(i)}))
        std::this_thread::yield();
    }
    ++sent;
  }
  while (replies < sent) {
    if (control.try_receive())
      ++replies;
    else
      std::this_thread::yield();
  }
  while (!control.try_send(Command{Command::Kind::stop})) std::this_thread::yield();
  rt_thread.join();
  // Shutdown: the RT thread has stopped, so what it held goes back the same way.
  rt.retire(held);
  freed += control.collect();
  std::printf(
      "command_channel  %d commands sent, %d replies; %zu objects handed over, returned and freed, %d of "
      "them on "
      "the control thread\n",
      sent, replies, freed, Oscillator::freed_on_control.load());
  return replies == sent && Oscillator::freed_on_control.load() == 3;
}

}  // namespace

int main() {
  std::printf("nowait core demo: a producer thread feeding a consumer through each primitive\n");
  // Every demo runs even when an earlier one fails, so all of them report.
  const bool spsc_ok = demo_spsc();
  const bool broadcast_ok = demo_broadcast();
  const bool channel_ok = demo_command_channel();
  const bool ok = spsc_ok && broadcast_ok && channel_ok;
  std::printf("%s\n", ok ? "all data verified" : "DATA MISMATCH");
  return ok ? 0 : 1;
}
