// Envoy's outlier detection under Istio, case by case (istio-envoy-semantics.md §6 cases 22-33),
// on a manual clock so every tick is explicit.

#include "meshproof/proxy/outlier_detector.h"

#include <gtest/gtest.h>

#include "meshproof/metrics/exposition.h"

namespace meshproof::proxy {
namespace {

using namespace std::chrono_literals;

spec::OutlierDetection config(uint32_t consecutive_5xx, uint32_t max_percent) {
  spec::OutlierDetection c;
  c.consecutive_5xx_errors = consecutive_5xx;
  c.max_ejection_percent = max_percent;
  return c;
}

class Detector : public ::testing::Test {
protected:
  void make(const spec::OutlierDetection& c, std::vector<std::string> hosts) {
    stats_ = &envoy_.forCluster("outbound|80|v1|svc");
    detector_ = std::make_unique<OutlierDetector>(c, clock_, stats_);
    detector_->setHosts(hosts);
  }
  void fail(const std::string& host, int n, int status = 500) {
    for (int i = 0; i < n; ++i) {
      detector_->reportStatus(host, status);
    }
  }
  // Advances the clock to `t` (since the detector's start), firing every interval tick on the way.
  void advanceTo(core::Duration t) {
    const core::MonoTime target = start_ + t;
    while (detector_->nextTick() <= target) {
      clock_.advance(detector_->nextTick() - clock_.monotonicNow());
      detector_->onIntervalTick();
    }
    clock_.advance(target - clock_.monotonicNow());
  }
  double stat(const std::string& name) {
    auto parsed = metrics::parseExposition(registry_.expose());
    return parsed->sum("envoy_cluster_outlier_detection_" + name);
  }

