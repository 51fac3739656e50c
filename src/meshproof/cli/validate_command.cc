#include "meshproof/cli/validate_command.h"

#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/mesh_session.h"
#include "meshproof/cli/validate_support.h"
#include "meshproof/core/time.h"
#include "meshproof/load/generator.h"
#include "meshproof/metrics/exposition.h"
#include "meshproof/net/http_get.h"
#include "meshproof/validate/retries.h"
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

// Requests sent, and the first and retry attempts the host's pods served (from their metrics).
struct Traffic {
  load::LoadResult client;
  uint64_t first = 0;
  uint64_t retries = 0;
  std::map<std::string, uint64_t> first_by_version;
};

core::Result<Traffic> drive(MeshSession& mesh, const std::string& host, uint64_t requests,
                            uint32_t connections) {
  load::LoadOptions lo;
  lo.target.host = "127.0.0.1";
  lo.target.address = "127.0.0.1";
  lo.target.port = mesh.ingressPort();
  lo.connections = connections;
  lo.requests = requests;
  auto client = load::runLoad(lo, core::RealClock::instance());
  if (!client) {
    return client.status();
  }
  Traffic t;
  t.client = std::move(client).value();
  for (const platform::PodStatus& p : podsOf(mesh, host)) {
    auto text = podMetrics(p);
    if (!text) {
      return text.status();
    }
    for (const metrics::Sample* s : text->select("meshproof_workload_requests_total")) {
      const auto n = static_cast<uint64_t>(s->value);
      if (s->labels.at("attempt") == "first") {
        t.first += n;
        t.first_by_version[s->labels.at("version")] += n;
      } else {
        t.retries += n;
      }
    }
  }
  return t;
}

// The host's first route (the route a plain GET takes in the Sprint 6 spec); nullptr without one.
const spec::HttpRoute* firstRoute(const spec::Spec& spec, const std::string& host) {
  for (const spec::VirtualService* vs : spec.virtualServicesFor(host)) {
    if (!vs->http.empty()) {
      return &vs->http.front();
    }
  }
  return nullptr;
}

uint32_t specRetries(const spec::Spec& spec, const std::string& host) {
  const spec::HttpRoute* r = firstRoute(spec, host);
  if (r == nullptr) {
    return spec::defaultRetryPolicy().num_retries;
  }
  return r->retries.enabled ? r->retries.num_retries : 0;
}

// Per-try timeouts and UT responses toward `host`, summed over every pod's sidecar.
struct CallerCounts {
  uint64_t per_try_timeouts = 0;
  uint64_t ut = 0;
};

core::Result<CallerCounts> callerCounts(MeshSession& mesh, const std::string& host) {
  CallerCounts c;
  const std::string suffix = "|" + spec::shortHost(host);
  for (const platform::PodStatus& p : mesh.platform().pods()) {
    auto text = podMetrics(p);
    if (!text) {
      return text.status();
    }
    for (const metrics::Sample* s : text->select("envoy_cluster_upstream_rq_per_try_timeout")) {
      const std::string& name = s->labels.at("cluster_name");
      if (name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        c.per_try_timeouts += static_cast<uint64_t>(s->value);
      }
    }
    // Flags join with ',' ("URX,UT" when the retries ran out on per-try timeouts).
    for (const metrics::Sample* s : text->select(
             "istio_requests_total",
             {{"reporter", "source"}, {"destination_service_name", spec::shortHost(host)}})) {
      const std::string flags = "," + s->labels.at("response_flags") + ",";
      if (flags.find(",UT,") != std::string::npos) {
        c.ut += static_cast<uint64_t>(s->value);
      }
    }
  }
  return c;
}

// POSTs `behaviour` to every pod of `host`.
core::Status setBehaviour(MeshSession& mesh, const std::string& host,
                          const std::string& behaviour) {
  for (const platform::PodStatus& p : podsOf(mesh, host)) {
    if (auto st = setPodBehaviour(p, behaviour); !st.isOk()) {
      return st;
    }
  }
  return core::Status::ok();
}

