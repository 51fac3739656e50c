#pragma once
// `meshproof workload --workload NAME --pod POD [-f SPEC] [--port P] [--seed N]`: one pod (the demo
// service and its sidecar), as the platform's supervisor starts it; not meant to be run by hand.
// Once listening it prints one JSON line on stdout, which the supervisor reads:
//   {"event":"listening","pod":"service-b-v2-0","port":P,"admin":A,"outbound":O}
// then serves until SIGINT or SIGTERM (exit 0). A bad spec or a port in use: a message on stderr
// and exit 2.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct WorkloadCommandOptions {
  std::vector<std::string> spec_paths;
  std::string workload;
  std::string pod;
  uint16_t port = 0;
  uint64_t seed = 0;
};

int workloadCommand(const WorkloadCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
