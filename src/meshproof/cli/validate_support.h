#pragma once
// What the `meshproof validate` checks share: finding a host's pods, reading a pod's sidecar
// metrics, switching a pod's behaviour, and load that runs in the background while a check acts on
// the mesh. Internal to cli/.

#include <atomic>
#include <iosfwd>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshproof/cli/mesh_session.h"
#include "meshproof/cli/validate_command.h"
#include "meshproof/core/result.h"
#include "meshproof/load/generator.h"
#include "meshproof/metrics/exposition.h"
#include "meshproof/platform/platform.h"

namespace meshproof::cli {

// The pods serving `host` (their app label), sorted by name.
std::vector<platform::PodStatus> podsOf(MeshSession& mesh, const std::string& host);

// A pod's sidecar /metrics, parsed.
core::Result<metrics::Exposition> podMetrics(const platform::PodStatus& pod);

// POSTs `behaviour` (workload/behaviour.h) to the pod's /control/behaviour.
core::Status setPodBehaviour(const platform::PodStatus& pod, const std::string& behaviour);

// A verdict record: validation, verdict, reason, host, startTime and endTime (now, ISO 8601 UTC),
// then the check's own fields (`rest`, an object).
nlohmann::json verdictRecord(const std::string& validation, const char* verdict,
                             const std::string& reason, const std::string& host,
                             const std::string& started, const nlohmann::json& rest);

// Load through the mesh's ingress in a thread of its own, until stop().
class BackgroundLoad {
public:
  // Starts at once; `options.target` is set to the ingress.
  BackgroundLoad(MeshSession& mesh, load::LoadOptions options);
  ~BackgroundLoad(); // stop()
  // Stops the load and returns its result (or the generator's error).
  core::Result<load::LoadResult> stop();

private:
  std::atomic<bool> stop_{false};
  std::unique_ptr<core::Result<load::LoadResult>> result_;
  std::thread thread_;
};

// The breaker and recovery checks (breaker_command.cc, recovery_command.cc); exit codes as
// validateCommand's.
int validateBreaker(const spec::Spec& spec, const std::vector<std::string>& paths,
                    const ValidateCommandOptions& options, std::ostream& out, std::ostream& err);
int validateRecovery(const spec::Spec& spec, const std::vector<std::string>& paths,
                     const ValidateCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
