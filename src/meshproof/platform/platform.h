#pragma once
// Pods: where the mesh's workloads run. `Platform` is the seam (local child processes now,
// Kubernetes later); `LocalPlatform` (local_platform.h) runs each pod as a child process.
//
// A pod is started from a template (name, labels, command). Once its process has printed
//   {"event":"listening","port":P,"admin":A,...}
// on stdout, the platform probes GET /ready on the admin port; the pod is ready while that answers
// 200, and only ready pods belong in endpoint sets. A pod that exits is restarted after a backoff
// (RestartBackoff). Every change bumps version(), so a control plane can wait for changes.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"

namespace meshproof::platform {

struct PodTemplate {
  std::string name;                          // stable across restarts: "service-b-v2-0"
  std::string workload;                      // the Workload it belongs to
  std::map<std::string, std::string> labels; // always app and version
  std::vector<std::string> argv;             // argv[0]: an absolute path to the executable
};

enum class PodPhase {
  Starting, // process running, not listening yet
  Running,  // listening; ready when the probe answers
  Backoff,  // exited; restarts when its backoff ends
  Stopped,  // shut down, not restarted
};
const char* phaseName(PodPhase phase);

struct PodStatus {
  std::string name;
  std::string workload;
  std::map<std::string, std::string> labels;
  PodPhase phase = PodPhase::Starting;
  int pid = 0; // 0 when no process runs
  uint16_t port = 0;
  uint16_t admin_port = 0;
  bool ready = false;
  bool ever_ready = false;     // since the last start() of this pod
  uint32_t readiness_lost = 0; // times a running, ready pod failed its probe and left the endpoints
  uint32_t restarts = 0;
  std::string last_exit;                // "exit status 2", "killed by signal 9"; empty: none yet
  std::vector<std::string> stderr_tail; // the last lines the pod wrote to stderr
};

enum class KillMode {
  Kill,      // SIGKILL: the process dies at once (a node failure, an OOM kill)
  Terminate, // SIGTERM, then SIGKILL after the grace period (a pod deletion)
};

class Platform {
public:
  virtual ~Platform() = default;

  // Starts one pod per template. Names must be unique.
  virtual core::Status start(const std::vector<PodTemplate>& pods) = 0;
  virtual std::vector<PodStatus> pods() const = 0;
  // Kills the pod's process; the platform then restarts it, as a ReplicaSet recreates a pod.
  virtual core::Status kill(const std::string& pod, KillMode mode, core::Duration grace) = 0;
  // Stops every pod (SIGTERM, SIGKILL after `grace`) and restarts none; waits until all are gone.
  virtual void shutdown(core::Duration grace) = 0;
  // Bumped on every change of any pod (phase, pid, ports, readiness).
  virtual uint64_t version() const = 0;
  // Blocks until version() differs from `seen` or `timeout` passes; returns version().
  virtual uint64_t waitForChange(uint64_t seen, core::Duration timeout) const = 0;
};

// Restart delays for a pod that keeps exiting: `initial`, doubling up to `max`; a pod that was
// ready for at least `reset_after` before it exited starts again from `initial` (as kubelet's
// CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min; scaled down for a local mesh).
class RestartBackoff {
public:
  struct Policy {
    core::Duration initial = std::chrono::milliseconds(100);
    core::Duration max = std::chrono::seconds(5);
    core::Duration reset_after = std::chrono::seconds(30);
  };
  RestartBackoff() = default;
  explicit RestartBackoff(Policy policy) : policy_(policy), next_(policy.initial) {}

  // The delay before restarting a pod that exited after being ready for `ready_for`.
  core::Duration onExit(core::Duration ready_for);

private:
  Policy policy_;
  core::Duration next_ = policy_.initial;
};

} // namespace meshproof::platform
