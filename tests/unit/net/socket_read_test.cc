// net::asyncReadSome against real loopback sockets and a real io_context: a keep-alive exchange
// costs no recv that finds nothing (and does without the kernel's hint, as Asio's own reads), an
// end of stream or a reset that came with the last bytes is still seen, a stream read with every
// read trusting the drained mark arrives whole, and cancelling, closing or destroying the
// io_context ends a waiting read.
#include "meshproof/net/socket_read.h"

#include <gtest/gtest.h>

#include "unit/net/run_until.h"
#include <poll.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace meshproof::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;

// Our socket (read with asyncReadSome) and its peer, connected over loopback; the io_context is
// used from this thread only, as the proxy's is.
struct Pair {
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Socket ours{io.get_executor()};
  tcp::socket peer{io};
  explicit Pair(bool hint = true) {
    asio::basic_socket_acceptor<tcp, Executor> acceptor(
        io.get_executor(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
    if (hint) {
      EXPECT_TRUE(enableDrainHint(ours.native_handle()));
    }
  }
  // Waits (up to 10 s) until our socket reports `events` (POLLRDHUP: the peer's FIN is here;
  // POLLERR: its reset), so that what the test sends has all arrived before the read.
  bool arrived(short events) {
    pollfd p{ours.native_handle(), events, 0};
    return ::poll(&p, 1, 10000) == 1 && (p.revents & events) != 0;
  }
};

// One asyncReadSome on `p.ours`; `done` is set when it completes.
struct PendingRead {
  std::array<char, 256> buf{};
  std::optional<boost::system::error_code> done;
  size_t n = 0;
  void start(Pair& p, ReadStart start, size_t size = 256) {
    done.reset();
    n = 0;
    asyncReadSome(p.ours, asio::buffer(buf.data(), size), start,
                  [this](boost::system::error_code ec, size_t k) {
                    done = ec;
                    n = k;
                  });
  }
  std::string text() const { return {buf.data(), n}; }
};

using net::testing::runUntil;

// Starts a read on `p.ours` that waits (its first try finds nothing), so that what comes next
// reaches it through one edge of epoll, as on a connection that waits for a request.
void startWaiting(Pair& p, PendingRead& r, ReadStart start = ReadStart::AfterWrite) {
  r.start(p, start);
  p.io.restart();
  p.io.poll();
  ASSERT_FALSE(r.done.has_value());
}

// `rounds` request/response exchanges, each read started before its bytes are sent (so a recv
// tried at once could only find nothing); returns this thread's ReadStats accrued.
ReadStats keepAlive(Pair& p, int rounds) {
  const ReadStats before = readStats();
  for (int i = 0; i < rounds; ++i) {
    PendingRead r;
    startWaiting(p, r);
    const std::string request = "request " + std::to_string(i);
    asio::write(p.peer, asio::buffer(request));
    EXPECT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); })) << "round " << i;
    EXPECT_FALSE(r.done.value_or(asio::error::timed_out)) << "round " << i;
    EXPECT_EQ(r.text(), request);
    asio::write(p.ours, asio::buffer("response", 8));
    std::array<char, 8> got{};
    asio::read(p.peer, asio::buffer(got));
  }
  const ReadStats after = readStats();
  return {after.recvs - before.recvs, after.would_block - before.would_block};
}

TEST(SocketRead, AKeepAliveExchangeCostsNoRecvThatFindsNothing) {
  Pair p;
  const ReadStats s = keepAlive(p, 50);
  // One recv per message; the socket's very first read may still try one at once.
  EXPECT_LE(s.would_block, 1u);
  EXPECT_LE(s.recvs, 51u);
}

TEST(SocketRead, WithoutTheKernelsHintEachReadFirstFindsNothingAsAsiosOwn) {
  // The control for the test above: the counter does see the recvs that find nothing, and
  // without the hint every read tries one before it waits.
  Pair p(/*hint=*/false);
  const ReadStats s = keepAlive(p, 50);
  EXPECT_EQ(s.would_block, 50u);
  EXPECT_EQ(s.recvs, 100u);
}

TEST(SocketRead, AnEndOfStreamThatCameWithTheLastBytesEndsTheNextRead) {
  Pair p;
  PendingRead r;
  startWaiting(p, r);
  asio::write(p.peer, asio::buffer("bye", 3));
  p.peer.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(p.arrived(POLLRDHUP)); // both before the reactor looks: one edge for the two
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
  EXPECT_EQ(r.text(), "bye");
  // A short read, but the hint said a FIN waits: the next read must not wait for an edge.
  r.start(p, ReadStart::AfterWrite);
  ASSERT_TRUE(runUntil(
      p.io, [&] { return r.done.has_value(); }, 2s))
      << "the read hung";
  EXPECT_EQ(*r.done, asio::error::eof);
}

