#include "meshproof/cli/up_command.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <ostream>

#include "meshproof/cli/app.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/control/control_plane.h"
#include "meshproof/core/duration.h"
#include "meshproof/platform/local_platform.h"

namespace meshproof::cli {

namespace fs = std::filesystem;

namespace {

std::string selfExecutable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

void printTable(const std::vector<platform::PodStatus>& pods, std::ostream& out) {
  out << std::left << std::setw(20) << "POD" << std::setw(9) << "VERSION" << std::setw(9) << "PID"
      << std::setw(8) << "PORT" << std::setw(8) << "ADMIN" << std::setw(7) << "READY"
      << "RESTARTS\n";
  for (const platform::PodStatus& p : pods) {
    auto v = p.labels.find("version");
    out << std::left << std::setw(20) << p.name << std::setw(9)
        << (v == p.labels.end() ? "-" : v->second) << std::setw(9) << p.pid << std::setw(8)
        << p.port << std::setw(8) << p.admin_port << std::setw(7) << (p.ready ? "yes" : "no")
        << p.restarts << '\n';
  }
}

} // namespace

int upCommand(const UpCommandOptions& options, std::ostream& out, std::ostream& err) {
  if (options.prometheus) {
    err << "meshproof up: --prometheus is not implemented yet (the prom/ subsystem lands with "
           "issue 5); point your own Prometheus at "
        << options.run_dir << "/file_sd.json meanwhile\n";
    return kExitUsage;
  }
  auto timeout = core::parseDuration(options.ready_timeout);
  if (!timeout || *timeout <= core::Duration::zero()) {
    err << "meshproof up: --ready-timeout: \"" << options.ready_timeout
        << "\" is not a positive duration (e.g. 60s)\n";
    return kExitUsage;
  }
  // Pods read the same spec files: they must be files, given by absolute path.
  std::vector<std::string> paths;
  for (const std::string& p : options.spec_paths) {
    if (p == "-") {
      err << "meshproof up: -f - (stdin) is not supported: every pod reads the spec too; "
             "save it to a file\n";
      return kExitUsage;
    }
    std::error_code ec;
    paths.push_back(fs::absolute(p, ec).string());
  }
  std::optional<spec::Spec> spec = loadSpecOrReport(paths, err);
  if (!spec) {
    return kExitUsage;
  }
  if (spec->workloads.empty()) {
    err << "meshproof up: the spec has no Workload (meshproof.dev/v1alpha1): no pods to run\n";
    return kExitUsage;
  }
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) {
    err << "meshproof up: cannot create " << options.run_dir << ": " << ec.message() << '\n';
    return kExitUsage;
  }

  platform::LocalPlatform platform;
  control::ControlPlaneOptions co;
  co.admin_port = options.admin_port;
  co.executable = selfExecutable();
  co.spec_paths = paths;
  co.file_sd_path = (fs::path(options.run_dir) / "file_sd.json").string();
  co.handle_signals = true;
  auto& clock = core::RealClock::instance();
  auto cp = control::ControlPlane::create(*spec, co, platform, clock);
  if (!cp) {
    err << "meshproof up: " << cp.status().message() << '\n';
    return kExitUsage;
  }
  control::ControlPlane& plane = **cp;
  const auto started = std::chrono::steady_clock::now();
  if (auto st = plane.start(); !st.isOk()) {
    err << "meshproof up: " << st.message() << '\n';
    platform.shutdown(std::chrono::seconds(2));
    return kExitUsage;
  }
  out << "meshproof up: starting " << platform.pods().size() << " pods..." << std::endl;
  if (auto st = plane.waitReady(*timeout); !st.isOk()) {
    const bool interrupted = plane.stopped();
    err << "meshproof up: " << st.message() << '\n';
    if (!interrupted) {
      printTable(platform.pods(), err);
    }
    plane.stop();
    platform.shutdown(std::chrono::seconds(2));
    return interrupted ? kExitOk : kExitUsage;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out << "meshproof up: " << platform.pods().size() << " pods ready in " << std::fixed
      << std::setprecision(2) << seconds << " s\n";
  printTable(platform.pods(), out);
  for (const proxy::Listener& l : plane.gatewayListeners()) {
    out << "ingress: http://" << l.address << ":" << l.port << " -> " << l.host << " (Gateway/"
        << l.name << ")\n";
  }
  out << "gateway admin: http://127.0.0.1:" << plane.gatewayAdminPort()
      << " (/metrics, /clusters, /config_dump)\n"
      << "control plane: http://127.0.0.1:" << plane.adminPort()
      << " (/pods, /faults, /config_dump, /ready)\n"
      << "prometheus file_sd: " << co.file_sd_path << '\n'
      << "Ctrl-C to stop" << std::endl;
  plane.wait();
  out << "meshproof up: stopping " << platform.pods().size() << " pods" << std::endl;
  plane.stop();
  platform.shutdown(std::chrono::seconds(2));
  out << "meshproof up: stopped" << std::endl;
  return kExitOk;
}

} // namespace meshproof::cli
