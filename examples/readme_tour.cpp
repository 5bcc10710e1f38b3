// The README's tour of the core. The README shows this file verbatim, and a
// test checks that the two agree.
#include <cstdio>
#include <memory>
#include <nowait/broadcast_ring.hpp>
#include <nowait/command_channel.hpp>
#include <nowait/spsc_ring.hpp>
#include <thread>
#include <vector>

struct Gain {
  float db = 0.0f;
};
struct Command {
  Gain* new_gain;  // built on the control thread, handed to the RT thread
};
struct Reply {
  float applied_db;
};

// Everything the real-time thread does is marked nonblocking: under clang 20+
// a call that may allocate, lock or block here is a compile error.
void rt_process(nowait::SpscRing<float>::Consumer& input, nowait::BroadcastRing<float>::Writer& out,
                nowait::CommandChannel<Command, Reply>::Realtime& commands, Gain*& gain,
                std::span<float> block) noexcept NOWAIT_NONBLOCKING {
  while (auto cmd = commands.try_receive()) {
    if (gain != nullptr) commands.retire(gain);  // the old one goes back to be freed
    gain = cmd->new_gain;
    (void)commands.try_reply(Reply{gain->db});
  }
  auto chunk = input.read_chunk(block.size());  // two spans: the run may wrap
  std::size_t i = 0;
  for (float s : chunk.first()) block[i++] = s;
  for (float s : chunk.second()) block[i++] = s;
  for (; i < block.size(); ++i) block[i] = 0.0f;  // underrun: silence
  chunk.commit_all();
  out.write(block);  // never waits for readers
}

int main() {
  auto [tx, rx] = nowait::SpscRing<float>::create(4096);
  auto [writer, hub] = nowait::BroadcastRing<float>::create(8, 4);
  auto channel = nowait::CommandChannel<Command, Reply>::create(16, 16, 4);
  auto& [control, rt] = channel;
  auto recorder = hub.subscribe();  // starts at the newest block

  std::thread producer([tx = std::move(tx)]() mutable {
    const float samples[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    // Fill free slots in place, then publish them with one commit. An exact
    // request, tx.write_chunk_exact(4), gets all four slots or none.
    for (std::size_t sent = 0; sent < 4;) {
      auto chunk = tx.write_chunk(4 - sent);  // up to 4 - sent free slots
      for (float& s : chunk.first()) s = samples[sent++];
      for (float& s : chunk.second()) s = samples[sent++];
      chunk.commit_all();  // nothing is visible to the consumer before this
    }
  });
  producer.join();

  auto gain = std::make_unique<Gain>(Gain{-6.0f});
  if (!control.try_send_with(gain, Command{gain.get()})) return 1;

  Gain* rt_gain = nullptr;
  std::vector<float> block(4);
  rt_process(rx, writer, rt, rt_gain, block);  // one period of the "RT thread"

  std::vector<float> got(4);
  const auto r = recorder.read(got);
  const auto reply = control.try_receive();
  std::printf("block %llu: %.1f %.1f %.1f %.1f, gain %.1f dB\n", static_cast<unsigned long long>(r.sequence),
              static_cast<double>(got[0]), static_cast<double>(got[1]), static_cast<double>(got[2]),
              static_cast<double>(got[3]), static_cast<double>(reply ? reply->applied_db : 0.0f));

  rt.retire(rt_gain);  // shutdown: the RT side gives back what it holds
  control.collect();   // ... and the control side frees it
  return 0;
}
