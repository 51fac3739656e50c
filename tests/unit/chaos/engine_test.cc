// The chaos engine against a fake mesh on a ManualClock: the gate, rollback on every path, abort on
// consecutive breaches, interruption, and seeded pod selection.
#include "meshproof/chaos/engine.h"

#include <limits>

#include <gtest/gtest.h>

#include "meshproof/chaos/probe.h"

namespace meshproof::chaos {
namespace {

using namespace std::chrono_literals;

class FakeMesh : public ChaosTarget {
public:
  explicit FakeMesh(core::ManualClock& clock) : clock_(clock) {
    for (const char* name : {"service-b-v1-0", "service-b-v1-1", "service-b-v2-0", "service-c-0"}) {
      platform::PodStatus p;
      p.name = name;
      p.labels = {{"app", std::string(name).substr(0, 9)},
                  {"version", std::string(name).find("v2") != std::string::npos ? "v2" : "v1"}};
      p.ready = true;
      pods_.push_back(p);
    }
  }
  core::Result<std::string> addLatency(const std::string& host, core::Duration, core::Duration,
                                       double) override {
    if (fail_add) {
      return core::unavailable("control plane down");
    }
    faults.push_back(host);
    return std::string("fault-1");
  }
  core::Status removeFault(const std::string& id) override {
    removed.push_back(id);
    faults.clear();
    return core::Status::ok();
  }
  std::vector<platform::PodStatus> pods() override {
    // A killed pod comes back (restarted, ready) half a second later.
    for (auto& p : pods_) {
      if (!p.ready && clock_.monotonicNow() >= back_at) {
        p.ready = true;
        ++p.restarts;
      }
    }
    return pods_;
  }
  core::Status killPod(const std::string& pod, platform::KillMode, core::Duration) override {
    killed.push_back(pod);
    for (auto& p : pods_) {
      if (p.name == pod) {
        p.ready = false;
      }
    }
    back_at = clock_.monotonicNow() + (restart ? 500ms : 1000h);
    return core::Status::ok();
  }
  core::Result<SteadyState> probe() override {
    ++probes;
    SteadyState s{100, 100, 10, std::nullopt};
    if (!faults.empty()) {
      s.p95_ms = fault_p95;
    }
    if (probes <= bad_first_probes) {
      s.success_percent = 50;
    }
    s.prometheus = prometheus;
    return s;
  }
  bool sleep(core::Duration d) override {
    clock_.advance(d);
    if (interrupt_after_sleeps > 0 && ++sleeps >= interrupt_after_sleeps) {
      return false;
    }
    return true;
  }

  std::vector<std::string> faults, removed, killed;
  bool fail_add = false;
  bool restart = true;
  double fault_p95 = 210;
  int probes = 0;
  int bad_first_probes = 0;
  int sleeps = 0;
  int interrupt_after_sleeps = 0;
  std::optional<nlohmann::json> prometheus;

private:
  core::ManualClock& clock_;
  std::vector<platform::PodStatus> pods_;
  core::MonoTime back_at{};
};

spec::ChaosExperiment latency() {
  spec::ChaosExperiment e;
  e.name = "latency-service-b";
  e.type = spec::ChaosExperiment::Type::Latency;
  e.target = "service-b";
  e.fixed_delay = 200ms;
  e.duration = 5s;
  return e;
}

spec::ChaosExperiment kill() {
  spec::ChaosExperiment e;
  e.name = "kill";
  e.type = spec::ChaosExperiment::Type::PodKill;
  e.target = "service-b";
  e.duration = 2s;
  return e;
}

TEST(ChaosEngine, LatencyExperimentCompletesAndRollsBack) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "completed") << j.dump(2);
  EXPECT_EQ(j["deviated"], false);
  EXPECT_EQ(j["steadyStates"]["during"].size(), 5u);
  EXPECT_EQ(j["steadyStates"]["during"][0]["p95Ms"], 210.0);
  EXPECT_EQ(mesh.removed, std::vector<std::string>{"fault-1"});
  EXPECT_EQ(j["rollbacks"][0]["action"], "remove-fault");
  EXPECT_EQ(j["run"][0]["output"]["host"], "service-b");
}

TEST(ChaosEngine, WhatPrometheusSawIsRecordedBesideEachProbeButNotJudged) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  // A lagging Prometheus that still shows failures: the proxies' exact counters decide.
  mesh.prometheus = nlohmann::json{{"window", "2s"}, {"successPercent", 40.0}, {"p95Ms", 900.0}};
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "completed") << j.dump(2);
  EXPECT_EQ(j["steadyStates"]["before"]["prometheus"]["successPercent"], 40.0);
  EXPECT_EQ(j["steadyStates"]["during"][0]["prometheus"]["p95Ms"], 900.0);
  EXPECT_EQ(j["steadyStates"]["during"][0]["met"], true);
  // Without a Prometheus the probes have no such field.
  FakeMesh plain(clock);
  EXPECT_FALSE(
      runExperiment(latency(), plain, {}, clock)["steadyStates"]["before"].contains("prometheus"));
}

TEST(ChaosEngine, NoSteadyStateBeforeMeansNothingIsInjected) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  mesh.bad_first_probes = 2;
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_TRUE(mesh.faults.empty());
  EXPECT_TRUE(j["run"].empty());
  EXPECT_TRUE(j["rollbacks"].empty());
  EXPECT_NE(j["reason"].get<std::string>().find("nothing was injected"), std::string::npos);
}

