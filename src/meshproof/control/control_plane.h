#pragma once
// The local control plane (what istiod and the kubelet are to a cluster): it holds the spec and the
// runtime overrides (faults), runs the ingress gateway in-process, starts every Workload's pods on
// a Platform, keeps each host's endpoint set to the pods that are ready, and pushes the whole
// configuration to every proxy (the gateway and each pod's sidecar, PUT /config) whenever it
// changes. Each proxy acknowledges the generation it runs.
//
// Admin API (DESIGN.md §8; loopback by default, a bearer token for mutating calls elsewhere):
//   GET /ready                 200 when every pod is ready and every proxy runs the latest
//   generation GET /pods                  pods: name, workload, labels, phase, pid, ports, ready,
//   restarts,
//                              last exit, generation acknowledged, last stderr lines
//   POST /pods/NAME/kill       {"signal": "KILL"|"TERM", "grace": "5s"} (default KILL); the pod is
//                              restarted by the platform
//   POST /pods/NAME/behaviour  forwarded to the pod's /control/behaviour (workload/behaviour.h)
//   GET|POST /faults, DELETE /faults/ID   runtime faults ({"host", "delay", "abort"}) for every
//   proxy GET /config_dump           generation, endpoint sets, faults, each proxy's acknowledged
//   generation
//
// A Prometheus file_sd file (when a path is given) lists the gateway and every pod's metrics
// endpoint with labels pod, app, version; it is rewritten as pods restart on new ports.
//
// Thread-safety: create(), start(), waitReady(), stop() and the accessors from any thread; the
// control plane runs its own threads (API and pushes; the gateway).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/platform/platform.h"
#include "meshproof/proxy/proxy_server.h"
#include "meshproof/spec/spec.h"

namespace meshproof::control {

struct ControlPlaneOptions {
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 0; // 0: a free port
  std::string admin_token; // required when admin_address is not loopback
  // How pods are started: `executable workload --workload W --pod P [-f path]... --seed N`.
  std::string executable;
  std::vector<std::string> spec_paths; // absolute; empty: the embedded default spec
  std::string file_sd_path;            // empty: no Prometheus file_sd file
  uint64_t seed = 0;                   // 0: from the clock
  bool handle_signals = false;         // SIGINT/SIGTERM call stop()
};

class ControlPlane {
public:
  // Builds the gateway (binding its listeners) and the admin API. Errors name what failed (a port
  // in use, a Gateway address). `spec`, `platform` and `clock` must outlive the control plane.
  static core::Result<std::unique_ptr<ControlPlane>> create(const spec::Spec& spec,
                                                            ControlPlaneOptions options,
                                                            platform::Platform& platform,
                                                            core::Clock& clock);
  ~ControlPlane(); // stop(), then waits for its threads

  // Starts the API, the gateway and every Workload's replicas.
  core::Status start();
  // Waits until ready (see GET /ready). Fails early, naming the pod and its last stderr lines, when
  // a pod has exited `crash_limit` times without ever becoming ready; fails at `timeout` naming the
  // pods that are not ready; fails when stop() is called meanwhile.
  core::Status waitReady(core::Duration timeout, uint32_t crash_limit = 3);
  // Blocks until stop().
  void wait();
  void stop();
  bool stopped() const;

  uint16_t adminPort() const;
  uint16_t gatewayAdminPort() const;
  const std::vector<proxy::Listener>& gatewayListeners() const;

private:
  struct Impl;
  explicit ControlPlane(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace meshproof::control
