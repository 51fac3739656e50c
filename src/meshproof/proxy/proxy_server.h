#pragma once
// The data plane: an HTTP/1.1 proxy that applies a spec's VirtualServices and DestinationRules the
// way Envoy does under Istio — routing, weighted subsets, retries with backoff and per-try
// timeouts, the route timeout, fault injection, outlier detection, local replies with Envoy's
// response flags — and exposes Istio's and Envoy's metrics on an admin port.
//
// This first version serves the spec's meshproof `Gateway` listeners and forwards to ServiceEntry
// endpoints (a user's own running services), on one worker thread with keep-alive on both sides.
// Admin port (DESIGN.md §8): GET /ready, /metrics, /config_dump, /clusters, /faults; POST /faults
// ({"host", "delay": {"fixedDelay", "percentage"}, "abort": {"httpStatus", "percentage"}}) sets a
// fault on every route of a host at run time (what chaos uses); DELETE /faults/ID clears it.
//
// Thread-safety: create() and the accessors from any thread; run() blocks in one thread until
// stop() (callable from any thread, and from SIGINT/SIGTERM when handle_signals is set).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/spec/spec.h"

namespace meshproof::proxy {

struct ProxyOptions {
  // Loopback by default. Any other address requires admin_token, which every mutating admin call
  // (POST /faults, DELETE /faults/ID) must then send as "Authorization: Bearer <token>".
  std::string admin_address = "127.0.0.1";
  std::string admin_token;
  uint16_t admin_port = 0; // 0: a free port
  uint64_t seed = 0;       // weighted picks and backoff jitter; 0: from the clock
  bool handle_signals = false;
  // Identity of this proxy in istio_* metrics (source_workload etc. at the gateway).
  std::string workload = "istio-ingressgateway";
  std::string app = "istio-ingressgateway";
  std::string version = "unknown";
};

struct Listener {
  std::string name; // the Gateway's name
  std::string address;
  uint16_t port;
  std::string host; // where its traffic goes
};

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

  void run();
  void stop();

private:
  struct Impl;
  explicit ProxyServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace meshproof::proxy
