// Retry decisions (istio-envoy-semantics.md §1.4-1.6, §4.1; §6 cases 1-9, 14, 36, 42), with
// policies loaded through the real spec loader so Istio's translation is part of what is tested.

#include "meshproof/proxy/retry_state.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "meshproof/metrics/exposition.h"
#include "unit/spec/spec_test_util.h"

namespace meshproof::proxy {
namespace {

using namespace std::chrono_literals;
using Decision = RetryState::Decision;
using Headers = std::map<std::string, std::string>;

// The retry policy of a route with `retries_yaml` (empty: no retries block).
spec::RetryPolicy policy(const std::string& retries_yaml) {
  std::string text = R"(apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: svc}
spec: {app: svc}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
    - route: [{destination: {host: svc}}]
)";
  if (!retries_yaml.empty()) {
    text += "      retries: " + retries_yaml + "\n";
  }
  const spec::Spec loaded = spec::testing::loadCleanOrFail(text, "retry.yaml");
  return loaded.virtual_services.empty() ? spec::RetryPolicy{}
                                         : loaded.virtual_services[0].http[0].retries;
}

// Feeds the same failing status until the state stops retrying; returns the attempts sent and the
// final decision.
std::pair<uint32_t, Decision> exhaust(RetryState& state, int status) {
  Decision d = Decision::Retry;
  while ((d = state.onResponse(status, {})) == Decision::Retry) {
  }
  return {state.attemptCount(), d};
}

class Retries : public ::testing::Test {
protected:
  core::SeededRandom rng_{1};
  metrics::Registry registry_;
  metrics::EnvoyClusterMetrics envoy_{registry_};
  metrics::ClusterStats& stats_ = envoy_.forCluster("outbound|80||svc");
  double stat(const std::string& name) {
    return metrics::parseExposition(registry_.expose())->sum("envoy_cluster_" + name);
  }
};

TEST_F(Retries, DefaultPolicyRetriesConnectFailuresTwice) { // case 1
  RetryState s(policy(""), {}, rng_, nullptr, &stats_);
  EXPECT_EQ(s.onReset(ResetReason::ConnectFailure), Decision::Retry);
  EXPECT_EQ(s.attemptCount(), 2u); // x-envoy-attempt-count on the retry
  EXPECT_EQ(s.onReset(ResetReason::ConnectFailure), Decision::Retry);
  EXPECT_EQ(s.onReset(ResetReason::ConnectFailure), Decision::LimitExceeded); // 503 UF + URX
  EXPECT_EQ(s.attemptCount(), 3u);
}

TEST_F(Retries, DefaultPolicyDoesNotRetry503) { // case 2 (Istio >= 1.24)
  RetryState s(policy(""), {}, rng_, nullptr, &stats_);
  EXPECT_EQ(s.onResponse(503, {}), Decision::NoRetry);
  EXPECT_EQ(s.attemptCount(), 1u);
}

TEST_F(Retries, AttemptsWithoutRetryOnDoNotRetry5xx) { // case 3
  RetryState s(policy("{attempts: 3}"), {}, rng_, nullptr, &stats_);
  EXPECT_EQ(exhaust(s, 500), (std::pair{1u, Decision::NoRetry}));
}

TEST_F(Retries, RetryOn5xxSendsFourAttemptsThenURX) { // case 4
  RetryState s(policy("{attempts: 3, retryOn: 5xx}"), {}, rng_, nullptr, &stats_);
  EXPECT_EQ(exhaust(s, 500), (std::pair{4u, Decision::LimitExceeded}));
  EXPECT_EQ(stat("upstream_rq_retry"), 3);
  EXPECT_EQ(stat("upstream_rq_retry_limit_exceeded"), 1);
}

TEST_F(Retries, StatusCodeTokens) { // case 5
  RetryState s(policy("{attempts: 2, retryOn: \"503\"}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onResponse(502, {}), Decision::NoRetry);
  EXPECT_EQ(s.onResponse(503, {}), Decision::Retry);
}

TEST_F(Retries, Retriable4xxIsOnly409) { // case 6
  RetryState s(policy("{attempts: 2, retryOn: retriable-4xx}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onResponse(429, {}), Decision::NoRetry);
  EXPECT_EQ(s.onResponse(404, {}), Decision::NoRetry);
  EXPECT_EQ(s.onResponse(409, {}), Decision::Retry);
}

TEST_F(Retries, GatewayError) { // case 7
  RetryState s(policy("{attempts: 9, retryOn: gateway-error}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onResponse(500, {}), Decision::NoRetry);
  for (int code : {502, 503, 504}) {
    EXPECT_EQ(s.onResponse(code, {}), Decision::Retry) << code;
  }
  EXPECT_EQ(s.onReset(ResetReason::PerTryTimeout), Decision::Retry);
}

TEST_F(Retries, PerTryTimeoutIsNotRetriedUnderTheDefaultConditions) { // case 8
  RetryState s(policy("{attempts: 3, perTryTimeout: 1s}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onReset(ResetReason::PerTryTimeout), Decision::NoRetry); // 504 UT after one try
}

TEST_F(Retries, PerTryTimeoutIsRetriedUnder5xx) { // case 9
  RetryState s(policy("{attempts: 3, perTryTimeout: 1s, retryOn: 5xx}"), {}, rng_, nullptr,
               nullptr);
  int retries = 0;
  while (s.onReset(ResetReason::PerTryTimeout) == Decision::Retry) {
    ++retries;
  }
  EXPECT_EQ(retries, 3);
  EXPECT_EQ(s.attemptCount(), 4u);
}

TEST_F(Retries, ResetSemantics) {
  RetryState connect(policy("{attempts: 3, retryOn: connect-failure}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(connect.onReset(ResetReason::RemoteReset), Decision::NoRetry);
  EXPECT_EQ(connect.onReset(ResetReason::PerTryTimeout), Decision::NoRetry);
  EXPECT_EQ(connect.onReset(ResetReason::ConnectTimeout), Decision::Retry);
  RetryState before(policy("{attempts: 3, retryOn: reset-before-request}"), {}, rng_, nullptr,
                    nullptr);
  EXPECT_EQ(before.onReset(ResetReason::RemoteReset), Decision::NoRetry);
  EXPECT_EQ(before.onReset(ResetReason::ResetBeforeRequest), Decision::Retry);
  RetryState reset(policy("{attempts: 3, retryOn: reset}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(reset.onResponse(503, {}), Decision::NoRetry);
  EXPECT_EQ(reset.onReset(ResetReason::RemoteReset), Decision::Retry);
  EXPECT_EQ(reset.onReset(ResetReason::Overflow), Decision::NoRetry); // overflow never retried
}

TEST_F(Retries, GrpcStatusInHeaders) {
  RetryState s(policy("{attempts: 3, retryOn: unavailable}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onResponse(200, {{"grpc-status", "13"}}), Decision::NoRetry);
  EXPECT_EQ(s.onResponse(200, {{"grpc-status", "14"}}), Decision::Retry);
}

TEST_F(Retries, RateLimitedResponsesNeedTheirToken) {
  RetryState s(policy("{attempts: 3, retryOn: 5xx}"), {}, rng_, nullptr, nullptr);
  EXPECT_EQ(s.onResponse(503, {{"x-envoy-ratelimited", "true"}}), Decision::NoRetry);
}

TEST_F(Retries, AttemptsZeroDisablesRetries) {
  RetryState s(policy("{attempts: 0}"), {}, rng_, nullptr, nullptr);
  EXPECT_FALSE(s.enabled());
  EXPECT_EQ(s.onReset(ResetReason::ConnectFailure), Decision::NoRetry);
}

TEST_F(Retries, BackoffBoundsWithTheDefaultBase) { // case 14
  for (int trial = 0; trial < 200; ++trial) {
    RetryState s(policy("{attempts: 6, retryOn: 5xx}"), {}, rng_, nullptr, nullptr);
    const core::Duration bounds[] = {25ms, 50ms, 100ms, 200ms, 250ms, 250ms};
    for (core::Duration bound : bounds) {
      const core::Duration wait = s.backoff();
      ASSERT_GE(wait, 0ms);
      ASSERT_LT(wait, bound);
    }
  }
}

TEST_F(Retries, BackoffUsesTheWholeRange) {
  // Full jitter: over many draws the first wait covers most of [0, 25).
  core::Duration lo = 1s;
  core::Duration hi = 0ms;
  for (int i = 0; i < 500; ++i) {
    RetryState s(policy("{attempts: 1, retryOn: 5xx}"), {}, rng_, nullptr, nullptr);
    const core::Duration w = s.backoff();
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  EXPECT_LE(lo, 1ms);
  EXPECT_GE(hi, 23ms);
}

TEST_F(Retries, BackoffWithAConfiguredBase) { // case 14, backoff: 100ms
  for (int trial = 0; trial < 200; ++trial) {
    RetryState s(policy("{attempts: 8, retryOn: 5xx, backoff: 100ms}"), {}, rng_, nullptr, nullptr);
    ASSERT_LT(s.backoff(), 100ms);
    for (int k = 0; k < 7; ++k) {
      ASSERT_LT(s.backoff(), 1000ms);
    }
  }
}

TEST_F(Retries, RetryBreakerOverflow) { // case 36
  ResourceLimit breaker(1);
  const spec::RetryPolicy p = policy("{attempts: 3, retryOn: 5xx}");
  RetryState first(p, {}, rng_, &breaker, &stats_);
  RetryState second(p, {}, rng_, &breaker, &stats_);
  EXPECT_EQ(first.onResponse(500, {}), Decision::Retry);     // holds the only slot
  EXPECT_EQ(second.onResponse(500, {}), Decision::Overflow); // returns its 5xx with UO
  EXPECT_EQ(stat("upstream_rq_retry_overflow"), 1);
  first.retryFinished();
  RetryState third(p, {}, rng_, &breaker, &stats_);
  EXPECT_EQ(third.onResponse(500, {}), Decision::Retry);
}

TEST_F(Retries, OverrideHeaders) { // case 42 and §4.1
  const spec::RetryPolicy p = policy("{attempts: 3, retryOn: 5xx}");
  RetryState none(p, {{"x-envoy-max-retries", "0"}}, rng_, nullptr, nullptr);
  EXPECT_EQ(none.onResponse(500, {}), Decision::LimitExceeded);
  RetryState more(p, {{"x-envoy-retry-on", "retriable-4xx, 5xx"}}, rng_, nullptr, nullptr);
  EXPECT_EQ(more.onResponse(409, {}), Decision::Retry);
  RetryState codes(policy("{attempts: 3, retryOn: retriable-status-codes}"),
                   {{"x-envoy-retriable-status-codes", "418,429"}}, rng_, nullptr, nullptr);
  EXPECT_EQ(codes.onResponse(429, {}), Decision::Retry);
  // Alone, x-envoy-retry-on enables one retry even where the route disabled retries.
  RetryState alone(policy("{attempts: 0}"), {{"x-envoy-retry-on", "5xx"}}, rng_, nullptr, nullptr);
  EXPECT_EQ(alone.onResponse(500, {}), Decision::Retry);
  EXPECT_EQ(alone.onResponse(500, {}), Decision::LimitExceeded);
}

// The breakers are shared by a proxy's workers: threads racing for the last slot must not both
// take it. Four threads, started together, each take and give back a limit of one 20,000 times; one
// that holds the slot counts itself while it does, and never sees another holder. (A check-then-add
// lets two threads through here many times over on two cores.)
TEST(ResourceLimit, RacingThreadsNeverHoldMoreSlotsThanTheLimit) {
  ResourceLimit limit(1);
  std::atomic<uint64_t> holders{0};
  std::atomic<uint64_t> most{0};
  std::atomic<uint64_t> taken{0};
  std::atomic<int> ready{0};
  constexpr int kThreads = 4;
  constexpr uint64_t kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (uint64_t mine = 0; mine < kEach;) {
        if (!limit.tryAcquire()) {
          continue;
        }
        ++mine;
        taken.fetch_add(1, std::memory_order_relaxed);
        const uint64_t now = holders.fetch_add(1) + 1;
        uint64_t seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        holders.fetch_sub(1);
        limit.release();
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(taken.load(), kThreads * kEach);
  EXPECT_EQ(most.load(), 1U);
  EXPECT_EQ(limit.active(), 0U);
}

} // namespace
} // namespace meshproof::proxy
