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

namespace meshproof::cli {

struct UpCommandOptions {
  std::vector<std::string> spec_paths;
  bool prometheus = false;
  uint16_t admin_port = 0;
  std::string run_dir = ".meshproof";
  std::string ready_timeout = "60s";
};

int upCommand(const UpCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
