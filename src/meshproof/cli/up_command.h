#pragma once
// `meshproof up [-f SPEC] [--admin-port P] [--run-dir DIR] [--ready-timeout D]`: the mesh in the
// foreground. Starts the control plane, the ingress gateway and every Workload's pods (child
// processes, each with its sidecar), waits until all are ready, prints a table (pod, version, pid,
// port, ready) with the ingress URL and the admin URLs, and runs until SIGINT or SIGTERM; then
// stops every pod and exits 0, leaving no child behind. A bad spec, a port in use, or a pod that
// cannot start (reported with its last stderr lines): exit 2. Writes DIR/file_sd.json (Prometheus
// file-based service discovery for the gateway and every pod).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "meshproof/cli/mesh_session.h"
#include "meshproof/core/result.h"
#include "meshproof/prom/prometheus.h"

namespace meshproof::cli {

struct UpCommandOptions {
  std::vector<std::string> spec_paths;
  bool prometheus = false;
  uint16_t admin_port = 0;
  std::string run_dir = ".meshproof";
  std::string ready_timeout = "60s";
};

// The real Prometheus for a running mesh: it scrapes the mesh's file_sd targets every second,
// evaluates the Sprint's lab alerts (written to RUN_DIR/rules/), and is returned once every target
// has been scraped. nullptr when Prometheus is not installed (said on `err`, prefixed with
// `command`: the caller goes on without it); an error when it cannot start or scrape.
core::Result<std::unique_ptr<prom::Prometheus>>
startMeshPrometheus(const spec::Spec& spec, MeshSession& mesh, const std::string& run_dir,
                    const std::string& command, std::ostream& err);

int upCommand(const UpCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
