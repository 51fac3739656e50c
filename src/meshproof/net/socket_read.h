#pragma once
// Reads from a TCP socket that know when they have drained it, so that the read after a message
// waits for epoll's edge instead of first trying a recv that returns EAGAIN.
//
// Why: Boost 1.74's epoll reactor (edge-triggered) tries a read at once whenever the socket has
// had an event since it was last found drained, and it finds a stream socket drained only at a
// read of zero bytes. A keep-alive exchange (a request in, a response out, then wait for the next
// request) thus costs, on each side, a recv that finds nothing per message: two of the proxy's
// system calls per request. nginx does not pay it: it marks a socket not ready after a short read
// (ngx_unix_recv, with EPOLLRDHUP telling it of a pending FIN).
//
// Here a read is a recvmsg with the kernel's TCP_INQ hint (tcp(7): the bytes left in the receive
// queue, and 1 when the queue is empty but a FIN came). A read that leaves nothing and no FIN
// marks the socket drained inside the reactor's perform step, atomically with the recv, as a read
// of zero bytes does in Asio itself: bytes that come later raise a new edge, which sets the
// reactor's flag again and performs the waiting read.
//
// The hint cannot tell of a reset (RST) that came with the last bytes read; it raises no new edge
// either. So each read says how it starts:
//   ReadStart::Continue    the next part of a message, or any read off the hot path: it always
//                          tries a recv first (as Asio's async_read_some), so a pending reset or
//                          end of stream is seen at once;
//   ReadStart::AfterWrite  the first read after writing to the socket (or its first read at all):
//                          it trusts the drained mark. A reset that came before that write failed
//                          the write (the kernel's socket error), so nothing is missed.
//
// Requirements: the socket's io_context runs on one thread (the proxy's, with
// BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO); the socket is TCP; enableDrainHint was called once on
// it, else every read behaves as Asio's own (no drained mark, an EAGAIN per message).
// Cancellation (socket.cancel(), close) completes a waiting read with operation_aborted, as for
// Asio's reads.
//
// This reaches into Asio's reactor (boost::asio::detail), which is why it is pinned to Boost 1.74
// below: the contract used (start_op's speculative try, perform_io's handling of
// done_and_exhausted, the reactor_op protocol) must be re-read before moving to another Boost.
// Include only from .cc files (Asio).

#include <cstddef>
#include <cstdint>
#include <type_traits>

// net/asio.h first (its <utility> fix), then Asio's detail headers the operation is made of.
// clang-format off
#include "meshproof/net/asio.h"
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactive_socket_service.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/version.hpp>
// clang-format on

static_assert(BOOST_VERSION == 107400,
              "net/socket_read.h relies on Boost 1.74's epoll reactor; re-check its contract");
#if !defined(BOOST_ASIO_HAS_EPOLL)
#error "net/socket_read.h needs Asio's epoll reactor"
#endif

namespace meshproof::net {

enum class ReadStart {
  Continue,   // always try a recv first
  AfterWrite, // trust the drained mark: a write went out since the last read (or none was made)
};

// Asks the kernel for the TCP_INQ hint on a connected (or accepted) TCP socket. Returns false if
// the kernel refused (then reads behave as Asio's).
bool enableDrainHint(int native_socket);

// This thread's counts of the recvs that asyncReadSome made, and of those that found nothing
// (EAGAIN): what the drained mark saves is observable (tests, benchmarks).
struct ReadStats {
  uint64_t recvs = 0;
  uint64_t would_block = 0;
};
ReadStats readStats();

namespace read_detail {

// The recv part of the operation (no template parameter, so its code lives in the .cc).
class RecvOpBase : public asio::detail::reactor_op {
public:
  RecvOpBase(int fd, asio::mutable_buffer buffer, func_type on_complete)
      : reactor_op(boost::system::error_code(), &RecvOpBase::recv, on_complete), fd_(fd),
        data_(buffer.data()), size_(buffer.size()) {}
  size_t size() const { return size_; }

private:
  // One recvmsg: done with the bytes (done_and_exhausted when the hint says the queue is empty and
  // no FIN waits), done with eof or an error, not_done on EAGAIN.
  static status recv(reactor_op* base);
  int fd_;
  void* data_;
  size_t size_;
};

// The handler part, after Asio's own reactive_socket_recv_op: the memory goes back before the
// handler runs, and the handler runs through its associated executor.
template <typename Handler, typename IoExecutor>
class RecvOp : public RecvOpBase {
public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(int fd, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : RecvOpBase(fd, buffer, &RecvOp::finish), handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static void finish(void* owner, asio::detail::operation* base,
                     const boost::system::error_code& /*ec*/, size_t /*bytes*/) {
    auto* o = static_cast<RecvOp*>(base);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    asio::detail::binder2<Handler, boost::system::error_code, size_t> call(o->handler_, o->ec_,
                                                                           o->bytes_transferred_);
    p.h = asio::detail::addressof(call.handler_);
    p.reset();
    if (owner != nullptr) { // null: the io_context is being destroyed, no upcall
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      w.complete(call, call.handler_);
    }
  }

private:
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

using Service = asio::detail::reactive_socket_service<tcp>;

// Starts `op` on the socket: see ReadStart.
void launch(Service& service, Service::implementation_type& impl, RecvOpBase* op, bool continuation,
            ReadStart start);

// The socket's Asio implementation (a protected member): a pointer to member formed through a
// derived class is the one lawful way to it.
template <typename Socket>
struct SocketAccess : Socket {
  static auto& impl(Socket& socket) { return socket.*(&SocketAccess::impl_); }
};

} // namespace read_detail

// Reads what `socket` has into `buffer` (at most its size), as socket.async_read_some does, with
// the drained mark described above. Completes with (error_code, bytes): eof at the end of the
// stream, operation_aborted when cancelled.
template <typename Socket, typename Token>
auto asyncReadSome(Socket& socket, asio::mutable_buffer buffer, ReadStart start, Token&& token) {
  static_assert(std::is_same_v<typename Socket::protocol_type, tcp>, "TCP sockets only");
  return asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
      [&socket, buffer, start](auto&& handler) {
        using Handler = std::decay_t<decltype(handler)>;
        using Op = read_detail::RecvOp<Handler, typename Socket::executor_type>;
        auto& io = read_detail::SocketAccess<Socket>::impl(socket);
        const bool continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
        typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler),
                              nullptr};
        p.p = new (p.v) Op(io.get_implementation().socket_, buffer, handler, socket.get_executor());
        read_detail::RecvOpBase* op = p.p;
        p.v = nullptr;
        p.p = nullptr;
        read_detail::launch(io.get_service(), io.get_implementation(), op, continuation, start);
      },
      token);
}

} // namespace meshproof::net
