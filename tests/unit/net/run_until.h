#pragma once
// For tests that drive a real io_context from the test's thread: run handlers until a condition
// holds, with a bound, so a read that hangs fails the test instead of hanging it. Asio (include
// only from test .cc files).

#include <chrono>

#include "meshproof/net/asio.h"

namespace meshproof::net::testing {

// Runs `io`'s handlers until `cond()` holds; false once `bound` has passed without it. Restarts
// `io` when it stopped for lack of work, and waits at most 20 ms per handler, so it wakes to
// re-check `cond` and the bound.
template <typename Cond>
bool runUntil(asio::io_context& io, Cond cond,
              std::chrono::steady_clock::duration bound = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > give_up) {
      return false;
    }
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

} // namespace meshproof::net::testing
