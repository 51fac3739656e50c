#pragma once
// The validated, immutable model of a meshproof spec: Istio's ServiceEntry, VirtualService and
// DestinationRule as Istio defines them, plus meshproof's Workload, Gateway and Sprint kinds.
//
// Produced only by spec::load() (loader.h); every field already carries its default, and defaults
// of fields that are Istio's are Istio's (istio-envoy-semantics.md §1-2), named below as constants.
// Subsystems never see YAML. Every object keeps the source location of the document it came from
// so later stages (lint, validations) can point at the file and line.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/duration.h"

namespace meshproof::spec {

using core::Duration;
using namespace std::chrono_literals;

// 1-based line and column, as editors show them. line 0 means "unknown".
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

// Identifies an object for messages: "VirtualService/service-b".
struct ObjectMeta {
  std::string kind;
  std::string api_version;
  std::string name;
  std::string name_space = "default";
  std::map<std::string, std::string> labels;
  SourceLocation location;      // where the document starts
  SourceLocation name_location; // metadata.name

  std::string ref() const { return kind + "/" + name; }
};

// ---------------------------------------------------------------------------------------------
// Istio defaults (istio-envoy-semantics.md; sources named there).
// ---------------------------------------------------------------------------------------------
// §1.4: no `retries` block -> num_retries 2 on
// connect-failure,refused-stream,unavailable,cancelled, retriable-status-codes with no codes (Istio
// >= 1.24 dropped 503), previous_hosts on.
inline constexpr uint32_t kDefaultNumRetries = 2;
inline constexpr const char* kDefaultRetryOn =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
// §1.6: Envoy's backoff base (max is 10x base).
inline constexpr Duration kDefaultRetryBackoffBase = 25ms;
// §2.2 outlier detection.
inline constexpr uint32_t kDefaultConsecutive5xx = 5;
inline constexpr Duration kDefaultOutlierInterval = 10s;
inline constexpr Duration kDefaultBaseEjectionTime = 30s;
inline constexpr uint32_t kDefaultMaxEjectionPercent = 10;
inline constexpr uint32_t kDefaultMinHealthPercent = 0;
inline constexpr uint32_t kDefaultConsecutiveLocalOriginFailures = 5;
// §2.6 connection pool: Istio writes 2^32-1 for every unset limit.
inline constexpr uint64_t kUnlimited = 4294967295ULL;
inline constexpr Duration kDefaultConnectTimeout = 10s;
inline constexpr Duration kDefaultIdleTimeout = 1h;

// ---------------------------------------------------------------------------------------------
// VirtualService
// ---------------------------------------------------------------------------------------------
struct StringMatch {
  enum class Kind { Exact, Prefix, Regex };
  Kind kind = Kind::Exact;
  std::string value;
};

struct HeaderMatch {
  std::string name;                 // lower case (validated)
  std::optional<StringMatch> match; // nullopt: presence only
};

struct HttpMatchRequest {
  std::string name;
  std::optional<StringMatch> uri;
  std::optional<StringMatch> method;
  std::optional<StringMatch> authority;
  std::optional<StringMatch> scheme;
  std::vector<HeaderMatch> headers;
  std::vector<HeaderMatch> without_headers;
  std::map<std::string, StringMatch> query_params;
  bool ignore_uri_case = false;
  std::optional<uint32_t> port;
  std::vector<std::string> gateways;
  SourceLocation location;
};

struct Destination {
  std::string host;
  std::string subset; // empty: the whole service
  std::optional<uint32_t> port;
};

struct RouteDestination {
  Destination destination;
  int32_t weight = 0;
  bool weight_set = false; // written in the spec (lint: weight on a single destination)
  SourceLocation location;
  SourceLocation weight_location;
};

// One token of retryOn after Istio's translation (RETRY.go parseRetryOn).
enum class RetryOn : uint32_t {
  Http5xx = 1u << 0,
  GatewayError = 1u << 1,
  Reset = 1u << 2,
  ResetBeforeRequest = 1u << 3,
  ConnectFailure = 1u << 4,
  Retriable4xx = 1u << 5,
  RefusedStream = 1u << 6,
  RetriableStatusCodes = 1u << 7,
  RetriableHeaders = 1u << 8,
  EnvoyRateLimited = 1u << 9,
  Http3PostConnectFailure = 1u << 10,
  GrpcCancelled = 1u << 11,
  GrpcDeadlineExceeded = 1u << 12,
  GrpcInternal = 1u << 13,
  GrpcResourceExhausted = 1u << 14,
  GrpcUnavailable = 1u << 15,
};

// The retryOn token called `name` ("5xx", "gateway-error", "reset", ...), or nullopt when Istio
// does not support it (AVAL.go supportedRetryOnPolicies). Status-code tokens are not names.
std::optional<RetryOn> retryOnToken(std::string_view name);

// The Envoy retry policy a route ends up with. `enabled == false` means no retry policy at all
// (`attempts: 0`). When the VirtualService has no `retries` block, `from_default` is true and the
// fields hold Istio's built-in default policy.
struct RetryPolicy {
  bool enabled = true;
  bool from_default = true;
  uint32_t num_retries = kDefaultNumRetries;
  uint32_t retry_on = 0;                        // bitwise OR of RetryOn
  std::vector<uint32_t> retriable_status_codes; // from integer retryOn tokens
  bool retry_on_set = false;                    // `retryOn` written in the spec
  std::optional<Duration> per_try_timeout;
  bool retry_remote_localities = false;
  bool retry_ignore_previous_hosts = true; // previous_hosts predicate
  Duration backoff_base = kDefaultRetryBackoffBase;
  SourceLocation location;

