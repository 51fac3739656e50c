#include "meshproof/workload/behaviour.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace meshproof::workload {
namespace {

using namespace std::chrono_literals;
using Dist = spec::LatencyModel::Distribution;

spec::Workload workload(double error_ratio = 0.0) {
  spec::Workload w;
  w.meta.name = "service-c";
  w.app = "service-c";
  w.error_ratio = error_ratio;
  w.error_status = 500;
  return w;
}

TEST(SampleLatency, FixedIsExact) {
  core::SeededRandom random(1);
  spec::LatencyModel m;
  m.distribution = Dist::Fixed;
  m.fixed = 7ms;
  EXPECT_EQ(sampleLatency(m, random), 7ms);
}

TEST(SampleLatency, UniformStaysInRangeAndCoversIt) {
  core::SeededRandom random(2);
  spec::LatencyModel m;
  m.distribution = Dist::Uniform;
  m.min = 1ms;
  m.max = 4ms;
  core::Duration lo = 1h;
  core::Duration hi = 0ms;
  for (int i = 0; i < 10000; ++i) {
    const core::Duration d = sampleLatency(m, random);
    ASSERT_GE(d, 1ms);
    ASSERT_LE(d, 4ms);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 1100us);
  EXPECT_GT(hi, 3900us);
}

TEST(SampleLatency, LogNormalHasTheConfiguredMedianAndSpread) {
  core::SeededRandom random(3);
  spec::LatencyModel m;
  m.distribution = Dist::LogNormal;
  m.median = 3ms;
  m.sigma = 0.3;
  std::vector<double> ms;
  for (int i = 0; i < 20001; ++i) {
    ms.push_back(std::chrono::duration<double, std::milli>(sampleLatency(m, random)).count());
  }
  std::sort(ms.begin(), ms.end());
  // Median 3 ms; the 84th percentile of a lognormal is median * e^sigma (3 * 1.35 = 4.05 ms).
  EXPECT_NEAR(ms[10000], 3.0, 0.06);
  EXPECT_NEAR(ms[static_cast<size_t>(20000 * 0.8413)], 3.0 * std::exp(0.3), 0.1);
}

TEST(ParseOverride, ReadsEveryFormAndNamesWhatIsWrong) {
  auto count = parseOverride(R"({"fail": {"status": 503, "count": 10}})");
  ASSERT_TRUE(count);
  EXPECT_EQ(count->kind, Override::Kind::FailCount);
  EXPECT_EQ(count->status, 503u);
  EXPECT_EQ(count->count, 10u);
  auto span = parseOverride(R"({"fail": {"status": 500, "for": "1.5s"}})");
  ASSERT_TRUE(span);
  EXPECT_EQ(span->kind, Override::Kind::FailFor);
  EXPECT_EQ(span->duration, 1500ms);
  EXPECT_EQ(parseOverride(R"({"hang": true})")->kind, Override::Kind::Hang);
  EXPECT_EQ(parseOverride(R"({"recover": true})")->kind, Override::Kind::Recover);

  struct Bad {
    const char* body;
    const char* says;
  };
  for (const Bad& b : {Bad{"not json", "body must be one of"},
                       Bad{R"({"fail": {"status": 700, "count": 1}})", "fail.status"},
                       Bad{R"({"fail": {"status": 503}})", "exactly one of count"},
                       Bad{R"({"fail": {"status": 503, "count": 1, "for": "1s"}})", "exactly one"},
                       Bad{R"({"fail": {"status": 503, "count": 0}})", "fail.count"},
                       Bad{R"({"fail": {"status": 503, "for": "soon"}})", "fail.for"},
                       Bad{R"({"hang": false})", "hang must be true"},
                       Bad{R"({"explode": 1})", "unknown override"}}) {
    auto o = parseOverride(b.body);
    ASSERT_FALSE(o) << b.body;
    EXPECT_NE(o.status().message().find(b.says), std::string::npos) << o.status().message();
  }
}

TEST(Behaviour, FailsExactlyTheNextNRequests) {
  core::ManualClock clock;
  core::SeededRandom random(4);
  const spec::Workload w = workload();
  Behaviour b(w, clock, random);
  b.apply(*parseOverride(R"({"fail": {"status": 503, "count": 3}})"));
  for (int i = 0; i < 3; ++i) {
    const Verdict v = b.next();
    EXPECT_EQ(v.kind, Verdict::Kind::Fail);
    EXPECT_EQ(v.status, 503u);
  }
  EXPECT_EQ(b.next().kind, Verdict::Kind::Serve);
  EXPECT_NE(b.describe().find("\"failed\":3"), std::string::npos) << b.describe();
}

TEST(Behaviour, FailsTheFirstAttemptsOfEveryRequest) {
  core::ManualClock clock;
  core::SeededRandom random(8);
  const spec::Workload w = workload();
  Behaviour b(w, clock, random);
  b.apply(*parseOverride(R"({"fail": {"status": 503, "attempts": 2}})"));
  for (int request = 0; request < 3; ++request) {
    EXPECT_EQ(b.next(1).kind, Verdict::Kind::Fail);
    EXPECT_EQ(b.next(2).status, 503u);
    EXPECT_EQ(b.next(3).kind, Verdict::Kind::Serve);
  }
  EXPECT_NE(parseOverride(R"({"fail": {"status": 503, "attempts": 0}})")
                .status()
                .message()
                .find("fail.attempts"),
            std::string::npos);
}

TEST(Behaviour, FailsForADurationOnTheInjectedClock) {
  core::ManualClock clock;
  core::SeededRandom random(5);
  const spec::Workload w = workload();
  Behaviour b(w, clock, random);
  b.apply(*parseOverride(R"({"fail": {"status": 500, "for": "10s"}})"));
  EXPECT_EQ(b.next().kind, Verdict::Kind::Fail);
  clock.advance(9999ms);
  EXPECT_EQ(b.next().kind, Verdict::Kind::Fail);
  clock.advance(1ms);
  EXPECT_EQ(b.next().kind, Verdict::Kind::Serve);
}

TEST(Behaviour, HangUntilRecoverAndRecoverClearsFailures) {
  core::ManualClock clock;
  core::SeededRandom random(6);
  const spec::Workload w = workload();
  Behaviour b(w, clock, random);
  b.apply(*parseOverride(R"({"hang": true})"));
  EXPECT_TRUE(b.hanging());
  EXPECT_EQ(b.next().kind, Verdict::Kind::Hang);
  b.apply(*parseOverride(R"({"recover": true})"));
  EXPECT_FALSE(b.hanging());
  EXPECT_EQ(b.next().kind, Verdict::Kind::Serve);
  b.apply(*parseOverride(R"({"fail": {"status": 503, "count": 100}})"));
  b.apply(*parseOverride(R"({"recover": true})"));
  EXPECT_EQ(b.next().kind, Verdict::Kind::Serve);
}

TEST(Behaviour, ErrorRatioOfTheWorkload) {
  core::ManualClock clock;
  core::SeededRandom random(7);
  const spec::Workload always = workload(1.0);
  const spec::Workload never = workload(0.0);
  const spec::Workload some = workload(0.2);
  Behaviour a(always, clock, random);
  Behaviour n(never, clock, random);
  Behaviour s(some, clock, random);
  int failed = 0;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_EQ(a.next().status, 500u);
    EXPECT_EQ(n.next().kind, Verdict::Kind::Serve);
    failed += s.next().kind == Verdict::Kind::Fail ? 1 : 0;
  }
  // Binomial(10000, 0.2): sd 40; 5 sd either side.
  EXPECT_NEAR(failed, 2000, 200);
}

} // namespace
} // namespace meshproof::workload
