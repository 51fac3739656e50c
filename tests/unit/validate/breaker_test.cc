#include "meshproof/validate/breaker.h"

#include <gtest/gtest.h>

namespace meshproof::validate {
namespace {

using std::chrono::seconds;

// A client proxy that saw the pod fail `failures` times from t = 1000 ms (every 100 ms), ejected it
// right after the last one, returned it `out_ms` later and then got a 200 from it.
BreakerClient client(const std::string& name, uint32_t failures, int64_t out_ms) {
  BreakerClient c;
  c.name = name;
  c.served.push_back({900, 200}); // before the fault: ignored
  int64_t t = 1000;
  for (uint32_t i = 0; i < failures; ++i) {
    c.served.push_back({t, 503});
    t += 100;
  }
  c.events.push_back({EjectionEvent::Kind::Ejected, t, "consecutive_5xx"});
  c.events.push_back({EjectionEvent::Kind::Unejected, t + out_ms, ""});
  c.served.push_back({t + out_ms + 20, 200});
  c.enforced_ejections = 1;
  return c;
}

BreakerInput breakerInput() {
  BreakerInput in;
  in.host = "service-b";
  in.subset = "v1";
  in.pod = "service-b-v1-0";
  in.consecutive_5xx = 5;
  in.interval = seconds(5);
  in.base_ejection_time = seconds(30);
  in.fault_start_ms = 1000;
  in.fault_end_ms = 3000;
  in.observe_end_ms = 40'000;
  in.clients = {client("service-a-0", 5, 32'000), client("service-a-1", 5, 34'500)};
  return in;
}

TEST(BreakerValidation, PassesWhenEveryClientEjectsAtTheNthAndTakesThePodBack) {
  const BreakerResult r = evaluateBreaker(breakerInput());
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
  ASSERT_EQ(r.clients.size(), 2u);
  EXPECT_EQ(r.clients[0].failures_before_ejection, 5u);
  EXPECT_EQ(*r.clients[1].returned_ms - *r.clients[1].ejected_ms, 34'500);
  // The timeline is in time order and tells the story.
  ASSERT_GE(r.timeline.size(), 10u);
  EXPECT_TRUE(std::is_sorted(r.timeline.begin(), r.timeline.end(),
                             [](const auto& a, const auto& b) { return a.unix_ms < b.unix_ms; }));
  EXPECT_EQ(r.timeline.front().what, "service-b-v1-0 made to answer 503 to every request");
}

TEST(BreakerValidation, NoEjectionAfterManyFailuresFails) { // outlier detection off
  BreakerInput in = breakerInput();
  for (BreakerClient& c : in.clients) {
    c.events.clear();
    c.enforced_ejections = 0;
    for (int i = 0; i < 20; ++i) {
      c.served.push_back({1600 + i * 50, 503});
    }
  }
  const BreakerResult r = evaluateBreaker(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("never ejected (expected at the 5th)"), std::string::npos) << r.reason;
}

TEST(BreakerValidation, EjectingAtAnotherCountFails) {
  BreakerInput in = breakerInput();
  in.clients[1] = client("service-a-1", 4, 32'000);
  const BreakerResult r = evaluateBreaker(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("service-a-1: ejected after 4 consecutive 5xx, expected exactly 5"),
            std::string::npos)
      << r.reason;
}

TEST(BreakerValidation, TrafficWhileEjectedFails) {
  BreakerInput in = breakerInput();
  in.clients[0].served.push_back({10'000, 200});
  std::sort(in.clients[0].served.begin(), in.clients[0].served.end(),
            [](const auto& a, const auto& b) { return a.unix_ms < b.unix_ms; });
  const BreakerResult r = evaluateBreaker(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.reason.find("still sent 1 requests"), std::string::npos) << r.reason;
}

TEST(BreakerValidation, ReturningEarlyOrLateFails) {
  BreakerInput early = breakerInput();
  early.clients[0] = client("service-a-0", 5, 29'000);
  EXPECT_EQ(evaluateBreaker(early).verdict, Verdict::Fail);
  EXPECT_NE(evaluateBreaker(early).reason.find("before baseEjectionTime 30.0 s"),
            std::string::npos);
  BreakerInput late = breakerInput();
  late.clients[0] = client("service-a-0", 5, 37'000);
  late.observe_end_ms = 50'000;
  EXPECT_EQ(evaluateBreaker(late).verdict, Verdict::Fail);
}

TEST(BreakerValidation, NotReturnedFailsOnlyWhenTheReturnWasDue) {
  BreakerInput in = breakerInput();
  in.clients[0].events.pop_back();
  in.clients[0].served.pop_back();
  EXPECT_EQ(evaluateBreaker(in).verdict, Verdict::Fail);
  in.observe_end_ms = 20'000; // before baseEjectionTime + interval
  in.clients[1] = client("service-a-1", 5, 32'000);
  in.clients[1].events.pop_back();
  in.clients[1].served.pop_back();
  EXPECT_EQ(evaluateBreaker(in).verdict, Verdict::Inconclusive) << evaluateBreaker(in).reason;
}

TEST(BreakerValidation, TooFewFailuresIsInconclusive) {
  BreakerInput in = breakerInput();
  in.clients.resize(1);
  in.clients[0].events.clear();
  in.clients[0].served.resize(3);
  EXPECT_EQ(evaluateBreaker(in).verdict, Verdict::Inconclusive);
}

// An ejection-only run (run --quick): nothing is awaited after the hold.
BreakerInput ejectionOnly() {
  BreakerInput in = breakerInput();
  in.check_return = false;
  in.fault_end_ms = 4'500;
  in.observe_end_ms = 4'600;
  for (BreakerClient& c : in.clients) {
    c.events.pop_back(); // no return seen
    c.served.pop_back();
  }
  return in;
}

TEST(BreakerValidation, EjectionOnlyPassesWithoutTheReturn) {
  const BreakerResult r = evaluateBreaker(ejectionOnly());
  EXPECT_EQ(r.verdict, Verdict::Pass) << r.reason;
  EXPECT_NE(r.reason.find("return after baseEjectionTime was not awaited"), std::string::npos)
      << r.reason;
  // The same data with the return checked is only inconclusive: the run ended before it was due.
  BreakerInput full = ejectionOnly();
  full.check_return = true;
  EXPECT_EQ(evaluateBreaker(full).verdict, Verdict::Inconclusive);
}

TEST(BreakerValidation, EjectionOnlyStillFailsOnTrafficWhileEjectedOrAWrongCount) {
  BreakerInput in = ejectionOnly();
  in.clients[0].served.push_back({4'000, 503});
  EXPECT_EQ(evaluateBreaker(in).verdict, Verdict::Fail);
  in = ejectionOnly();
  in.clients[1] = client("service-a-1", 6, 32'000);
  in.clients[1].events.pop_back();
  in.clients[1].served.pop_back();
  EXPECT_EQ(evaluateBreaker(in).verdict, Verdict::Fail);
}

} // namespace
} // namespace meshproof::validate
