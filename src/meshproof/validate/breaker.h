#pragma once
// The breaker validation (istio-envoy-semantics.md §2): one pod of a subset is made to answer 5xx
// to everything; each client proxy (every sidecar that calls the host: outlier state is per client
// proxy and per subset) must eject it at exactly its N-th consecutive 5xx, send it nothing while it
// is out, and take it back on the first interval tick after baseEjectionTime.
//
// The evidence is two-sided and exact: the failing pod's own log says which client proxy it served
// each failing response to (so "exactly N" is counted where the errors happen, not where they are
// judged), and each client proxy's outlier events say when it ejected and returned the pod. The
// caller serialises traffic (one request in flight in the whole mesh), so no request can be in
// flight to the pod when it is ejected and the count is exact.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/core/duration.h"
#include "meshproof/validate/split.h"

namespace meshproof::validate {

// One request the failing pod served to a client proxy (unix milliseconds, status).
struct ServedRequest {
  int64_t unix_ms = 0;
  unsigned status = 0;
};

// One of a client proxy's outlier events for the failing pod's host in the subset's cluster.
struct EjectionEvent {
  enum class Kind { Ejected, Unejected, Overflow };
  Kind kind = Kind::Ejected;
  int64_t unix_ms = 0;
  std::string reason; // consecutive_5xx, consecutive_gateway_failure, ...
};

struct BreakerClient {
  std::string name;                  // the client proxy's pod ("service-a-0")
  std::vector<ServedRequest> served; // by the failing pod to this client, in order
  std::vector<EjectionEvent> events; // in order
  uint64_t enforced_ejections = 0;   // its ejections_enforced_total for the cluster (metrics)
};

struct BreakerInput {
  std::string host;
  std::string subset;
  std::string pod;              // the pod made to fail
  uint32_t consecutive_5xx = 5; // N: the ejection expected at the N-th consecutive 5xx
  core::Duration interval{};    // outlierDetection.interval
  core::Duration base_ejection_time{};
  // Slack for an interval tick on a loaded machine (the return must come within
  // baseEjectionTime + interval + slack of the ejection).
  core::Duration tick_slack = std::chrono::milliseconds(1500);
  int64_t fault_start_ms = 0; // the pod fails every request from here...
  int64_t fault_end_ms = 0;   // ...to here (then it is healthy again)
  int64_t observe_end_ms = 0; // traffic ran until here
  // false: the return after baseEjectionTime is not part of the check (an ejection-only run);
  // PASS then needs the ejection at exactly N and nothing sent to the pod until observe_end_ms.
  bool check_return = true;
  std::vector<BreakerClient> clients;
};

struct BreakerClientResult {
  std::string name;
  Verdict verdict = Verdict::Inconclusive;
  std::string reason;
  uint64_t failures_before_ejection = 0; // 5xx the pod served this client before its ejection
  std::optional<int64_t> ejected_ms;
  std::optional<int64_t> returned_ms;
  std::optional<int64_t> back_ms; // the first request the pod served this client after its return
  uint64_t served_while_ejected = 0;
};

struct TimelineEntry {
  int64_t unix_ms = 0;
  std::string what;
};

struct BreakerResult {
  Verdict verdict = Verdict::Inconclusive;
  std::string reason;
  std::vector<BreakerClientResult> clients;
  std::vector<TimelineEntry> timeline; // sorted by time
};

BreakerResult evaluateBreaker(const BreakerInput& input);

} // namespace meshproof::validate
