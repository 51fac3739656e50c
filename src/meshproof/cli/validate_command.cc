#include "meshproof/cli/validate_command.h"

#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/mesh_session.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/core/time.h"
#include "meshproof/load/generator.h"
#include "meshproof/metrics/exposition.h"
#include "meshproof/net/http_get.h"
#include "meshproof/validate/split.h"

namespace meshproof::cli {

namespace {

// "v1=90,v2=10" -> {v1: 90, v2: 10}.
core::Result<std::map<std::string, double>> parseExpect(const std::string& text) {
  std::map<std::string, double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    double w = 0;
    try {
      w = eq == std::string::npos ? 0 : std::stod(item.substr(eq + 1));
    } catch (...) {
      w = 0;
    }
    if (eq == 0 || eq == std::string::npos || !(w > 0)) {
      return core::invalidArgument("--expect: \"" + item +
                                   "\" is not VERSION=WEIGHT with a positive weight");
    }
    out[item.substr(0, eq)] = w;
  }
  return out;
}

// The weights of the host's first route that splits, by the subsets' version labels.
core::Result<std::map<std::string, double>> specWeights(const spec::Spec& spec,
                                                        const std::string& host) {
  const spec::DestinationRule* dr = spec.destinationRuleFor(host);
  for (const spec::VirtualService* vs : spec.virtualServicesFor(host)) {
    for (const spec::HttpRoute& r : vs->http) {
      if (r.route.size() < 2) {
        continue;
      }
      std::map<std::string, double> out;
      for (const spec::RouteDestination& rd : r.route) {
        std::string version = rd.destination.subset;
        if (dr != nullptr) {
          if (const spec::Subset* s = dr->findSubset(rd.destination.subset)) {
            auto v = s->labels.find("version");
            if (v != s->labels.end()) {
              version = v->second;
            }
          }
        }
        out[version] += rd.weight;
      }
      return out;
    }
  }
  return core::invalidArgument("split: no VirtualService route of " + host +
                               " splits traffic over two or more destinations");
}

} // namespace

