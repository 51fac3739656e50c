// The control plane's readiness against a platform that is slow to create its pods (a fake behind
// the platform::Platform seam: start() is accepted, the pods appear only when the test says so).

#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "meshproof/control/control_plane.h"
#include "meshproof/core/clock.h"
#include "meshproof/platform/platform.h"
#include "unit/spec/spec_test_util.h"

namespace meshproof::control {
namespace {

using namespace std::chrono_literals;

// Holds the templates start() was given; pods() lists them only after appear(), each Running and
// ready on an unused port (nothing answers there: the test never sends traffic).
class SlowPlatform : public platform::Platform {
public:
  core::Status start(const std::vector<platform::PodTemplate>& pods) override {
    std::lock_guard lock(mu_);
    templates_ = pods;
    return core::Status::ok();
  }
  std::vector<platform::PodStatus> pods() const override {
    std::lock_guard lock(mu_);
    std::vector<platform::PodStatus> out;
    if (!appeared_) {
      return out;
    }
    for (const platform::PodTemplate& t : templates_) {
      platform::PodStatus s;
      s.name = t.name;
      s.workload = t.workload;
      s.labels = t.labels;
      s.phase = platform::PodPhase::Starting;
      out.push_back(s);
    }
    return out;
  }
  core::Status kill(const std::string& pod, platform::KillMode, core::Duration) override {
    return core::notFound("no pod \"" + pod + "\"");
  }
  void shutdown(core::Duration) override {}
  uint64_t version() const override {
    std::lock_guard lock(mu_);
    return version_;
  }
  uint64_t waitForChange(uint64_t seen, core::Duration timeout) const override {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return version_ != seen; });
    return version_;
  }
  void appear() {
    {
      std::lock_guard lock(mu_);
      appeared_ = true;
      ++version_;
    }
    changed_.notify_all();
  }

private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<platform::PodTemplate> templates_;
  bool appeared_ = false;
  uint64_t version_ = 1;
};

constexpr const char* kSpec = R"(apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: ingress}
spec: {address: 127.0.0.1, port: 0, host: service-a}
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: service-a}
spec:
  app: service-a
  replicas: 2
  latency: {distribution: fixed, fixed: 1ms}
)";

TEST(ControlPlane, IsNotReadyBeforeThePlatformHasEveryPod) {
  const spec::Spec spec = spec::testing::loadCleanOrFail(kSpec);
  SlowPlatform platform;
  ControlPlaneOptions options;
  options.executable = "/bin/false"; // never started: the fake platform runs nothing
  auto plane = ControlPlane::create(spec, options, platform, core::RealClock::instance());
  ASSERT_TRUE(plane) << plane.status().message();
  ASSERT_TRUE((*plane)->start().isOk());
  // The gateway acks at once; with no pod on the platform the mesh must still not be ready.
  const core::Status early = (*plane)->waitReady(1500ms);
  ASSERT_FALSE(early.isOk()) << "ready while the platform had none of the 2 pods";
  EXPECT_NE(early.message().find("0 of 2 pods exist yet"), std::string::npos) << early.message();
  // Once they exist (starting, not ready), the message names them instead.
  platform.appear();
  const core::Status later = (*plane)->waitReady(1500ms);
  ASSERT_FALSE(later.isOk());
  EXPECT_EQ(later.message().find("pods exist yet"), std::string::npos) << later.message();
  EXPECT_NE(later.message().find("service-a-0 is not ready"), std::string::npos) << later.message();
  (*plane)->stop();
}

} // namespace
} // namespace meshproof::control