int validateRetries(const spec::Spec& spec, const std::vector<std::string>& paths,
                    const ValidateCommandOptions& options, std::ostream& out, std::ostream& err) {
  if (!spec.sprint || !spec.sprint->retries) {
    err << "meshproof validate retries: the spec has no Sprint with validations.retries\n";
    return kExitUsage;
  }
  const spec::RetriesValidation& cfg = *spec.sprint->retries;
  const std::string started = core::formatIso8601(core::RealClock::instance().wallNow());
  MeshSessionOptions mo{.spec_paths = paths, .run_dir = options.run_dir, .seed = options.seed};
  auto session = MeshSession::startOrSay(spec, mo, "meshproof validate retries", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  // Every pod of the host fails the first k attempts of each request.
  const std::string behaviour =
      nlohmann::json{{"fail", {{"status", 503}, {"attempts", cfg.fail_first}}}}.dump();
  if (auto st = setBehaviour(mesh, cfg.host, behaviour); !st.isOk()) {
    err << "meshproof validate retries: " << st.message() << '\n';
    return kExitUsage;
  }
  // One connection: requests one after another, so no two requests' failures interleave at a pod
  // (the outlier detector's consecutive-5xx count stays per request, as the check assumes).
  const uint64_t requests = options.requests > 0 ? static_cast<uint64_t>(options.requests) : 100;
  auto traffic = drive(mesh, cfg.host, requests, 1);
  if (!traffic) {
    err << "meshproof validate retries: " << traffic.status().message() << '\n';
    return kExitUsage;
  }
  validate::RetriesInput in;
  in.host = cfg.host;
  in.fail_first = cfg.fail_first;
  in.num_retries = options.expect_retries >= 0 ? static_cast<uint32_t>(options.expect_retries)
                                               : specRetries(spec, cfg.host);
  in.requests_sent = requests;
  in.client_statuses = traffic->client.status_counts;
  in.first_attempts = traffic->first;
  in.retry_attempts = traffic->retries;
  validate::RetriesResult r = validate::evaluateRetries(in);

  // The hanging half: every pod of the host hangs; one request must be cut by the per-try timeout
  // R + 1 times and end with 504 UT within the route timeout.
  const spec::HttpRoute* route = firstRoute(spec, cfg.host);
  validate::HangInput hang;
  std::optional<validate::HangResult> hang_result;
  if (route != nullptr && route->retries.enabled && route->retries.per_try_timeout) {
    hang.num_retries = in.num_retries;
    hang.per_try_timeout = *route->retries.per_try_timeout;
    hang.route_timeout = route->timeout;
    auto before = callerCounts(mesh, cfg.host);
    core::Status st = before ? setBehaviour(mesh, cfg.host, R"({"hang": true})") : before.status();
    std::optional<core::Result<Traffic>> one;
    if (st.isOk()) {
      one = drive(mesh, cfg.host, 1, 1);
      st = setBehaviour(mesh, cfg.host, R"({"recover": true})");
    }
    auto after = st.isOk() ? callerCounts(mesh, cfg.host) : core::Result<CallerCounts>(st);
    if (!after || !*one) {
      err << "meshproof validate retries: "
          << (!after ? after.status().message() : (*one).status().message()) << '\n';
      return kExitUsage;
    }
    const load::LoadResult& client = (**one).client;
    hang.client_status = client.status_counts.empty() ? 0 : client.status_counts.begin()->first;
    hang.elapsed = core::Duration(static_cast<int64_t>(client.latency.max()));
    hang.per_try_timeouts = after->per_try_timeouts - before->per_try_timeouts;
    hang.ut_responses = after->ut - before->ut;
    hang_result = validate::evaluateHang(hang);
    if (hang_result->verdict != validate::Verdict::Pass) {
      r.verdict = validate::Verdict::Fail;
    }
    r.reason += "; hanging: " + hang_result->reason;
  }
  if (options.json) {
    nlohmann::json statuses = nlohmann::json::object();
    for (const auto& [code, n] : in.client_statuses) {
      statuses[std::to_string(code)] = n;
    }
    out << verdictRecord(
               "retries", validate::verdictName(r.verdict), r.reason, cfg.host, started,
               {{"inputs",
                 {{"failFirst", cfg.fail_first},
                  {"retries", in.num_retries},
                  {"requestsSent", requests},
                  {"seed", options.seed}}},
                {"measured",
                 {{"clientStatuses", statuses},
                  {"firstAttempts", in.first_attempts},
                  {"retryAttempts", in.retry_attempts},
                  {"attemptsPerRequest", r.amplification}}},
                {"expected",
                 {{"status", r.expected_status}, {"attemptsPerRequest", r.attempts_per_request}}},
                {"hanging",
                 hang_result
                     ? nlohmann::json{{"verdict", validate::verdictName(hang_result->verdict)},
                                      {"status", hang.client_status},
                                      {"elapsedMs", core::toMillis(hang.elapsed)},
                                      {"perTryTimeouts", hang.per_try_timeouts},
                                      {"perTryTimeoutMs", core::toMillis(hang.per_try_timeout)},
                                      {"routeTimeoutMs",
                                       hang.route_timeout
                                           ? nlohmann::json(core::toMillis(*hang.route_timeout))
                                           : nlohmann::json(nullptr)},
                                      {"utResponses", hang.ut_responses}}
                     : nlohmann::json("not checked: the route has no perTryTimeout")}})
               .dump(2)
        << '\n';
  } else {
    out << "retries of " << cfg.host << ": " << validate::verdictName(r.verdict) << " — "
        << r.reason << '\n'
        << "  " << requests << " requests; upstream attempts " << in.first_attempts << " first + "
        << in.retry_attempts << " retries = " << std::fixed << std::setprecision(2)
        << r.amplification << " per request\n";
  }
  return r.verdict == validate::Verdict::Pass ? kExitOk : kExitCheckFailed;
}

} // namespace

