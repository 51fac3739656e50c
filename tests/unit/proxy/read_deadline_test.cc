// ReadDeadline against real loopback sockets and a real io_context: reads are cut at their
// deadline and never before it, and the timer is armed lazily (only for an earlier deadline, or
// again when it fired for a read that began after it was armed).
#include "meshproof/proxy/read_deadline.h"

#include <gtest/gtest.h>

#include "unit/net/run_until.h"

#include <array>
#include <chrono>
#include <optional>

namespace meshproof::proxy {
namespace {

using namespace std::chrono_literals;
namespace asio = net::asio;
using Clock = ReadDeadline::Clock;
using Socket = ReadDeadline::Socket;

// A connected pair of loopback sockets on one io_context.
struct Pair {
  asio::io_context io{1};
  Socket reader{io.get_executor()};
  Socket writer{io.get_executor()};
  Pair() {
    asio::basic_socket_acceptor<net::tcp, ReadDeadline::Executor> acceptor(
        io.get_executor(), net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
  }
};

// One read on `p.reader` bounded by `d`; `done` is set when it completes.
struct PendingRead {
  std::array<char, 64> buf{};
  std::optional<boost::system::error_code> done;
  size_t n = 0;
  void start(Pair& p, ReadDeadline& d, Clock::time_point by) {
    done.reset();
    d.begin(p.reader, by);
    p.reader.async_read_some(asio::buffer(buf), [this](boost::system::error_code ec, size_t k) {
      done = ec;
      n = k;
    });
  }
};

using net::testing::runUntil;

// A read bounded by `by` that data reaches first: it completes without error and is not cut.
::testing::AssertionResult servedInTime(Pair& p, ReadDeadline& d, PendingRead& r,
                                        Clock::time_point by) {
  r.start(p, d, by);
  asio::write(p.writer, asio::buffer("x", 1));
  if (!runUntil(p.io, [&] { return r.done.has_value(); })) {
    return ::testing::AssertionFailure() << "the read did not complete";
  }
  if (*r.done) {
    return ::testing::AssertionFailure() << "the read failed: " << r.done->message();
  }
  if (d.end()) {
    return ::testing::AssertionFailure() << "the deadline says it cut the read";
  }
  return ::testing::AssertionSuccess();
}

// A read that no data reaches, bounded by `limit` from now: it is cut, and not before `limit`.
::testing::AssertionResult cutAtItsDeadline(Pair& p, ReadDeadline& d, PendingRead& r,
                                            Clock::duration limit) {
  const auto begin = Clock::now();
  r.start(p, d, begin + limit);
  if (!runUntil(p.io, [&] { return r.done.has_value(); })) {
    return ::testing::AssertionFailure() << "the read was not cut";
  }
  const auto waited = Clock::now() - begin;
  if (waited < limit) {
    return ::testing::AssertionFailure()
           << "cut after " << std::chrono::duration_cast<std::chrono::microseconds>(waited).count()
           << " us, before its deadline";
  }
  if (*r.done != asio::error::operation_aborted) {
    return ::testing::AssertionFailure() << "the read ended with " << r.done->message();
  }
  if (!d.end()) {
    return ::testing::AssertionFailure() << "the deadline does not say it cut the read";
  }
  return ::testing::AssertionSuccess();
}

TEST(ReadDeadline, CutsAReadThatOutlivesItsDeadlineAndNotBefore) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  EXPECT_TRUE(cutAtItsDeadline(p, d, r, 80ms));
}

TEST(ReadDeadline, AReadThatFinishesInTimeIsNotCut) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  r.start(p, d, Clock::now() + 1h);
  asio::write(p.writer, asio::buffer("ping", 4));
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
  EXPECT_EQ(r.n, 4U);
  EXPECT_FALSE(d.end());
}

TEST(ReadDeadline, LaterDeadlinesDoNotRearmTheTimer) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(servedInTime(p, d, r, Clock::now() + 1h));
  }
  EXPECT_EQ(d.arms(), 1U);
}

TEST(ReadDeadline, AnEarlierDeadlineRearmsAndCutsOnTime) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  ASSERT_TRUE(servedInTime(p, d, r, Clock::now() + 1h));
  EXPECT_TRUE(cutAtItsDeadline(p, d, r, 60ms)); // before the armed hour: must not wait for it
  EXPECT_EQ(d.arms(), 2U);
}

TEST(ReadDeadline, ATimerArmedForAnEarlierReadDoesNotCutALaterOne) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  ASSERT_TRUE(servedInTime(p, d, r, Clock::now() + 30ms));
  // The timer is still armed for the first read's 30 ms; this read has an hour.
  r.start(p, d, Clock::now() + 1h);
  EXPECT_EQ(d.arms(), 1U);
  // The armed wait fires, finds a read with time left and re-arms for its deadline.
  ASSERT_TRUE(runUntil(p.io, [&] { return d.arms() == 2; }));
  EXPECT_FALSE(r.done.has_value());
  asio::write(p.writer, asio::buffer("y", 1));
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
  EXPECT_FALSE(d.end());
}

TEST(ReadDeadline, ALaterReadIsStillCutAtItsOwnDeadline) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  ASSERT_TRUE(servedInTime(p, d, r, Clock::now() + 20ms));
  // Later than the armed 20 ms: no re-arm now, one when it fires.
  EXPECT_TRUE(cutAtItsDeadline(p, d, r, 120ms));
  EXPECT_EQ(d.arms(), 2U);
}

TEST(ReadDeadline, ATimerThatFiresWithNoReadPendingIsArmedAgainByTheNextRead) {
  Pair p;
  ReadDeadline d(p.io.get_executor());
  PendingRead r;
  ASSERT_TRUE(servedInTime(p, d, r, Clock::now() + 10ms));
  ASSERT_TRUE(runUntil(p.io, [&] { return !d.armed(); })); // fired with nothing to cut
  EXPECT_TRUE(cutAtItsDeadline(p, d, r, 50ms));
  EXPECT_EQ(d.arms(), 2U); // the read armed it again (a fire past the deadline does not)
}

TEST(ReadDeadline, OnceGoneItCutsNothing) {
  Pair p;
  PendingRead r;
  {
    ReadDeadline d(p.io.get_executor());
    r.start(p, d, Clock::now() + 20ms);
  } // destroyed with its wait outstanding and the read still pending
  const auto until = Clock::now() + 100ms;
  while (Clock::now() < until && !r.done) {
    p.io.run_one_until(until); // past the 20 ms: nothing may cancel the read
  }
  EXPECT_FALSE(r.done.has_value());
  asio::write(p.writer, asio::buffer("x", 1));
  ASSERT_TRUE(runUntil(p.io, [&] { return r.done.has_value(); }));
  EXPECT_FALSE(*r.done);
}

} // namespace
} // namespace meshproof::proxy
