#include "meshproof/cli/up_command.h"

#include <iomanip>
#include <ostream>

#include "meshproof/cli/app.h"
#include "meshproof/cli/mesh_session.h"
#include "meshproof/cli/render_command.h"
#include "meshproof/core/duration.h"
#include "meshproof/prom/prometheus.h"

namespace meshproof::cli {

core::Result<std::unique_ptr<prom::Prometheus>>
startMeshPrometheus(const spec::Spec& spec, MeshSession& mesh, const std::string& run_dir,
                    const std::string& command, std::ostream& err) {
  prom::PrometheusOptions po;
  po.file_sd_path = mesh.fileSdPath();
  // The Sprint's alerts, lab profile (the same rules `meshproof render` writes), so they can be
  // watched firing on this mesh: /api/v1/alerts.
  if (spec.sprint) {
    auto rules = writeLabRules(spec, run_dir);
    if (!rules) {
      return rules.status();
    }
    po.rule_files.push_back(*rules);
  }
  auto started = prom::Prometheus::start(po);
  if (!started && started.status().code() == core::StatusCode::NotFound) {
    // A missing Prometheus costs the metrics store, not the mesh.
    err << command << ": " << started.status().message() << "; running without it\n";
    return std::unique_ptr<prom::Prometheus>();
  }
  if (!started) {
    return started.status();
  }
  const size_t targets = mesh.platform().pods().size() + 1; // and the gateway
  if (auto st = (*started)->waitForTargets(targets, std::chrono::seconds(30)); !st.isOk()) {
    return st;
  }
  return std::move(started).value();
}

int upCommand(const UpCommandOptions& options, std::ostream& out, std::ostream& err) {
  auto timeout = core::parseDuration(options.ready_timeout);
  if (!timeout || *timeout <= core::Duration::zero()) {
    err << "meshproof up: --ready-timeout: \"" << options.ready_timeout
        << "\" is not a positive duration (e.g. 60s)\n";
    return kExitUsage;
  }
  std::optional<PodSpec> loaded = loadPodSpec(options.spec_paths, "meshproof up", err);
  if (!loaded) {
    return kExitUsage;
  }
  MeshSessionOptions mo;
  mo.spec_paths = loaded->paths;
  mo.run_dir = options.run_dir;
  mo.ready_timeout = *timeout;
  mo.admin_port = options.admin_port;
  mo.handle_signals = true;
  out << "meshproof up: starting the mesh..." << std::endl;
  auto session = MeshSession::start(loaded->spec, mo);
  if (!session) {
    if (session.status().code() == core::StatusCode::FailedPrecondition) {
      out << "meshproof up: stopped" << std::endl;
      return kExitOk; // Ctrl-C while starting
    }
    err << "meshproof up: " << session.status().message();
    return kExitUsage;
  }
  std::unique_ptr<MeshSession> owned = std::move(session).value();
  MeshSession& mesh = *owned;
  control::ControlPlane& plane = mesh.plane();
  out << "meshproof up: " << mesh.platform().pods().size() << " pods ready in " << std::fixed
      << std::setprecision(2) << mesh.readySeconds() << " s\n";
  printPodTable(mesh.platform().pods(), out);
  for (const proxy::Listener& l : plane.gatewayListeners()) {
    out << "ingress: http://" << l.address << ":" << l.port << " -> " << l.host << " (Gateway/"
        << l.name << ")\n";
  }
  out << "gateway admin: http://127.0.0.1:" << plane.gatewayAdminPort()
      << " (/metrics, /clusters, /config_dump)\n"
      << "control plane: http://127.0.0.1:" << plane.adminPort()
      << " (/pods, /faults, /config_dump, /ready)\n"
      << "prometheus file_sd: " << mesh.fileSdPath() << '\n';
  // The real Prometheus, scraping every proxy through the file_sd file (--prometheus).
  std::unique_ptr<prom::Prometheus> prometheus;
  if (options.prometheus) {
    auto started = startMeshPrometheus(loaded->spec, mesh, options.run_dir, "meshproof up", err);
    if (!started) {
      err << "meshproof up: prometheus: " << started.status().message() << '\n';
      return kExitUsage;
    }
    prometheus = std::move(started).value();
    if (prometheus) {
      out << "prometheus: " << prometheus->url() << " (scraping "
          << mesh.platform().pods().size() + 1 << " targets every 1s"
          << (loaded->spec.sprint ? "; the Sprint's lab alerts" : "") << ")\n";
    }
  }
  out << "Ctrl-C to stop" << std::endl;
  plane.wait();
  out << "meshproof up: stopping " << mesh.platform().pods().size() << " pods" << std::endl;
  prometheus.reset();
  owned.reset();
  out << "meshproof up: stopped" << std::endl;
  return kExitOk;
}

} // namespace meshproof::cli
