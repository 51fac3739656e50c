#pragma once
// The data plane: an HTTP/1.1 proxy that applies a spec's VirtualServices and DestinationRules the
// way Envoy does under Istio — routing, weighted subsets, retries with backoff and per-try
// timeouts, the route timeout, fault injection, outlier detection, connection-pool circuit breakers
// (max connections queue, pending and request overflow is 503 UO with x-envoy-overloaded,
// maxRequestsPerConnection), local replies with Envoy's response flags — and exposes Istio's and
// Envoy's metrics on an admin port.
//
// Two modes. Gateway: serves the spec's meshproof `Gateway` listeners. Sidecar: one outbound
// listener on loopback that routes by the Host header to any host the spec knows (a pod's
// in-process sidecar). Endpoints come from ServiceEntries (a user's own running services) and, for
// Workload hosts, from the control plane, which pushes them at run time (PUT /config). Keep-alive
// on both sides.
//
// Workers, as Envoy's --concurrency: each worker is a thread with its own io_context that serves
// whole downstream connections and keeps its own upstream connection pools (a connection never
// moves between workers). What Envoy shares across a proxy's workers is shared here too: a
// cluster's circuit-breaker counts (max_connections, max_pending_requests, max_requests,
// max_retries; every host the load balancer picks still gets one connection per worker pool, so
// open connections can exceed max_connections by hosts x workers, istio-envoy-semantics.md §2.7),
// its outlier detector (§2.3: counters shared by all workers), the metrics, and the configuration
// the admin API changes, which every request started after the change sees. With one worker
// (the default) everything runs on the thread that calls run(). With more, that thread runs the
// admin port, the outlier ticks and the listeners: it accepts each connection and hands it to the
// worker with the fewest open connections, ties in turn (Envoy's exact_balance connection
// balancer), so load spreads evenly however few clients there are. /metrics has
// envoy_server_concurrency and, per listener, envoy_listener_downstream_cx_total/_active and each
// worker's envoy_listener_worker_<N>_downstream_cx_total/_active (Envoy's names).
//
// Admin port (DESIGN.md §8): GET /ready, /metrics, /config_dump,
// /clusters, /faults, /outlier_events (every ejection, return and overflow of every cluster, with
// ISO 8601 times: what Envoy's outlier event log records); POST /faults
// ({"host", "delay": {"fixedDelay", "percentage", "jitter"}, "abort": {"httpStatus",
// "percentage"}}) sets a fault on every route of a host at run time (what chaos uses; "jitter" is a
// meshproof extension: each delay uniform in fixedDelay +- jitter); DELETE /faults/ID clears it.
// PUT /config ({"generation": N, "endpoints": {"service-b": [{"address", "port", "labels",
// "workload"}]}, "faults": [{"id", "host", "delay", "abort"}]}) replaces the control plane's
// endpoint sets and runtime faults at once; the proxy then runs generation N (/config_dump,
// /ready).
//
// Thread-safety: create() and the accessors from any thread; run() blocks in one thread (and
// starts the other workers' threads) until stop() (callable from any thread: stops at once) or,
// when handle_signals is set, until a SIGINT/SIGTERM has drained the proxy
// (ProxyOptions::drain_timeout); it joins the workers' threads before it returns.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/metrics/istio_metrics.h"
#include "meshproof/net/http1_parser.h"
#include "meshproof/spec/spec.h"

namespace meshproof::proxy {

enum class ProxyMode { Gateway, Sidecar };

struct ProxyOptions {
  ProxyMode mode = ProxyMode::Gateway;
  // Sidecar mode: the outbound listener (loopback; 0: a free port).
  std::string outbound_address = "127.0.0.1";
  uint16_t outbound_port = 0;
  // Run by meshproof's control plane, which pushes the endpoints of Workload hosts (PUT /config).
  // Unset (`meshproof proxy`), only ServiceEntry endpoints exist.
  bool managed = false;
  // When set, GET /ready answers 503 until the first PUT /config: a pod is not ready before its
  // sidecar has configuration, as with istiod.
  bool wait_for_config = false;
  // Loopback by default. Any other address requires admin_token, which every mutating admin call
  // (POST /faults, DELETE /faults/ID) must then send as "Authorization: Bearer <token>".
  std::string admin_address = "127.0.0.1";
  std::string admin_token;
  uint16_t admin_port = 0; // 0: a free port
  uint64_t seed = 0;       // weighted picks and backoff jitter; 0: from the clock
  // Worker threads (Envoy's --concurrency), 1 to kMaxConcurrency. Each worker draws from its own
  // generator (worker 0 from `seed`'s, the others forked from it), so a seeded run with one worker
  // repeats exactly; with more, which worker serves a connection depends on timing.
  uint32_t concurrency = 1;
  bool handle_signals = false;
  // Identity of this proxy in istio_* metrics (source_workload etc. at the gateway).
  std::string workload = "istio-ingressgateway";
  std::string app = "istio-ingressgateway";
  std::string version = "unknown";
  std::string pod; // sidecar: the pod's name, sent upstream as x-meshproof-source-pod

  // Downstream protection. A request that breaks `limits` is answered 400/413/431/501/505 (see
  // net/http1_parser.h) and its connection closed.
  net::http1::Limits limits;
  // A request head must be complete this long after its first byte, else 408 "request header
  // timeout" and close (Envoy's request_headers_timeout; off there by default, meshproof bounds
  // slow-loris clients).
  core::Duration request_headers_timeout = std::chrono::seconds(10);
  // A request body that sends nothing for this long: 408 "stream timeout" and close (Envoy's
  // stream_idle_timeout, default 5 min). Responses a client does not read are cut after it too.
  core::Duration stream_idle_timeout = std::chrono::minutes(5);
  // A keep-alive connection with no request for this long is closed (Envoy's idle_timeout, 1 h).
  core::Duration idle_timeout = std::chrono::hours(1);
  // SIGINT/SIGTERM (handle_signals): listeners close at once (new connections are refused), idle
  // keep-alive connections close, requests in flight finish with "Connection: close"; the proxy
  // stops when the last one is done, or after this long (Istio's terminationDrainDuration, 5 s).
  core::Duration drain_timeout = std::chrono::seconds(5);
};

inline constexpr uint32_t kMaxConcurrency = 128;

struct Listener {
  std::string name; // the Gateway's name
  std::string address;
  uint16_t port;
  std::string host; // where its traffic goes; empty: by the Host header (sidecar outbound)
};

// Checks a runtime fault as POST /faults reads it ({"host", "delay", "abort"}); the error says what
// is wrong. Whether a given proxy routes the host is not checked here.
core::Status validateFault(const std::string& json_text);

class ProxyServer {
public:
  // Builds clusters and routes from `spec` and binds every listener and the admin port. Errors
  // (a port in use, an address that does not parse, a route to a host without endpoints) name the
  // object and say what failed. `spec` and `clock` must outlive the server.
  static core::Result<std::unique_ptr<ProxyServer>>
  create(const spec::Spec& spec, ProxyOptions options, core::Clock& clock);
  ~ProxyServer();

  const std::vector<Listener>& listeners() const;
  uint16_t adminPort() const;
  // The proxy's istio_* families, exposed on its admin /metrics. A workload records its
  // reporter="destination" samples here (thread-safe), so a pod has one metrics endpoint.
  metrics::IstioMetrics& istioMetrics();
  // Every family the admin /metrics exposes; a workload adds its own here (thread-safe).
  metrics::Registry& registry();

  void run();
  void stop();

private:
  struct Impl;
  explicit ProxyServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace meshproof::proxy