int validateCommand(const ValidateCommandOptions& options, std::ostream& out, std::ostream& err) {
  if (options.check != "split" && options.check != "retries" && options.check != "breaker" &&
      options.check != "recovery") {
    err << "meshproof validate: unknown check \"" << options.check
        << "\" (split, retries, breaker or recovery)\n";
    return kExitUsage;
  }
  std::optional<PodSpec> loaded = loadPodSpec(options.spec_paths, "meshproof validate", err);
  if (!loaded) {
    return kExitUsage;
  }
  const std::vector<std::string>& paths = loaded->paths;
  const spec::Spec& spec = loaded->spec;
  if (options.check == "retries") {
    return validateRetries(spec, paths, options, out, err);
  }
  if (options.check == "breaker") {
    return validateBreaker(spec, paths, options, out, err);
  }
  if (options.check == "recovery") {
    return validateRecovery(spec, paths, options, out, err);
  }
  if (!spec.sprint || !spec.sprint->split) {
    err << "meshproof validate split: the spec has no Sprint with validations.split\n";
    return kExitUsage;
  }
  const spec::SplitValidation& cfg = *spec.sprint->split;
  auto weights = options.expect.empty() ? specWeights(spec, cfg.host) : parseExpect(options.expect);
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
  // The deviation to detect: the Sprint's, or a coarser one the caller plans for (run --quick).
  const double deviation =
      options.min_deviation_percent > 0 ? options.min_deviation_percent : cfg.min_deviation_percent;
  const uint64_t planned = validate::plannedSampleSize(canary, deviation, cfg.alpha, cfg.power);
  // A few percent over the plan, so a failed request or two cannot make the run underpowered.
  const uint64_t requests =
      options.requests > 0 ? static_cast<uint64_t>(options.requests)
                           : static_cast<uint64_t>(std::ceil(static_cast<double>(planned) * 1.03));

  const std::string started = core::formatIso8601(core::RealClock::instance().wallNow());
  MeshSessionOptions mo{.spec_paths = paths, .run_dir = options.run_dir, .seed = options.seed};
  auto session = MeshSession::startOrSay(spec, mo, "meshproof validate split", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  auto traffic = drive(mesh, cfg.host, requests, static_cast<uint32_t>(options.connections));
  if (!traffic) {
    err << "meshproof validate split: " << traffic.status().message() << '\n';
    return kExitUsage;
  }
  validate::SplitInput in;
  in.host = cfg.host;
  in.expected_weights = *weights;
  in.alpha = cfg.alpha;
  in.power = cfg.power;
  in.min_deviation_percent = deviation;
  in.first_attempts = traffic->first_by_version;
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
    nlohmann::json record =
        verdictRecord("split", validate::verdictName(r.verdict), r.reason, cfg.host, started,
                      {{"unit", "request"},
                       {"inputs",
                        {{"alpha", cfg.alpha},
                         {"power", cfg.power},
                         {"minDeviationPercent", deviation},
                         {"expectedWeights", *weights},
                         {"requestsSent", requests},
                         {"seed", options.seed}}},
                       {"measured",
                        {{"firstAttempts", r.requests},
                         {"plannedSampleSize", r.planned},
                         {"versions", versions},
                         {"clientErrors", traffic->client.errors}}},
                       {"statistics",
                        {{"test", "Pearson chi-square goodness of fit"},
                         {"chiSquare", r.chi_square.statistic},
                         {"df", r.chi_square.df},
                         {"pValue", r.chi_square.p_value},
                         {"interval", "Wilson, confidence 1 - alpha"}}}});
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
