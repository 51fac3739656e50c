#include "meshproof/platform/platform.h"

#include <gtest/gtest.h>

namespace meshproof::platform {
namespace {

using namespace std::chrono_literals;

TEST(RestartBackoff, DoublesFrom100msUpTo5s) {
  RestartBackoff b(RestartBackoff::Policy{});
  std::vector<core::Duration> got;
  for (int i = 0; i < 9; ++i) {
    got.push_back(b.onExit(0s));
  }
  const std::vector<core::Duration> want{100ms,  200ms,  400ms,  800ms, 1600ms,
                                         3200ms, 5000ms, 5000ms, 5000ms};
  EXPECT_EQ(got, want);
}

TEST(RestartBackoff, ResetsAfterThirtySecondsReady) {
  RestartBackoff b(RestartBackoff::Policy{});
  for (int i = 0; i < 5; ++i) {
    b.onExit(1s);
  }
  EXPECT_EQ(b.onExit(29s), 3200ms); // not long enough: keeps doubling
  EXPECT_EQ(b.onExit(30s), 100ms);  // ready 30 s: starts over
  EXPECT_EQ(b.onExit(0s), 200ms);
}

TEST(PhaseName, ReadsAsKubernetes) {
  EXPECT_STREQ(phaseName(PodPhase::Backoff), "CrashLoopBackOff");
  EXPECT_STREQ(phaseName(PodPhase::Running), "Running");
}

} // namespace
} // namespace meshproof::platform
