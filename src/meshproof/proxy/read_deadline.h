#pragma once
// A bound on how long each read of a connection may wait, for connections that read again and
// again (keep-alive, pooled upstream connections), with one timer per connection that is
// re-armed lazily: libev's "be smart about timeouts" pattern (ev.pod, "Be smart about timeouts").
//
// A read that must be done by T re-arms the timer only when nothing is armed or T comes before
// the armed time. When the timer fires for a read whose deadline is later (the read began after
// it was armed), it re-arms itself for that deadline; when no read is pending, it stays unarmed
// until the next read. So a keep-alive connection whose reads all have the same limit costs one
// clock read per read, where a timer scheduled and cancelled per read (whose cancelled wait still
// completes through the scheduler) cost about a tenth of the proxy's instructions per request.
//
// A deadline that passes during a read cancels the socket's pending operations; end() then says
// so. The precision is the timer's: the read is cut when the armed wait fires at or after its
// deadline, never before it.
//
// Thread-safety: one per connection, used on the io_context's one thread. Include only from .cc
// files (Asio).

#include <chrono>
#include <cstdint>
#include <memory>

#include "meshproof/net/asio.h"

namespace meshproof::proxy {

class ReadDeadline {
public:
  using Executor = net::asio::io_context::executor_type;
  using Socket = net::asio::basic_stream_socket<net::tcp, Executor>;
  using Clock = std::chrono::steady_clock;
  using Timer = net::asio::basic_waitable_timer<Clock, net::asio::wait_traits<Clock>, Executor>;

  explicit ReadDeadline(const Executor& ex);
  ~ReadDeadline();
  ReadDeadline(const ReadDeadline&) = delete;
  ReadDeadline& operator=(const ReadDeadline&) = delete;

  // A read on `socket` starts and must be done by `by`; if it is not, `socket`'s pending
  // operations are cancelled then. `socket` must stay alive until end(). One read at a time.
  void begin(Socket& socket, Clock::time_point by);
  // The read begun last is over (whichever way it ended). Returns whether its deadline passed and
  // cancelled it.
  bool end();

  // How many times the timer has been armed (tests: laziness is observable).
  uint64_t arms() const { return state_->generation; }
  // Whether a wait is outstanding on the timer.
  bool armed() const { return state_->armed; }

private:
  struct State {
    ReadDeadline* owner = nullptr; // null once the ReadDeadline is gone
    Socket* socket = nullptr;      // the pending read's; null when no read is pending
    Clock::time_point deadline;    // the pending read's
    bool fired = false;            // the pending read's deadline passed and cancelled it
    bool armed = false;            // a wait is outstanding on the timer (until timer_.expiry())
    uint64_t generation = 0;       // of the outstanding wait, one per arming: older ones are stale
  };
  void arm(Clock::time_point at);
  static void onTimer(const std::shared_ptr<State>& state, uint64_t generation);

  Timer timer_;
  // Shared with the outstanding wait's handler, which may run after this object is gone.
  std::shared_ptr<State> state_;
};

} // namespace meshproof::proxy
