#pragma once
// The retries validation: every pod of the host is made to fail the first k attempts of each
// request (x-envoy-attempt-count <= k); the route's retry policy (R retries on 5xx) must then turn
// every request into a success after exactly k + 1 attempts seen upstream when k <= R, or into the
// pods' failure status after R + 1 attempts when k > R. Counts are exact, so the verdict is PASS or
// FAIL, never a matter of chance.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "meshproof/core/duration.h"

#include "meshproof/core/result.h"
#include "meshproof/validate/split.h"

namespace meshproof::validate {

struct RetriesInput {
  std::string host;
  uint32_t fail_first = 2;  // k
  uint32_t num_retries = 0; // R, from the route (or as expected by the caller)
  unsigned fail_status = 503;
  uint64_t requests_sent = 0;
  std::map<int, uint64_t> client_statuses; // final statuses the client saw (0: no response)
  uint64_t first_attempts = 0;             // at the host's pods
  uint64_t retry_attempts = 0;
};

struct RetriesResult {
  Verdict verdict = Verdict::Fail;
  std::string reason;
  uint64_t attempts_per_request = 0; // expected: min(k, R) + 1
  int expected_status = 200;
  double amplification = 0; // measured upstream attempts per request
};

RetriesResult evaluateRetries(const RetriesInput& input);

// The hanging half: every pod of the host hangs; one request must end with 504 and flag UT after
// exactly R + 1 attempts, each cut by the per-try timeout, so it takes at least (R + 1) x perTry
// and less than the route timeout (Envoy's backoff between tries is at most a few hundred ms).
struct HangInput {
  uint32_t num_retries = 0;
  core::Duration per_try_timeout{};
  std::optional<core::Duration> route_timeout;
  int client_status = 0;
  core::Duration elapsed{};      // the request's latency at the client
  uint64_t per_try_timeouts = 0; // upstream_rq_per_try_timeout at the calling sidecars
  uint64_t ut_responses = 0; // istio_requests_total{response_flags="UT"} at the calling sidecars
};

struct HangResult {
  Verdict verdict = Verdict::Fail;
  std::string reason;
};

HangResult evaluateHang(const HangInput& input);

} // namespace meshproof::validate
