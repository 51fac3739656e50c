#pragma once
// The retry decision for one request, as Envoy's router makes it for Istio's policies
// (istio-envoy-semantics.md §1.4-1.6, §4.1):
//  - which outcomes retryOn covers (status classes, status codes, resets, connect failures, gRPC
//    statuses in headers; overflow is never retried);
//  - the order of checks on a retriable outcome: limit reached -> URX; else the retry circuit
//    breaker -> UO when full; else retry after a full-jitter backoff (base 25 ms, max 10 x base);
//  - the x-envoy-retry-on / x-envoy-max-retries / x-envoy-retriable-status-codes request headers,
//    which the caller must strip before forwarding.
// The caller sends attempts, measures timeouts and owns the retry breaker slot between a Retry
// decision and the end of that retried attempt.
//
// Thread-safety: a RetryState belongs to one request; ResourceLimit is shared and thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "meshproof/core/duration.h"
#include "meshproof/core/random.h"
#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/spec/spec.h"

namespace meshproof::proxy {

// Takes one of `max` slots counted by `count`; false when every slot is taken. Compare-and-swap,
// so threads racing for the last slot cannot both take it (Envoy's circuit-breaker checks are
// approximate under concurrency; the limit is what its documentation promises).
inline bool tryTakeSlot(std::atomic<uint64_t>& count, uint64_t max) {
  uint64_t now = count.load(std::memory_order_relaxed);
  do {
    if (now >= max) {
      return false;
    }
  } while (!count.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

// A cluster-wide concurrency limit (Envoy's circuit-breaker thresholds: max_retries here;
// max_pending_requests, max_requests and max_connections use the same shape).
class ResourceLimit {
public:
  explicit ResourceLimit(uint64_t max) : max_(max) {}
  // Takes a slot if one is free (tryTakeSlot).
  bool tryAcquire() { return tryTakeSlot(active_, max_); }
  void release();
  uint64_t active() const { return active_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_; }

private:
  const uint64_t max_;
  std::atomic<uint64_t> active_{0};
};

// How an attempt ended when it ended without response headers.
enum class ResetReason {
  ConnectFailure,     // refused, unreachable (local or remote connection failure)
  ConnectTimeout,     // the connect timeout fired
  ResetBeforeRequest, // the connection broke before any request byte was sent
  RemoteReset,        // the upstream reset or closed after the request was sent
  PerTryTimeout,      // the per-try timeout fired (Envoy resets the stream locally)
  Overflow,           // a circuit breaker refused the attempt
};

class RetryState {
public:
  enum class Decision {
    NoRetry,       // the outcome is not retriable: return it as it is
    Retry,         // wait backoff(), then send another attempt (a retry-breaker slot is held)
    LimitExceeded, // retriable but no retries left: return it with flag URX
    Overflow,      // retriable but the retry breaker is full: return it with flag UO
  };

  // `headers` are the downstream request's; the retry override headers are read (and left for the
  // caller to strip). `breaker` and `stats` may be null.
  RetryState(const spec::RetryPolicy& policy, const std::map<std::string, std::string>& headers,
             core::Random& random, ResourceLimit* breaker, metrics::ClusterStats* stats);
  ~RetryState() { retryFinished(); }
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  // After response headers with `status` (and `headers` for grpc-status / x-envoy-ratelimited).
  Decision onResponse(int status, const std::map<std::string, std::string>& headers);
  // After an attempt ended without response headers.
  Decision onReset(ResetReason reason);

  // The wait before the retry just decided (full jitter: uniform in [0, interval), interval 25, 50,
  // 100, 200, then 250 ms with the default base).
  core::Duration backoff();

  // Call when a retried attempt finished (frees its retry-breaker slot).
  void retryFinished();

  // Attempts so far, for x-envoy-attempt-count (1 on the first attempt).
  uint32_t attemptCount() const { return attempts_; }
  // Retries left.
  uint32_t retriesLeft() const { return retries_left_; }
  bool enabled() const { return enabled_; }

  // True when `status` would be retried by this policy (ignoring the limit and the breaker).
  bool wouldRetryStatus(int status, const std::map<std::string, std::string>& headers) const;
  bool wouldRetryReset(ResetReason reason) const;

private:
  Decision decide(bool retriable);

  bool enabled_;
  uint32_t retry_on_;
  std::vector<uint32_t> codes_;
  uint32_t retries_left_;
  uint32_t attempts_ = 1;
  core::Duration backoff_base_;
  core::Duration next_interval_;
  core::Random& random_;
  ResourceLimit* breaker_;
  bool holding_slot_ = false;
  metrics::ClusterStats* stats_;
};

// Parses a comma-separated list of retryOn tokens as the x-envoy-retry-on header carries them
// (spaces trimmed); unknown tokens are ignored, as Envoy does for headers.
uint32_t parseRetryOnHeader(const std::string& value);

} // namespace meshproof::proxy