int validateCommand(const ValidateCommandOptions& options, std::ostream& out, std::ostream& err) {
  if (options.check != "split") {
    err << "meshproof validate " << options.check
        << ": not implemented yet (issue 5; `validate split` works)\n";
    return kExitUsage;
  }
  auto paths = podSpecPaths(options.spec_paths, "meshproof validate");
  if (!paths) {
    err << paths.status().message() << '\n';
    return kExitUsage;
  }
  std::optional<spec::Spec> spec = loadSpecOrReport(*paths, err);
  if (!spec) {
    return kExitUsage;
  }
  if (!spec->sprint || !spec->sprint->split) {
    err << "meshproof validate split: the spec has no Sprint with validations.split\n";
    return kExitUsage;
  }
  const spec::SplitValidation& cfg = *spec->sprint->split;
  auto weights =
      options.expect.empty() ? specWeights(*spec, cfg.host) : parseExpect(options.expect);
  if (!weights) {
    err << "meshproof validate split: " << weights.status().message() << '\n';
    return kExitUsage;
  }
  if (options.requests < 0 || options.connections < 1) {
    err << "meshproof validate split: --requests must be positive and --connections at least 1\n";
    return kExitUsage;
  }
  double total = 0;
  double canary = 1;
  for (const auto& [v, w] : *weights) {
    total += w;
  }
  for (const auto& [v, w] : *weights) {
    canary = std::min(canary, w / total);
  }
  const uint64_t planned =
      validate::plannedSampleSize(canary, cfg.min_deviation_percent, cfg.alpha, cfg.power);
  // A few percent over the plan, so a failed request or two cannot make the run underpowered.
  const uint64_t requests =
      options.requests > 0 ? static_cast<uint64_t>(options.requests)
                           : static_cast<uint64_t>(std::ceil(static_cast<double>(planned) * 1.03));

  const std::string started = core::formatIso8601(core::RealClock::instance().wallNow());
  MeshSessionOptions mo;
  mo.spec_paths = *paths;
  mo.run_dir = options.run_dir;
  mo.seed = options.seed;
  auto session = MeshSession::start(*spec, mo);
  if (!session) {
    err << "meshproof validate split: the mesh did not come up: " << session.status().message();
    return kExitUsage;
  }
  MeshSession& mesh = **session;
  load::LoadOptions lo;
  lo.target.host = "127.0.0.1";
  lo.target.address = "127.0.0.1";
  lo.target.port = mesh.ingressPort();
  lo.connections = static_cast<uint32_t>(options.connections);
  lo.requests = requests;
  auto traffic = load::runLoad(lo, core::RealClock::instance());
  if (!traffic) {
    err << "meshproof validate split: " << traffic.status().message() << '\n';
    return kExitUsage;
  }
  // First attempts per version, from every pod of the host.
  validate::SplitInput in;
  in.host = cfg.host;
  in.expected_weights = *weights;
  in.alpha = cfg.alpha;
  in.power = cfg.power;
  in.min_deviation_percent = cfg.min_deviation_percent;
  for (const platform::PodStatus& p : mesh.platform().pods()) {
    auto app = p.labels.find("app");
    if (app == p.labels.end() || spec::shortHost(app->second) != spec::shortHost(cfg.host)) {
      continue;
    }
    auto reply = net::httpGet(p.admin_port, "/metrics", std::chrono::seconds(5));
    auto text = reply ? metrics::parseExposition(reply->body)
                      : core::Result<metrics::Exposition>(reply.status());
    if (!text) {
      err << "meshproof validate split: pod " << p.name << ": " << text.status().message() << '\n';
      return kExitUsage;
    }
    for (const metrics::Sample* s :
         text->select("meshproof_workload_requests_total", {{"attempt", "first"}})) {
      in.first_attempts[s->labels.at("version")] += static_cast<uint64_t>(s->value);
    }
  }
  auto result = validate::evaluateSplit(in);
  if (!result) {
    err << "meshproof validate split: " << result.status().message() << '\n';
    return kExitUsage;
  }
  const validate::SplitResult& r = *result;
  const std::string finished = core::formatIso8601(core::RealClock::instance().wallNow());
  if (options.json) {
    nlohmann::json versions = nlohmann::json::object();
    for (const auto& [v, x] : r.versions) {
      versions[v] = {{"observed", x.observed},
                     {"expectedShare", x.expected_share},
                     {"share", x.share},
                     {"interval", {x.interval.lower, x.interval.upper}}};
    }
    nlohmann::json record{{"validation", "split"},
                          {"verdict", validate::verdictName(r.verdict)},
                          {"reason", r.reason},
                          {"host", cfg.host},
                          {"unit", "request"},
                          {"startTime", started},
                          {"endTime", finished},
                          {"inputs",
                           {{"alpha", cfg.alpha},
                            {"power", cfg.power},
                            {"minDeviationPercent", cfg.min_deviation_percent},
                            {"expectedWeights", *weights},
                            {"requestsSent", requests},
                            {"seed", options.seed}}},
                          {"measured",
                           {{"firstAttempts", r.requests},
                            {"plannedSampleSize", r.planned},
                            {"versions", versions},
                            {"clientErrors", traffic->errors},
                            {"clientStatus", traffic->status_counts.size()}}},
                          {"statistics",
                           {{"test", "Pearson chi-square goodness of fit"},
                            {"chiSquare", r.chi_square.statistic},
                            {"df", r.chi_square.df},
                            {"pValue", r.chi_square.p_value},
                            {"interval", "Wilson, confidence 1 - alpha"}}}};
    out << record.dump(2) << '\n';
  } else {
    out << "split of " << cfg.host << ": " << validate::verdictName(r.verdict) << " — " << r.reason
        << '\n'
        << "  " << r.requests << " first attempts (planned " << r.planned << "), chi-square "
        << std::fixed << std::setprecision(2) << r.chi_square.statistic
        << ", p = " << std::setprecision(4) << r.chi_square.p_value << '\n';
    for (const auto& [v, x] : r.versions) {
      out << "  " << std::left << std::setw(6) << v << std::right << std::setw(7) << x.observed
          << "  " << std::setprecision(2) << std::setw(6) << 100 * x.share << " % (expected "
          << 100 * x.expected_share << " %, " << 100 * (1 - cfg.alpha) << " % interval "
          << 100 * x.interval.lower << "-" << 100 * x.interval.upper << " %)\n";
    }
  }
  return r.verdict == validate::Verdict::Pass ? kExitOk : kExitCheckFailed;
}

} // namespace meshproof::cli
