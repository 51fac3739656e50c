#include "meshproof/cli/proxy_command.h"

#include <ostream>
#include <tuple>

#include "meshproof/cli/app.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/core/clock.h"
#include "meshproof/core/duration.h"
#include "meshproof/proxy/proxy_server.h"

namespace meshproof::cli {

int proxyCommand(const ProxyCommandOptions& options, std::ostream& out, std::ostream& err) {
  std::optional<spec::Spec> spec = loadSpecOrReport(options.spec_paths, err);
  if (!spec) {
    return kExitUsage;
  }
  proxy::ProxyOptions po;
  po.admin_port = options.admin_port;
  po.admin_address = options.admin_address;
  po.admin_token = options.admin_token;
  po.seed = options.seed;
  po.handle_signals = true;
  po.concurrency = options.concurrency;
  for (auto [flag, text, target] :
       {std::tuple{"--request-headers-timeout", &options.request_headers_timeout,
                   &po.request_headers_timeout},
        std::tuple{"--stream-idle-timeout", &options.stream_idle_timeout, &po.stream_idle_timeout},
        std::tuple{"--drain-timeout", &options.drain_timeout, &po.drain_timeout}}) {
    auto d = core::parseDuration(*text);
    if (!d || *d <= core::Duration::zero()) {
      err << "meshproof proxy: " << flag << ": \"" << *text
          << "\" is not a positive duration (e.g. 10s, 500ms)\n";
      return kExitUsage;
    }
    *target = *d;
  }
  auto server = proxy::ProxyServer::create(*spec, po, core::RealClock::instance());
  if (!server) {
    err << "meshproof proxy: " << server.status().message() << '\n';
    return kExitUsage;
  }
  for (const proxy::Listener& l : (*server)->listeners()) {
    out << "meshproof proxy: Gateway/" << l.name << " listening on http://" << l.address << ":"
        << l.port << " -> " << l.host << '\n';
  }
  if (po.concurrency > 1) {
    out << "meshproof proxy: " << po.concurrency << " workers\n";
  }
  out << "meshproof proxy: admin on http://" << options.admin_address << ":"
      << (*server)->adminPort() << " (/metrics, /ready, /clusters)" << std::endl;
  (*server)->run();
  out << "meshproof proxy: stopped" << std::endl;
  return kExitOk;
}

} // namespace meshproof::cli
