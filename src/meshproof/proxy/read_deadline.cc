#include "meshproof/proxy/read_deadline.h"

namespace meshproof::proxy {

ReadDeadline::ReadDeadline(const Executor& ex) : timer_(ex), state_(std::make_shared<State>()) {
  state_->owner = this;
}

ReadDeadline::~ReadDeadline() {
  // The timer's destructor cancels the outstanding wait; a handler that already completed and is
  // queued finds no owner and does nothing.
  state_->owner = nullptr;
}

void ReadDeadline::begin(Socket& socket, Clock::time_point by) {
  State& st = *state_;
  st.socket = &socket;
  st.deadline = by;
  st.fired = false;
  if (!st.armed || by < timer_.expiry()) {
    arm(by);
  }
}

bool ReadDeadline::end() {
  State& st = *state_;
  st.socket = nullptr;
  const bool fired = st.fired;
  st.fired = false;
  return fired; // the timer stays armed: the connection's next read likely needs it
}

void ReadDeadline::arm(Clock::time_point at) {
  State& st = *state_;
  st.armed = true;
  const uint64_t generation = ++st.generation;
  timer_.expires_at(at); // cancels the wait outstanding, if any (its generation is now stale)
  timer_.async_wait([state = state_, generation](const boost::system::error_code& error) {
    if (!error) {
      onTimer(state, generation);
    }
  });
}

void ReadDeadline::onTimer(const std::shared_ptr<State>& state, uint64_t generation) {
  State& st = *state;
  if (st.owner == nullptr || st.generation != generation) {
    return; // the connection is gone, or the wait was replaced by an earlier one
  }
  st.armed = false;
  if (st.socket == nullptr) {
    return; // no read to bound: the next begin() arms
  }
  if (Clock::now() < st.deadline) {
    st.owner->arm(st.deadline); // armed for an earlier read; this one has time left
    return;
  }
  st.fired = true;
  boost::system::error_code ignored;
  st.socket->cancel(ignored);
}

} // namespace meshproof::proxy