  bool has(RetryOn token) const { return (retry_on & static_cast<uint32_t>(token)) != 0; }
  // True when some retryOn condition re-sends a request the upstream may already have acted on:
  // a response status (5xx, gateway-error, retriable-4xx, status codes) or a reset after sending.
  bool retriesAfterSend() const;
  // True when a 5xx response from the upstream is retried (compounds along a call chain).
  bool retries5xx() const;
};

// Istio's policy for a route whose VirtualService has no `retries` block (and for a host with no
// VirtualService at all): kDefaultNumRetries retries on kDefaultRetryOn.
RetryPolicy defaultRetryPolicy();

struct FaultDelay {
  Duration fixed_delay{};
  double percentage = 0; // [0, 100]; unset means 0: no request is delayed (§1.7)
  // meshproof's runtime faults only (chaos): each delay uniform in fixed_delay +- jitter (never
  // below 0). Istio's HTTPFaultInjection.Delay has no jitter; YAML cannot set it.
  Duration jitter{};
};

struct FaultAbort {
  uint32_t http_status = 0; // 0 when grpc_status is used
  std::string grpc_status;
  double percentage = 0; // unset means 0
};

struct FaultInjection {
  std::optional<FaultDelay> delay;
  std::optional<FaultAbort> abort;
  SourceLocation location;
};

struct HttpRoute {
  std::string name;
  std::vector<HttpMatchRequest> match; // empty: matches everything
  std::vector<RouteDestination> route;
  std::optional<Duration> timeout; // nullopt: no timeout (Istio writes 0)
  SourceLocation timeout_location;
  RetryPolicy retries;
  std::optional<FaultInjection> fault;
  SourceLocation location;
  std::string path; // "spec.http[0]" for messages
};

struct VirtualService {
  ObjectMeta meta;
  std::vector<std::string> hosts;
  std::vector<std::string> gateways;
  std::vector<HttpRoute> http;
};

// ---------------------------------------------------------------------------------------------
// DestinationRule
// ---------------------------------------------------------------------------------------------
struct OutlierDetection {
  uint32_t consecutive_5xx_errors = kDefaultConsecutive5xx; // 0 disables
  uint32_t consecutive_gateway_errors = 0;                  // 0: off (enforcing 0)
  Duration interval = kDefaultOutlierInterval;
  Duration base_ejection_time = kDefaultBaseEjectionTime;
  uint32_t max_ejection_percent = kDefaultMaxEjectionPercent;
  uint32_t min_health_percent = kDefaultMinHealthPercent; // 0: panic mode off
  bool split_external_local_origin_errors = false;
  uint32_t consecutive_local_origin_failures = kDefaultConsecutiveLocalOriginFailures;
  SourceLocation location;
  SourceLocation max_ejection_percent_location;
};

struct ConnectionPool {
  uint64_t max_connections = kUnlimited;
  Duration connect_timeout = kDefaultConnectTimeout;
  uint64_t http1_max_pending_requests = kUnlimited;
  uint64_t http2_max_requests = kUnlimited;
  uint64_t max_requests_per_connection = 0; // 0: unlimited
  uint64_t max_retries = kUnlimited;
  Duration idle_timeout = kDefaultIdleTimeout;
  SourceLocation location;
};

enum class LoadBalancer { RoundRobin, LeastRequest, Random, Passthrough, ConsistentHash };

struct TrafficPolicy {
  std::optional<ConnectionPool> connection_pool;
  std::optional<OutlierDetection> outlier_detection;
  LoadBalancer load_balancer = LoadBalancer::LeastRequest; // Envoy/Istio default is LEAST_REQUEST
  std::string path; // "spec.trafficPolicy" or "spec.subsets[1].trafficPolicy"
};

struct Subset {
  std::string name;
  std::map<std::string, std::string> labels;
  // The subset's effective policy: its own blocks replace the top-level ones block by block
  // (DRM.go MergeTrafficPolicy), already merged here.
  TrafficPolicy traffic_policy;
  SourceLocation location;
};

struct DestinationRule {
  ObjectMeta meta;
  std::string host;
  TrafficPolicy traffic_policy;
  std::vector<Subset> subsets;