TEST(ChaosEngine, ConsecutiveBreachesAbortAndStillRollBack) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  mesh.fault_p95 = 900; // above the 500 ms hypothesis
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "aborted");
  EXPECT_EQ(j["steadyStates"]["during"].size(), 3u);
  EXPECT_EQ(mesh.removed.size(), 1u);
  EXPECT_TRUE(mesh.faults.empty());
}

TEST(ChaosEngine, InterruptionRollsBackAndSaysSo) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  mesh.interrupt_after_sleeps = 3; // before, then two probes of the method
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "interrupted");
  EXPECT_EQ(mesh.removed, std::vector<std::string>{"fault-1"});
  EXPECT_TRUE(mesh.faults.empty());
}

TEST(ChaosEngine, AFailedActionIsJournaledAndFails) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  mesh.fail_add = true;
  const auto j = runExperiment(latency(), mesh, {}, clock);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["run"][0]["status"], "failed");
  EXPECT_EQ(j["run"][0]["error"], "control plane down");
}

TEST(ChaosEngine, KilledPodsAreAwaitedAndAPodThatStaysDownFails) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  EngineOptions o;
  o.seed = 6;
  auto j = runExperiment(kill(), mesh, o, clock);
  EXPECT_EQ(j["status"], "completed") << j.dump(2);
  ASSERT_EQ(mesh.killed.size(), 1u);
  EXPECT_EQ(j["selectedPods"][0], mesh.killed[0]);
  EXPECT_EQ(j["rollbacks"][0]["action"], "await-pod-ready");
  EXPECT_EQ(j["rollbacks"][0]["status"], "succeeded");
  FakeMesh down(clock);
  down.restart = false;
  o.recovery_timeout = 3s;
  j = runExperiment(kill(), down, o, clock);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["rollbacks"][0]["status"], "failed");
}

TEST(ChaosEngine, TheSameSeedSelectsTheSamePodsInTheSameOrder) {
  core::ManualClock clock;
  FakeMesh mesh(clock);
  spec::ChaosExperiment e = kill();
  e.mode = "fixed";
  e.value = 3;
  const auto pods = mesh.pods();
  const auto a = selectPods(e, pods, 42);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(selectPods(e, pods, 42), a);
  bool some_seed_differs = false;
  for (uint64_t seed = 1; seed < 20; ++seed) {
    some_seed_differs = some_seed_differs || selectPods(e, pods, seed) != a;
  }
  EXPECT_TRUE(some_seed_differs);
  e.version = "v2";
  EXPECT_EQ(selectPods(e, pods, 42), std::vector<std::string>{"service-b-v2-0"});
  e.version.clear();
  e.mode = "percent";
  e.value = 50;
  EXPECT_EQ(selectPods(e, pods, 42).size(), 2u); // ceil(50 % of 3)
}

} // namespace
} // namespace meshproof::chaos

namespace meshproof::chaos {
namespace {

TEST(ChaosProbe, HistogramQuantileInterpolatesAsPrometheusDoes) {
  const double inf = std::numeric_limits<double>::infinity();
  // 50 requests <= 100 ms, 50 more <= 250 ms: the 95th is 45 of 50 into (100, 250].
  EXPECT_DOUBLE_EQ(histogramQuantile(0.95, {{100, 50}, {250, 100}, {inf, 100}}), 235.0);
  EXPECT_DOUBLE_EQ(histogramQuantile(0.5, {{100, 50}, {250, 100}, {inf, 100}}), 100.0);
  // In +Inf: the highest finite bound, as Prometheus answers.
  EXPECT_DOUBLE_EQ(histogramQuantile(0.95, {{100, 10}, {inf, 100}}), 100.0);
  EXPECT_DOUBLE_EQ(histogramQuantile(0.95, {}), 0.0);
  EXPECT_DOUBLE_EQ(histogramQuantile(0.95, {{100, 0}, {inf, 0}}), 0.0);
}

TEST(ChaosProbe, TheWindowIsTheDifferenceOfTwoReadings) {
  auto text = [](int ok, int failed, int fast, int slow) {
    return "istio_requests_total{reporter=\"source\",response_code=\"200\"} " + std::to_string(ok) +
           "\nistio_requests_total{reporter=\"source\",response_code=\"503\"} " +
           std::to_string(failed) +
           "\nistio_request_duration_milliseconds_bucket{reporter=\"source\",le=\"10\"} " +
           std::to_string(fast) +
           "\nistio_request_duration_milliseconds_bucket{reporter=\"source\",le=\"250\"} " +
           std::to_string(fast + slow) +
           "\nistio_request_duration_milliseconds_bucket{reporter=\"source\",le=\"+Inf\"} " +
           std::to_string(fast + slow) + "\n";
  };
  const auto a = proxyCounters(*metrics::parseExposition(text(100, 0, 100, 0)));
  const auto b = proxyCounters(*metrics::parseExposition(text(190, 10, 100, 100)));
  const SteadyState s = steadyStateBetween(a, b);
  EXPECT_EQ(s.requests, 100u);
  EXPECT_DOUBLE_EQ(s.success_percent, 90.0);
  EXPECT_DOUBLE_EQ(s.p95_ms, 10 + 240 * 0.95); // every request of the window was slow
}

} // namespace
} // namespace meshproof::chaos