  core::ManualClock clock_;
  core::MonoTime start_ = clock_.monotonicNow();
  metrics::Registry registry_;
  metrics::EnvoyClusterMetrics envoy_{registry_};
  metrics::ClusterStats* stats_ = nullptr;
  std::unique_ptr<OutlierDetector> detector_;
};

TEST_F(Detector, FifthConsecutive5xxEjectsAtOnce) { // case 22
  make(config(5, 100), {"h1", "h2"});
  fail("h1", 4);
  EXPECT_FALSE(detector_->isEjected("h1"));
  fail("h1", 1);
  EXPECT_TRUE(detector_->isEjected("h1")); // no wait for the interval
  EXPECT_EQ(detector_->availableHosts(), std::vector<std::string>{"h2"});
  EXPECT_EQ(stat("ejections_active"), 1);
  EXPECT_EQ(stat("ejections_enforced_consecutive_5xx"), 1);
  EXPECT_EQ(stat("ejections_detected_consecutive_5xx"), 1);
}

TEST_F(Detector, SuccessResetsTheCount) { // case 23
  make(config(5, 100), {"h1", "h2"});
  fail("h1", 4);
  detector_->reportStatus("h1", 200);
  fail("h1", 4);
  EXPECT_FALSE(detector_->isEjected("h1"));
  fail("h1", 1);
  EXPECT_TRUE(detector_->isEjected("h1"));
}

TEST_F(Detector, FourHundredsAlsoReset) {
  make(config(3, 100), {"h1", "h2"});
  fail("h1", 2);
  detector_->reportStatus("h1", 404);
  fail("h1", 2);
  EXPECT_FALSE(detector_->isEjected("h1"));
}

TEST_F(Detector, GatewayErrorsAndA500) { // case 24
  spec::OutlierDetection c = config(0, 100);
  c.consecutive_gateway_errors = 3;
  make(c, {"h1", "h2"});
  for (int s : {503, 503, 500, 503, 503}) {
    detector_->reportStatus("h1", s);
  }
  EXPECT_FALSE(detector_->isEjected("h1")); // the 500 broke the gateway run
  detector_->reportStatus("h1", 502);
  EXPECT_TRUE(detector_->isEjected("h1"));
  EXPECT_EQ(stat("ejections_enforced_consecutive_gateway_failure"), 1);
}

TEST_F(Detector, Implicit5xxRuleStillApplies) { // case 25
  spec::OutlierDetection c;                     // consecutive5xxErrors unset: Envoy's 5, enforced
  c.consecutive_gateway_errors = 10;
  c.max_ejection_percent = 100;
  make(c, {"h1", "h2"});
  fail("h1", 5, 500);
  EXPECT_TRUE(detector_->isEjected("h1"));
}

TEST_F(Detector, LocalOriginFailuresCountAs5xxWithoutSplit) { // case 26
  make(config(5, 100), {"h1", "h2"});
  for (int i = 0; i < 3; ++i) {
    detector_->reportLocalOrigin("h1", LocalOrigin::ConnectFailure);
  }
  detector_->reportLocalOrigin("h1", LocalOrigin::Timeout);
  EXPECT_FALSE(detector_->isEjected("h1"));
  detector_->reportLocalOrigin("h1", LocalOrigin::Reset);
  EXPECT_TRUE(detector_->isEjected("h1"));
}

TEST_F(Detector, SplitLocalOriginUsesItsOwnCounter) {
  spec::OutlierDetection c = config(5, 100);
  c.split_external_local_origin_errors = true;
  c.consecutive_local_origin_failures = 2;
  make(c, {"h1", "h2"});
  fail("h1", 4); // four real 5xx
  detector_->reportLocalOrigin("h1", LocalOrigin::ConnectFailure);
  EXPECT_FALSE(detector_->isEjected("h1")); // not a 5th 5xx
  detector_->reportLocalOrigin("h1", LocalOrigin::ConnectFailure);
  EXPECT_TRUE(detector_->isEjected("h1"));
  EXPECT_EQ(stat("ejections_enforced_consecutive_local_origin_failure"), 1);
}

TEST_F(Detector, DefaultTenPercentNeverEjectsThreeHosts) { // case 28
  make(config(1, 10), {"h1", "h2", "h3"});
  for (int round = 0; round < 4; ++round) {
    for (const char* h : {"h1", "h2", "h3"}) {
      fail(h, 1);
    }
  }
  EXPECT_EQ(detector_->ejectedCount(), 0u);
  EXPECT_EQ(stat("ejections_overflow"), 12);
  EXPECT_EQ(stat("ejections_detected_consecutive_5xx"), 12);
  EXPECT_EQ(stat("ejections_enforced_total"), 0);
}

struct CapCase {
  uint32_t percent;
  int hosts;
  uint32_t ejected;
};

TEST_F(Detector, StrictCapArithmetic) { // case 29 and §2.4's examples
  for (CapCase c : {CapCase{50, 3, 1}, CapCase{50, 2, 1}, CapCase{50, 4, 2}, CapCase{99, 1, 0},
                    CapCase{100, 1, 1}, CapCase{33, 3, 0}, CapCase{34, 3, 1}}) {
    std::vector<std::string> hosts;
    for (int i = 0; i < c.hosts; ++i) {
      hosts.push_back("h" + std::to_string(i));
    }
    make(config(5, c.percent), hosts);
    for (const auto& h : hosts) {
      fail(h, 5);
    }
    EXPECT_EQ(detector_->ejectedCount(), c.ejected) << c.percent << "% of " << c.hosts << " hosts";
  }
}

TEST_F(Detector, EjectionReturnsOnTheFirstTickAfterItsTime) { // case 30
  spec::OutlierDetection c = config(5, 100);
  c.base_ejection_time = 30s;
  c.interval = 10s;
  make(c, {"h1", "h2"});
  advanceTo(3s);
  fail("h1", 5);
  ASSERT_TRUE(detector_->isEjected("h1"));
  advanceTo(33s);
  EXPECT_TRUE(detector_->isEjected("h1")); // 33 s is not a tick
  advanceTo(39s);
  EXPECT_TRUE(detector_->isEjected("h1"));
  advanceTo(40s);
  EXPECT_FALSE(detector_->isEjected("h1"));
  // Failing again at once: the second ejection lasts at least 60 s.
  fail("h1", 5);
  ASSERT_TRUE(detector_->isEjected("h1"));
  advanceTo(90s);
  EXPECT_TRUE(detector_->isEjected("h1"));
  advanceTo(100s);
  EXPECT_FALSE(detector_->isEjected("h1"));
  const auto events = detector_->events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].ejection_time, 30s);
  EXPECT_EQ(events[2].ejection_time, 60s);
  EXPECT_EQ(events[1].at - start_, 40s);
  EXPECT_EQ(events[3].at - start_, 100s);
}

