#include "meshproof/cli/workload_command.h"

#include <ostream>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/core/clock.h"
#include "meshproof/workload/pod.h"

namespace meshproof::cli {

int workloadCommand(const WorkloadCommandOptions& options, std::ostream& out, std::ostream& err) {
  std::optional<spec::Spec> spec = loadSpecOrReport(options.spec_paths, err);
  if (!spec) {
    return kExitUsage;
  }
  workload::PodOptions po;
  po.workload = options.workload;
  po.pod = options.pod.empty() ? options.workload + "-0" : options.pod;
  po.port = options.port;
  po.seed = options.seed;
  po.handle_signals = true;
  auto pod = workload::Pod::create(*spec, po, core::RealClock::instance());
  if (!pod) {
    err << "meshproof workload: " << po.pod << ": " << pod.status().message() << std::endl;
    return kExitUsage;
  }
  out << nlohmann::json{{"event", "listening"},
                        {"pod", po.pod},
                        {"port", (*pod)->port()},
                        {"admin", (*pod)->adminPort()},
                        {"outbound", (*pod)->outboundPort()}}
             .dump()
      << std::endl;
  (*pod)->run();
  return kExitOk;
}

} // namespace meshproof::cli
