#include "meshproof/net/socket_read.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace meshproof::net {
namespace {

thread_local ReadStats t_stats;

// The operation launch() is starting after its own recv found nothing: the reactor's speculative
// try inside start_op would only repeat that recv, so perform() declines it. Set only for the
// duration of that start_op call, on this thread: a perform on an edge (perform_io) is never
// inside it.
thread_local const read_detail::RecvOpBase* t_starting = nullptr;

// Whether the control data says the receive queue is empty and no FIN is pending (TCP_INQ gives
// the bytes left, or 1 for a FIN); false when the hint is missing.
bool queueEmpty(const msghdr& msg) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int inq = 0;
      std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
      return inq == 0;
    }
  }
  return false;
}

// start_op of Asio's socket service (protected), through a derived class as SocketAccess does.
struct ServiceAccess : read_detail::Service {
  static auto startOp() { return &ServiceAccess::start_op; }
};

} // namespace

bool enableDrainHint(int native_socket) {
  const int one = 1;
  return ::setsockopt(native_socket, IPPROTO_TCP, TCP_INQ, &one, sizeof one) == 0;
}

ReadStats readStats() {
  return t_stats;
}

namespace read_detail {

asio::detail::reactor_op::status RecvOpBase::recv(reactor_op* base) {
  auto* o = static_cast<RecvOpBase*>(base);
  if (t_starting == o) {
    return not_done;
  }
  iovec iov{o->data_, o->size_};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ++t_stats.recvs;
    const ssize_t n = ::recvmsg(o->fd_, &msg, MSG_DONTWAIT);
    if (n > 0) {
      o->ec_ = {};
      o->bytes_transferred_ = static_cast<size_t>(n);
      return static_cast<size_t>(n) < o->size_ && queueEmpty(msg) ? done_and_exhausted : done;
    }
    if (n == 0) { // the end of the stream: it stays readable (no drained mark)
      o->ec_ = asio::error::eof;
      o->bytes_transferred_ = 0;
      return done;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ++t_stats.would_block;
      return not_done;
    }
    o->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
    o->bytes_transferred_ = 0;
    return done;
  }
}

void launch(Service& service, Service::implementation_type& impl, RecvOpBase* op, bool continuation,
            ReadStart start) {
  const auto start_op = ServiceAccess::startOp();
  constexpr int kRead = asio::detail::reactor::read_op;
  if (op->size() == 0) { // nothing to read into: done at once, as Asio does for a stream
    (service.*start_op)(impl, kRead, op, continuation, false, /*noop=*/true);
    return;
  }
  if (start == ReadStart::Continue) {
    if (op->perform() != asio::detail::reactor_op::not_done) {
      (service.*start_op)(impl, kRead, op, continuation, false, /*noop=*/true);
      return;
    }
    t_starting = op;
  }
  // Speculative: the reactor tries perform() now unless the socket is marked drained (or, after
  // the recv above, t_starting declines), then waits for the edge without an epoll_ctl.
  (service.*start_op)(impl, kRead, op, continuation, /*is_non_blocking=*/true, /*noop=*/false);
  t_starting = nullptr;
}

} // namespace read_detail
} // namespace meshproof::net