TEST_F(Detector, EjectionNeverExceedsThreehundredSeconds) {
  spec::OutlierDetection c = config(1, 100);
  c.base_ejection_time = 30s;
  c.interval = 1s;
  make(c, {"h1", "h2"});
  for (int i = 0; i < 20; ++i) {
    fail("h1", 1);
    ASSERT_TRUE(detector_->isEjected("h1"));
    const auto ev = detector_->events().back();
    EXPECT_LE(ev.ejection_time, 300s);
    // Wait it out, then fail again at once so the multiplier has no time to decay.
    const core::Duration back = (clock_.monotonicNow() - start_) + ev.ejection_time;
    advanceTo(back);
    ASSERT_FALSE(detector_->isEjected("h1")) << i;
  }
  EXPECT_EQ(detector_->events()[detector_->events().size() - 2].ejection_time, 300s);
}

TEST_F(Detector, MultiplierDecaysOncePerHealthyInterval) { // case 31
  spec::OutlierDetection c = config(1, 100);
  c.base_ejection_time = 10s;
  c.interval = 10s;
  make(c, {"h1", "h2"});
  for (int i = 0; i < 3; ++i) {
    fail("h1", 1);
    while (detector_->isEjected("h1")) {
      advanceTo(clock_.monotonicNow() - start_ + 10s);
    }
  }
  ASSERT_EQ(detector_->multiplier("h1"), 3u);
  const core::Duration back = clock_.monotonicNow() - start_; // h1 returned at this tick
  advanceTo(back + 10s);
  EXPECT_EQ(detector_->multiplier("h1"), 2u);
  advanceTo(back + 20s);
  EXPECT_EQ(detector_->multiplier("h1"), 1u);
  advanceTo(back + 60s);
  EXPECT_EQ(detector_->multiplier("h1"), 0u);
}

TEST_F(Detector, AllEjectedWithoutPanicLeavesNoHost) { // case 32
  make(config(5, 100), {"h1", "h2"});
  fail("h1", 5);
  fail("h2", 5);
  bool panic = true;
  EXPECT_TRUE(detector_->availableHosts(&panic).empty()); // the proxy answers 503 UH
  EXPECT_FALSE(panic);
}

TEST_F(Detector, PanicBelowMinHealthPercent) { // case 33
  spec::OutlierDetection c = config(5, 100);
  c.min_health_percent = 50;
  make(c, {"h1", "h2", "h3", "h4"});
  fail("h1", 5);
  fail("h2", 5);
  bool panic = true;
  EXPECT_EQ(detector_->availableHosts(&panic).size(), 2u); // exactly 50 % healthy: no panic
  EXPECT_FALSE(panic);
  fail("h3", 5);
  EXPECT_EQ(detector_->availableHosts(&panic).size(), 4u); // 25 % < 50 %: everyone again
  EXPECT_TRUE(panic);
  // An ejected host that still gets traffic in panic mode is not ejected again.
  fail("h1", 5);
  EXPECT_EQ(detector_->events().size(), 3u);
}

TEST_F(Detector, HostSetChangesKeepState) {
  make(config(5, 100), {"h1", "h2"});
  fail("h1", 5);
  detector_->setHosts({"h1", "h2", "h3"});
  EXPECT_TRUE(detector_->isEjected("h1"));
  detector_->setHosts({"h2", "h3"}); // the ejected host left
  EXPECT_EQ(detector_->ejectedCount(), 0u);
  EXPECT_EQ(stat("ejections_active"), 0);
}

TEST_F(Detector, SeparateDetectorsKeepSeparateState) { // cases 40 and 41: one per proxy and subset
  core::ManualClock clock;
  OutlierDetector client1(config(5, 100), clock, nullptr);
  OutlierDetector client2(config(5, 100), clock, nullptr);
  client1.setHosts({"h1", "h2"});
  client2.setHosts({"h1", "h2"});
  for (int i = 0; i < 5; ++i) {
    client1.reportStatus("h1", 503);
  }
  EXPECT_TRUE(client1.isEjected("h1"));
  EXPECT_FALSE(client2.isEjected("h1"));
}

} // namespace
} // namespace meshproof::proxy
