#include "meshproof/cli/mesh_session.h"

#include <filesystem>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "meshproof/cli/spec_input.h"

namespace meshproof::cli {

namespace fs = std::filesystem;

std::optional<PodSpec> loadPodSpec(const std::vector<std::string>& paths,
                                   const std::string& command, std::ostream& err) {
  PodSpec out;
  for (const std::string& p : paths) {
    if (p == "-") {
      err << command
          << ": -f - (stdin) is not supported: every pod reads the spec too; save it "
             "to a file\n";
      return std::nullopt;
    }
    std::error_code ec;
    out.paths.push_back(fs::absolute(p, ec).string());
  }
  std::optional<spec::Spec> spec = loadSpecOrReport(out.paths, err);
  if (!spec) {
    return std::nullopt;
  }
  out.spec = std::move(*spec);
  return out;
}

void printPodTable(const std::vector<platform::PodStatus>& pods, std::ostream& out) {
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

core::Result<std::unique_ptr<MeshSession>> MeshSession::start(const spec::Spec& spec,
                                                              const MeshSessionOptions& options) {
  if (spec.workloads.empty()) {
    return core::invalidArgument(
        "the spec has no Workload (meshproof.dev/v1alpha1): no pods to run");
  }
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) {
    return core::invalidArgument("cannot create " + options.run_dir + ": " + ec.message());
  }
  std::unique_ptr<MeshSession> s(new MeshSession());
  platform::LocalPlatformOptions po;
  po.restart = options.restart_pods;
  s->platform_ = std::make_unique<platform::LocalPlatform>(po);
  control::ControlPlaneOptions co;
  co.admin_port = options.admin_port;
  co.executable = fs::read_symlink("/proc/self/exe", ec).string();
  co.spec_paths = options.spec_paths;
  co.file_sd_path = (fs::path(options.run_dir) / "file_sd.json").string();
  co.handle_signals = options.handle_signals;
  co.seed = options.seed;
  s->file_sd_ = co.file_sd_path;
  auto plane = control::ControlPlane::create(spec, co, *s->platform_, core::RealClock::instance());
  if (!plane) {
    return plane.status();
  }
  s->plane_ = std::move(plane).value();
  const auto started = std::chrono::steady_clock::now();
  core::Status st = s->plane_->start();
  if (st.isOk()) {
    st = s->plane_->waitReady(options.ready_timeout);
  }
  if (!st.isOk()) {
    if (s->plane_->stopped()) {
      return core::Status(core::StatusCode::FailedPrecondition, "interrupted while starting");
    }
    std::ostringstream table;
    printPodTable(s->platform_->pods(), table);
    return core::invalidArgument(st.message() + "\n" + table.str());
  }
  s->ready_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return s;
}

MeshSession::~MeshSession() {
  if (plane_) {
    plane_->stop();
  }
  if (platform_) {
    platform_->shutdown(std::chrono::seconds(2));
  }
}

std::unique_ptr<MeshSession> MeshSession::startOrSay(const spec::Spec& spec,
                                                     const MeshSessionOptions& options,
                                                     const std::string& command,
                                                     std::ostream& err) {
  auto session = start(spec, options);
  if (!session) {
    err << command << ": the mesh did not come up: " << session.status().message();
    return nullptr;
  }
  return std::move(session).value();
}

uint16_t MeshSession::ingressPort() const {
  return plane_->gatewayListeners().front().port;
}

} // namespace meshproof::cli
