#pragma once
// Pods as child processes on this machine (DESIGN.md §3, platform/).
//
// No orphans, however meshproof ends: each pod is forked by the supervisor thread, which lives
// until shutdown(), and asks the kernel for SIGKILL when that thread dies (PR_SET_PDEATHSIG), so
// a SIGKILL of meshproof takes every pod with it; each pod runs in its own process group, so a
// terminal's Ctrl-C reaches meshproof alone, which then shuts the pods down in order. A pod
// inherits no descriptor but its stdout and stderr pipes.
//
// Thread-safety: every method may be called from any thread.

#include <memory>

#include "meshproof/platform/platform.h"

namespace meshproof::platform {

struct LocalPlatformOptions {
  RestartBackoff::Policy backoff;
  // Kubernetes' restartPolicy: Always (true) or Never (false: a pod that exits stays Stopped; what
  // the recovery validation's positive control runs).
  bool restart = true;
  core::Duration probe_interval = std::chrono::milliseconds(100); // until ready
  core::Duration ready_probe_interval = std::chrono::seconds(1);  // once ready
  // A probe that gets no answer in time fails (Kubernetes' default timeoutSeconds is 1 s too; a
  // shorter one made pods flap unready on a loaded 2-core machine).
  core::Duration probe_timeout = std::chrono::seconds(1);
  uint32_t failure_threshold = 3; // failed probes in a row that make a ready pod unready
  size_t stderr_lines = 20;       // kept per pod
};

class LocalPlatform final : public Platform {
public:
  explicit LocalPlatform(LocalPlatformOptions options = {});
  ~LocalPlatform() override; // shutdown(2 s) if not done

  core::Status start(const std::vector<PodTemplate>& pods) override;
  std::vector<PodStatus> pods() const override;
  core::Status kill(const std::string& pod, KillMode mode, core::Duration grace) override;
  void shutdown(core::Duration grace) override;
  uint64_t version() const override;
  uint64_t waitForChange(uint64_t seen, core::Duration timeout) const override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace meshproof::platform