// With a read waiting, the peer sends `bytes`, then resets the connection (SO_LINGER 0); both
// are here, as one edge, on return.
void sendThenReset(Pair& p, PendingRead& r, std::string_view bytes) {
  startWaiting(p, r);
  asio::write(p.peer, asio::buffer(bytes.data(), bytes.size()));
  p.peer.set_option(asio::socket_base::linger(true, 0));
  p.peer.close();
  ASSERT_TRUE(p.arrived(POLLERR));
}

TEST(SocketRead, AResetThatCameWithTheLastBytesEndsAContinueRead) {
  Pair p;
  PendingRead r;
  sendThenReset(p, r, "part of a message");
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
  EXPECT_EQ(r.text(), "part of a message");
  // The queue is empty now and marked drained, and the reset raised no edge of its own: a read
  // that trusts the mark waits (why a read inside a message must not), until cancelled.
  r.start(p, ReadStart::AfterWrite);
  EXPECT_FALSE(runUntil(
      p.io, [&] { return r.done.has_value(); }, 300ms))
      << "the read did not wait: the premise of this test no longer holds";
  p.ours.cancel();
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  r.start(p, ReadStart::Continue);
  ASSERT_TRUE(runUntil(
      p.io, [&] { return r.done.has_value(); }, 2s))
      << "the read hung";
  EXPECT_EQ(*r.done, asio::error::connection_reset);
}

TEST(SocketRead, AResetThatCameWithTheLastBytesFailsTheNextWrite) {
  // What ReadStart::AfterWrite relies on: the write it follows cannot succeed after such a reset.
  Pair p;
  PendingRead r;
  sendThenReset(p, r, "a whole response");
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_EQ(r.text(), "a whole response");
  boost::system::error_code ec;
  p.ours.write_some(asio::buffer("next request", 12), ec);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      << ec.message();
}

TEST(SocketRead, AStreamReadWithEveryReadTrustingTheDrainedMarkArrivesWhole) {
  // Many short reads mark the socket drained while the sender goes on: no later bytes may be
  // left waiting for an edge that already passed.
  Pair p;
  std::string sent(size_t{4} << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) {
    sent[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  std::thread sender([&] {
    for (size_t at = 0; at < sent.size(); at += 1000) { // many small writes
      asio::write(p.peer, asio::buffer(sent.data() + at, std::min<size_t>(1000, sent.size() - at)));
    }
    p.peer.shutdown(tcp::socket::shutdown_send);
  });
  std::string got;
  PendingRead r;
  for (;;) {
    r.start(p, ReadStart::AfterWrite);
    if (!runUntil(p.io, [&] { return r.done.has_value(); })) {
      ADD_FAILURE() << "a read hung after " << got.size() << " bytes";
      break;
    }
    if (*r.done) {
      EXPECT_EQ(*r.done, asio::error::eof);
      break;
    }
    got.append(r.text());
  }
  sender.join();
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
}

TEST(SocketRead, CancellingEndsAWaitingRead) {
  Pair p;
  PendingRead r;
  startWaiting(p, r);
  p.ours.cancel();
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_EQ(*r.done, asio::error::operation_aborted);
  // The socket still reads afterwards.
  r.start(p, ReadStart::Continue);
  asio::write(p.peer, asio::buffer("after", 5));
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_EQ(r.text(), "after");
}

TEST(SocketRead, AContinueReadThatWaitsMakesOneRecvBeforeItsEdge) {
  // Its own recv finds nothing; the reactor's speculative try inside start_op must not repeat it.
  Pair p;
  const ReadStats before = readStats();
  PendingRead r;
  startWaiting(p, r, ReadStart::Continue);
  asio::write(p.peer, asio::buffer("late", 4));
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_EQ(r.text(), "late");
  EXPECT_EQ(readStats().recvs - before.recvs, 2u);
  EXPECT_EQ(readStats().would_block - before.would_block, 1u);
}

TEST(SocketRead, ClosingEndsAWaitingRead) {
  Pair p;
  PendingRead r;
  startWaiting(p, r);
  p.ours.close();
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_EQ(*r.done, asio::error::operation_aborted);
}

TEST(SocketRead, AReadStillWaitingWhenItsIoContextGoesIsDestroyedUncalled) {
  // The io_context's shutdown frees the operation without an upcall (the owner-less
  // completion); its handler, and what it holds, are destroyed (ASan/LSan would see a leak).
  auto held = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = held;
  bool called = false;
  {
    Pair p;
    std::array<char, 16> buf{};
    asyncReadSome(
        p.ours, asio::buffer(buf), ReadStart::AfterWrite,
        [&called, h = std::move(held)](boost::system::error_code, size_t) { called = true; });
    p.io.poll();
  }
  EXPECT_FALSE(called);
  EXPECT_TRUE(watch.expired());
}

TEST(SocketRead, AnEmptyBufferCompletesAtOnceWithNothing) {
  Pair p;
  PendingRead r;
  r.start(p, ReadStart::Continue, 0);
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
  EXPECT_EQ(r.n, 0u);
}

} // namespace
} // namespace meshproof::net