  const Subset* findSubset(const std::string& name) const;
};

// ---------------------------------------------------------------------------------------------
// ServiceEntry
// ---------------------------------------------------------------------------------------------
struct ServicePort {
  uint32_t number = 0;
  std::string name;
  std::string protocol; // HTTP, HTTP2, TCP, ... (upper case as written)
  uint32_t target_port = 0;
};

struct WorkloadEntry {
  std::string address;
  std::map<std::string, uint32_t> ports; // port name -> number
  std::map<std::string, std::string> labels;
  uint32_t weight = 0;
  SourceLocation location;
};

struct ServiceEntry {
  ObjectMeta meta;
  std::vector<std::string> hosts;
  std::vector<std::string> addresses;
  std::vector<ServicePort> ports;
  std::string location = "MESH_EXTERNAL";
  std::string resolution = "NONE";
  std::vector<WorkloadEntry> endpoints;
};

// ---------------------------------------------------------------------------------------------
// meshproof kinds (meshproof.dev/v1alpha1)
// ---------------------------------------------------------------------------------------------
struct LatencyModel {
  enum class Distribution { Fixed, Uniform, LogNormal };
  Distribution distribution = Distribution::Fixed;
  Duration fixed = 1ms;  // fixed
  Duration min = 0ms;    // uniform
  Duration max = 0ms;    // uniform
  Duration median = 0ms; // lognormal
  double sigma = 0.0;    // lognormal shape
};

// A call the workload makes to another host for every request it serves.
struct Call {
  std::string host;
  std::string method = "GET";
  std::string path = "/";
  SourceLocation location;
};

struct Workload {
  ObjectMeta meta;
  std::string app;
  std::string version = "v1";
  uint32_t replicas = 1;
  uint32_t port = 0;                         // 0: a free port chosen at start
  std::map<std::string, std::string> labels; // pod labels; always contains app and version
  LatencyModel latency;
  double error_ratio = 0.0; // [0, 1]
  uint32_t error_status = 500;
  uint32_t payload_bytes = 64;
  std::vector<Call> calls;
};

inline constexpr uint32_t kMaxReplicas = 100;

struct Gateway {
  ObjectMeta meta;
  std::string address = "127.0.0.1";
  uint32_t port = 0; // 0: a free port chosen at start
  std::string host;  // where ingress traffic goes
  SourceLocation host_location;
};

struct SplitValidation {
  std::string host;
  double alpha = 0.01;
  double power = 0.99;
  // The smallest deviation to detect, in percentage points of the canary's share (90/10 vs 85/15 =
  // 5).
  double min_deviation_percent = 5.0;
};

struct RetriesValidation {
  std::string host;
  uint32_t fail_first = 2; // the pod fails its first k attempts
};

struct BreakerValidation {
  std::string host;
  std::string subset;
};

struct RecoveryValidation {
  std::string host;
  double success_rate_percent = 99.9;
  Duration window = 10s;
  Duration max_recovery = 60s;
};

struct ChaosExperiment {
  enum class Type { Latency, PodKill };
  std::string name;
  Type type = Type::Latency;
  std::string target; // host
  // latency
  Duration fixed_delay = 200ms;
  Duration jitter = 0ms;
  double percentage = 100.0;
  Duration duration = 30s;
  // pod kill
  std::string version;      // empty: any version
  std::string mode = "one"; // one | fixed | percent
  uint32_t value = 1;       // count for fixed, percent for percent
  std::string signal = "SIGKILL";
  Duration grace = 0s;
  SourceLocation location;
};

struct Alerts {
  Duration latency_p95 = 500ms;
  double error_rate_percent = 5.0;
  double min_throughput_rps = 1.0;
  bool breaker = true;
};

struct Dashboard {
  std::string service;
  std::vector<std::string> panels; // p95, throughput, successRate, ...
};

struct Sprint {
  ObjectMeta meta;
  std::string name; // evidence/<name>/
  std::optional<SplitValidation> split;
  std::optional<RetriesValidation> retries;
  std::optional<BreakerValidation> breaker;
  std::optional<RecoveryValidation> recovery;
  Duration chaos_interval = 4h;
  std::string chaos_cron; // five-field cron (UTC); when set it replaces chaos_interval
  std::string chaos_concurrency = "Forbid"; // Forbid | Allow
  uint64_t chaos_seed = 0;
  std::vector<ChaosExperiment> experiments;
  Duration report_interval = 12h;
  Alerts alerts;
  std::vector<Dashboard> dashboards;
};

// ---------------------------------------------------------------------------------------------
// The whole spec
// ---------------------------------------------------------------------------------------------
struct Spec {
  std::vector<ServiceEntry> service_entries;
  std::vector<VirtualService> virtual_services;
  std::vector<DestinationRule> destination_rules;
  std::vector<Workload> workloads;
  std::vector<Gateway> gateways;
  std::optional<Sprint> sprint;

  // The DestinationRule for `host` (short or fully qualified), or nullptr.
  const DestinationRule* destinationRuleFor(const std::string& host) const;
  // VirtualServices listing `host`, in load order.
  std::vector<const VirtualService*> virtualServicesFor(const std::string& host) const;
  // Workloads whose pods serve `host` (app label == the host's short name).
  std::vector<const Workload*> workloadsFor(const std::string& host) const;
  // ServiceEntries listing `host`.
  std::vector<const ServiceEntry*> serviceEntriesFor(const std::string& host) const;
  // Number of endpoints of `host` whose labels include `selector` (all of them when empty):
  // Workload replicas plus ServiceEntry endpoints.
  uint32_t endpointCount(const std::string& host,
                         const std::map<std::string, std::string>& selector) const;
};

// "service-b.default.svc.cluster.local" -> "service-b"; "service-b" -> "service-b".
std::string shortHost(const std::string& host);
// True when both names refer to the same service (equal, or equal short names where one is short
// or a cluster-local name).
bool sameHost(const std::string& a, const std::string& b);

} // namespace meshproof::spec
