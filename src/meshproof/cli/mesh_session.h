#pragma once
// The local mesh as `meshproof up` and the validations run it: a LocalPlatform and a ControlPlane
// (gateway in-process, pods as children), started and awaited until ready; stopped, with every pod,
// when the session is destroyed.

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/control/control_plane.h"
#include "meshproof/core/result.h"
#include "meshproof/platform/local_platform.h"
#include "meshproof/spec/spec.h"

namespace meshproof::cli {

// The spec of a command that runs pods, loaded from paths made absolute (pods read the same
// files). "-" (stdin) is refused: pods cannot read it. Problems are printed to `err` (prefixed
// with `command`); nullopt then.
struct PodSpec {
  std::vector<std::string> paths;
  spec::Spec spec;
};
std::optional<PodSpec> loadPodSpec(const std::vector<std::string>& paths,
                                   const std::string& command, std::ostream& err);

// A table of pods: POD VERSION PID PORT ADMIN READY RESTARTS.
void printPodTable(const std::vector<platform::PodStatus>& pods, std::ostream& out);

struct MeshSessionOptions {
  std::vector<std::string> spec_paths; // PodSpec::paths
  std::string run_dir = ".meshproof";  // file_sd.json goes here
  core::Duration ready_timeout = std::chrono::seconds(60);
  uint16_t admin_port = 0;
  bool handle_signals = false; // SIGINT/SIGTERM stop the control plane
  uint64_t seed = 0;           // every pod's and proxy's randomness; 0: from the clock
  bool restart_pods = true;    // false: restartPolicy Never (a killed pod stays down)
};

class MeshSession {
public:
  // Starts and waits until ready. Errors say why (a port in use, a pod that cannot start with its
  // stderr lines, a timeout naming the pods not ready) and end with the pod table; a session
  // stopped by a signal while starting fails with StatusCode::FailedPrecondition.
  static core::Result<std::unique_ptr<MeshSession>> start(const spec::Spec& spec,
                                                          const MeshSessionOptions& options);
  ~MeshSession();

  control::ControlPlane& plane() { return *plane_; }
  platform::LocalPlatform& platform() { return *platform_; }
  double readySeconds() const { return ready_seconds_; }
  const std::string& fileSdPath() const { return file_sd_; }
  uint16_t ingressPort() const;

  // start(), or nullptr after printing "<command>: the mesh did not come up: <why>" to `err`.
  static std::unique_ptr<MeshSession> startOrSay(const spec::Spec& spec,
                                                 const MeshSessionOptions& options,
                                                 const std::string& command, std::ostream& err);

private:
  MeshSession() = default;
  std::unique_ptr<platform::LocalPlatform> platform_;
  std::unique_ptr<control::ControlPlane> plane_;
  double ready_seconds_ = 0;
  std::string file_sd_;
};

} // namespace meshproof::cli
