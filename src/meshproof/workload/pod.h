#pragma once
// One pod: the demo service (a spec Workload) and its in-process sidecar (the proxy library in
// sidecar mode), as `meshproof workload` runs it under the platform's supervisor.
//
// The app serves HTTP on its port. Each request takes a latency from the Workload's distribution,
// may fail at its error ratio, calls every host in `calls` through the sidecar's outbound listener
// (loopback), and answers with `payloadBytes` of body and these headers:
//   x-meshproof-pod, x-meshproof-version   who served this hop
//   x-meshproof-trace                      the whole chain below, "service-a-0/v1 ->
//   service-b-v2-0/v2
//                                          -> service-c-1/v1" (several calls: "[x, y]")
// A failed call (no answer, or 5xx) makes the request answer with that status (502 with no answer).
// Every inbound request is recorded with reporter="destination" on the sidecar's /metrics.
// Control (on the app port, not routed by the mesh): GET/POST /control/behaviour (behaviour.h);
// GET /control/served: the last 8192 requests served (seq, unixMs, source pod from
// x-meshproof-source-pod, status, attempt), what the breaker validation counts.
//
// Thread-safety: create() and the accessors from any thread; run() blocks until stop(), callable
// from any thread and from SIGINT/SIGTERM.

#include <cstdint>
#include <memory>
#include <string>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/spec/spec.h"

namespace meshproof::workload {

struct PodOptions {
  std::string workload; // the Workload's metadata.name
  std::string pod;      // the pod's name, "service-b-v2-0"
  std::string address = "127.0.0.1";
  uint16_t port = 0; // 0: the Workload's port, or a free one when that is 0
  uint64_t seed = 0; // latency, errors and the sidecar's picks; 0: from the clock
  bool handle_signals = false;
};

class Pod {
public:
  // Binds the app port and the sidecar's outbound and admin ports. Errors (an unknown workload, a
  // port in use) say what failed. `spec` and `clock` must outlive the pod.
  static core::Result<std::unique_ptr<Pod>> create(const spec::Spec& spec, PodOptions options,
                                                   core::Clock& clock);
  ~Pod();

  uint16_t port() const;         // the app (inbound)
  uint16_t adminPort() const;    // the sidecar's admin: /ready, /metrics, /config_dump, PUT /config
  uint16_t outboundPort() const; // the sidecar's outbound listener

  void run();
  void stop();

private:
  struct Impl;
  explicit Pod(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace meshproof::workload
