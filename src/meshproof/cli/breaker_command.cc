// `meshproof validate breaker`: one pod of the subset answers 503 under serialised load; every
// client proxy must eject it at exactly the N-th consecutive 5xx and take it back after
// baseEjectionTime on an interval tick (validate/breaker.h).

#include <iomanip>
#include <ostream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/validate_support.h"
#include "meshproof/core/time.h"
#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/net/http_get.h"
#include "meshproof/validate/breaker.h"

namespace meshproof::cli {

namespace {

using namespace std::chrono_literals;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             core::RealClock::instance().wallNow().time_since_epoch())
      .count();
}

struct Client {
  std::string name;
  uint16_t admin_port = 0;
};

// The failing pod's log of requests served, by client proxy.
core::Result<std::map<std::string, std::vector<validate::ServedRequest>>>
servedBy(MeshSession& mesh, const platform::PodStatus& pod) {
  // A loaded machine may be slow to answer: a few tries, then say why (a restarted pod has lost
  // its log and listens elsewhere).
  core::Result<net::HttpReply> reply = core::unavailable("not asked");
  for (int attempt = 0; attempt < 3; ++attempt) {
    reply = net::httpGet(pod.port, "/control/served", 10s);
    if (reply && reply->status == 200) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  if (!reply || reply->status != 200) {
    for (const platform::PodStatus& now : mesh.platform().pods()) {
      if (now.name == pod.name && (now.restarts != pod.restarts || now.port != pod.port)) {
        std::string tail; // what the pod said last, for why it went
        for (const std::string& l : now.stderr_tail) {
          tail += "\n  " + l;
        }
        // Both snapshots, so that a pod that went away without an exit on record says how.
        auto state = [](const platform::PodStatus& s) {
          return std::string(platform::phaseName(s.phase)) + ", pid " + std::to_string(s.pid) +
                 ", port " + std::to_string(s.port) + ", restarts " + std::to_string(s.restarts) +
                 (s.ready ? ", ready" : ", not ready");
        };
        return core::unavailable(pod.name + " restarted during the check (" +
                                 (now.last_exit.empty() ? "no exit on record" : now.last_exit) +
                                 "; at the start: " + state(pod) + "; now: " + state(now) +
                                 "); its log of served requests is gone" +
                                 (tail.empty() ? "" : "; its last stderr lines:" + tail));
      }
    }
    return core::unavailable(
        "cannot read " + pod.name + "'s /control/served: " +
        (reply ? "HTTP " + std::to_string(reply->status) : reply.status().message()));
  }
  std::map<std::string, std::vector<validate::ServedRequest>> out;
  try {
    const nlohmann::json body = nlohmann::json::parse(reply->body); // outlives the loop
    for (const auto& e : body.at("entries")) {
      out[e.at("source").get<std::string>()].push_back(
          {e.at("unixMs").get<int64_t>(), e.at("status").get<unsigned>()});
    }
  } catch (const nlohmann::json::exception& ex) {
    return core::unavailable(pod.name + "'s /control/served: " + ex.what());
  }
  return out;
}

// A client proxy's outlier events for `host_key` in `cluster`.
core::Result<std::vector<validate::EjectionEvent>>
eventsOf(const Client& c, const std::string& cluster, const std::string& host_key) {
  auto reply = net::httpGet(c.admin_port, "/outlier_events", 5s);
  if (!reply || reply->status != 200) {
    return core::unavailable("cannot read " + c.name + "'s /outlier_events");
  }
  std::vector<validate::EjectionEvent> out;
  try {
    const nlohmann::json body = nlohmann::json::parse(reply->body);
    const nlohmann::json& j = body.at("clusters");
    if (!j.contains(cluster)) {
      return out; // no outlier detection on this cluster
    }
    for (const auto& e : j.at(cluster)) {
      if (e.at("host").get<std::string>() != host_key) {
        continue;
      }
      const std::string kind = e.at("kind").get<std::string>();
      out.push_back({kind == "ejected"     ? validate::EjectionEvent::Kind::Ejected
                     : kind == "unejected" ? validate::EjectionEvent::Kind::Unejected
                                           : validate::EjectionEvent::Kind::Overflow,
                     e.at("unixMs").get<int64_t>(), e.value("reason", std::string())});
    }
  } catch (const nlohmann::json::exception& ex) {
    return core::unavailable(c.name + "'s /outlier_events: " + ex.what());
  }
  return out;
}

uint64_t enforcedEjections(const Client& c, const std::string& cluster) {
  auto reply = net::httpGet(c.admin_port, "/metrics", 5s);
  auto text = reply ? metrics::parseExposition(reply->body)
                    : core::Result<metrics::Exposition>(reply.status());
  if (!text) {
    return 0;
  }
  uint64_t n = 0;
  for (const metrics::Sample* s :
       text->select("envoy_cluster_outlier_detection_ejections_enforced_total",
                    {{"cluster_name", cluster}})) {
    n += static_cast<uint64_t>(s->value);
  }
  return n;
}

} // namespace

int validateBreaker(const spec::Spec& spec, const std::vector<std::string>& paths,
                    const ValidateCommandOptions& options, std::ostream& out, std::ostream& err) {
  const char* const cmd = "meshproof validate breaker: ";
  if (!spec.sprint || !spec.sprint->breaker) {
    err << cmd << "the spec has no Sprint with validations.breaker\n";
    return kExitUsage;
  }
  const spec::BreakerValidation& cfg = *spec.sprint->breaker;
  // The subset's effective policy, as the proxies build their clusters.
  const spec::DestinationRule* dr = spec.destinationRuleFor(cfg.host);
  std::map<std::string, std::string> selector;
  std::optional<spec::OutlierDetection> od;
  if (dr != nullptr) {
    od = dr->traffic_policy.outlier_detection;
    if (!cfg.subset.empty()) {
      const spec::Subset* s = dr->findSubset(cfg.subset);
      if (s == nullptr) {
        err << cmd << "the DestinationRule of " << cfg.host << " has no subset \"" << cfg.subset
            << "\"\n";
        return kExitUsage;
      }
      selector = s->labels;
      od = s->traffic_policy.outlier_detection;
    }
  }
  // Expected: the spec's threshold, Istio's default (5) when the spec sets no outlierDetection (the
  // check then shows that nothing ejects), or what the caller says.
  const uint32_t n = options.expect_ejection_after >= 0
                         ? static_cast<uint32_t>(options.expect_ejection_after)
                     : od ? od->consecutive_5xx_errors
                          : spec::kDefaultConsecutive5xx;
  if (n == 0) {
    err << cmd << "consecutive5xxErrors is 0 for " << cfg.host
        << " (5xx ejection off); give --expect-ejection-after N\n";
    return kExitUsage;
  }
  const core::Duration interval = od ? od->interval : spec::kDefaultOutlierInterval;
  const core::Duration base = od ? od->base_ejection_time : spec::kDefaultBaseEjectionTime;
  const std::string cluster =
      metrics::outboundClusterName(80, cfg.subset, std::string(spec::shortHost(cfg.host)));
  // Client proxies: the sidecars of every Workload that calls the host, and the gateway if it
  // sends its traffic there.
  std::set<std::string> calling;
  for (const spec::Workload& w : spec.workloads) {
    for (const spec::Call& c : w.calls) {
      if (spec::shortHost(c.host) == spec::shortHost(cfg.host)) {
        calling.insert(w.meta.name);
      }
    }
  }

  const std::string started = core::formatIso8601(core::RealClock::instance().wallNow());
  MeshSessionOptions mo{.spec_paths = paths, .run_dir = options.run_dir, .seed = options.seed};
  auto session = MeshSession::startOrSay(spec, mo, "meshproof validate breaker", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  std::vector<platform::PodStatus> subset_pods;
  for (platform::PodStatus& p : podsOf(mesh, cfg.host)) {
    if (std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
          auto l = p.labels.find(kv.first);
          return l != p.labels.end() && l->second == kv.second;
        })) {
      subset_pods.push_back(std::move(p));
    }
  }
  std::vector<Client> clients;
  for (const platform::PodStatus& p : mesh.platform().pods()) {
    if (calling.count(p.workload) != 0) {
      clients.push_back({p.name, p.admin_port});
    }
  }
  for (const spec::Gateway& g : spec.gateways) {
    if (spec::shortHost(g.host) == spec::shortHost(cfg.host)) {
      clients.push_back({"istio-ingressgateway", mesh.plane().gatewayAdminPort()});
    }
  }
  if (subset_pods.empty() || clients.empty()) {
    err << cmd
        << (subset_pods.empty() ? "no pod of " + cfg.host + " matches subset " + cfg.subset
                                : "nothing in the mesh calls " + cfg.host)
        << '\n';
    return kExitUsage;
  }
  const platform::PodStatus& bad = subset_pods.front();
  const std::string host_key = "127.0.0.1:" + std::to_string(bad.port);

  // One connection: one request in flight in the whole mesh, so when a client proxy ejects the
  // pod no other request of it can be on its way there.
  load::LoadOptions lo;
  lo.connections = 1;
  lo.rate = options.rate > 0 ? options.rate : 50;
  lo.timeout = 30s;
  BackgroundLoad load(mesh, lo);
  auto fail = [&](const std::string& why) {
    auto stopped = load.stop();
    err << cmd << why
        << (stopped ? "" : " (the load generator: " + stopped.status().message() + ")") << '\n';
    return kExitUsage;
  };
  // Warm: every client proxy has reached the pod (pooled connections open, counters at zero).
  const auto warm_deadline = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    auto served = servedBy(mesh, bad);
    if (!served) {
      return fail(served.status().message());
    }
    if (std::all_of(clients.begin(), clients.end(),
                    [&](const Client& c) { return served->count(c.name) != 0; })) {
      break;
    }
    if (std::chrono::steady_clock::now() > warm_deadline) {
      return fail("no traffic reached " + bad.name + " from every client proxy within 15 s");
    }
    std::this_thread::sleep_for(100ms);
  }

  validate::BreakerInput in;
  in.host = cfg.host;
  in.subset = cfg.subset;
  in.pod = bad.name;
  in.consecutive_5xx = n;
  in.interval = interval;
  in.base_ejection_time = base;
  in.fault_start_ms = nowMs();
  if (auto st = setPodBehaviour(bad, R"({"fail": {"status": 503, "for": "1h"}})"); !st.isOk()) {
    return fail(st.message());
  }
  // Both sides, read again: what the pod served to whom, and each client proxy's events.
  std::map<std::string, std::vector<validate::EjectionEvent>> events;
  std::map<std::string, std::vector<validate::ServedRequest>> served;
  auto observe = [&]() -> core::Status {
    auto now_served = servedBy(mesh, bad);
    if (!now_served) {
      return now_served.status();
    }
    served = std::move(now_served).value();
    for (const Client& c : clients) {
      auto ev = eventsOf(c, cluster, host_key);
      if (!ev) {
        return ev.status();
      }
      events[c.name] = std::move(ev).value();
    }
    return core::Status::ok();
  };
  // The first event of `kind` since the fault began, at a client proxy.
  auto firstSince = [&](const Client& c, validate::EjectionEvent::Kind kind) {
    std::optional<int64_t> at;
    for (const validate::EjectionEvent& e : events[c.name]) {
      if (e.kind == kind && e.unix_ms >= in.fault_start_ms && !at) {
        at = e.unix_ms;
      }
    }
    return at;
  };
  auto failures = [&](const std::vector<validate::ServedRequest>& list) {
    return std::count_if(list.begin(), list.end(), [&](const validate::ServedRequest& r) {
      return r.unix_ms >= in.fault_start_ms && r.status >= 500;
    });
  };
  // Until every client proxy has ejected the pod, or has seen 4N failures without doing so.
  const auto fault_deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    if (auto st = observe(); !st.isOk()) {
      return fail(st.message());
    }
    const bool done = std::all_of(clients.begin(), clients.end(), [&](const Client& c) {
      return firstSince(c, validate::EjectionEvent::Kind::Ejected) ||
             failures(served[c.name]) >= 4 * static_cast<int64_t>(n);
    });
    if (done || std::chrono::steady_clock::now() > fault_deadline) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  // Ejection only (run --quick): the pod keeps failing for the hold, every client proxy must send
  // it nothing; the return after baseEjectionTime is not awaited.
  const bool ejection_only = options.ejection_only_hold_s > 0;
  in.check_return = !ejection_only;
  if (ejection_only) {
    const auto hold_until = std::chrono::steady_clock::now() +
                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(options.ejection_only_hold_s));
    while (std::chrono::steady_clock::now() < hold_until) {
      std::this_thread::sleep_for(100ms);
    }
    if (auto st = observe(); !st.isOk()) {
      return fail(st.message());
    }
  }
  in.fault_end_ms = nowMs();
  if (auto st = setPodBehaviour(bad, R"({"recover": true})"); !st.isOk()) {
    return fail(st.message());
  }
  // Until every ejecting client has returned the pod and sent it a request again, or the return is
  // overdue.
  int64_t due = ejection_only ? 0 : in.fault_end_ms;
  for (const Client& c : clients) {
    if (ejection_only) {
      break;
    }
    if (auto ejected_at = firstSince(c, validate::EjectionEvent::Kind::Ejected)) {
      due = std::max(due, *ejected_at + core::toMillis(base + interval) + 3000);
    }
  }
  for (;;) {
    if (auto st = observe(); !st.isOk()) {
      return fail(st.message());
    }
    const bool done = std::all_of(clients.begin(), clients.end(), [&](const Client& c) {
      if (!firstSince(c, validate::EjectionEvent::Kind::Ejected)) {
        return true;
      }
      const auto back = firstSince(c, validate::EjectionEvent::Kind::Unejected);
      const auto& list = served[c.name];
      return back && !list.empty() && list.back().unix_ms >= *back;
    });
    if (done || ejection_only || nowMs() > due) {
      break;
    }
    std::this_thread::sleep_for(250ms);
  }
  in.observe_end_ms = nowMs();
  auto client_load = load.stop();
  if (!client_load) {
    err << cmd << client_load.status().message() << '\n';
    return kExitUsage;
  }
  for (const Client& c : clients) {
    in.clients.push_back({c.name, served[c.name], events[c.name], enforcedEjections(c, cluster)});
  }
  const validate::BreakerResult r = validate::evaluateBreaker(in);
  uint64_t client_failed = 0;
  for (const auto& [status, count] : client_load->status_counts) {
    if (status == 0 || status >= 500) {
      client_failed += count;
    }
  }
  if (options.json) {
    nlohmann::json per_client = nlohmann::json::array();
    for (const validate::BreakerClientResult& c : r.clients) {
      auto opt = [](const std::optional<int64_t>& ms) {
        return ms ? nlohmann::json(
                        core::formatIso8601(core::WallTime(std::chrono::milliseconds(*ms))))
                  : nlohmann::json(nullptr);
      };
      per_client.push_back({{"client", c.name},
                            {"verdict", validate::verdictName(c.verdict)},
                            {"reason", c.reason},
                            {"failuresBeforeEjection", c.failures_before_ejection},
                            {"ejectedAt", opt(c.ejected_ms)},
                            {"returnedAt", opt(c.returned_ms)},
                            {"firstServedAfterReturn", opt(c.back_ms)},
                            {"ejectedForMs", c.ejected_ms && c.returned_ms
                                                 ? nlohmann::json(*c.returned_ms - *c.ejected_ms)
                                                 : nlohmann::json(nullptr)},
                            {"servedWhileEjected", c.served_while_ejected}});
    }
    nlohmann::json timeline = nlohmann::json::array();
    for (const validate::TimelineEntry& e : r.timeline) {
      timeline.push_back(
          {{"time", core::formatIso8601(core::WallTime(std::chrono::milliseconds(e.unix_ms)))},
           {"event", e.what}});
    }
    out << verdictRecord("breaker", validate::verdictName(r.verdict), r.reason, cfg.host, started,
                         {{"subset", cfg.subset},
                          {"inputs",
                           {{"pod", bad.name},
                            {"cluster", cluster},
                            {"consecutive5xxErrors", n},
                            {"intervalMs", core::toMillis(interval)},
                            {"baseEjectionTimeMs", core::toMillis(base)},
                            {"returnChecked", !ejection_only},
                            {"rate", lo.rate},
                            {"seed", options.seed}}},
                          {"measured",
                           {{"clients", per_client},
                            {"clientRequests", client_load->requests},
                            {"clientFailed", client_failed}}},
                          {"timeline", timeline}})
               .dump(2)
        << '\n';
  } else {
    out << "breaker of " << cfg.host << " subset " << cfg.subset << ": "
        << validate::verdictName(r.verdict) << " — " << r.reason << '\n';
    for (const validate::BreakerClientResult& c : r.clients) {
      out << "  " << std::left << std::setw(22) << c.name << std::right
          << validate::verdictName(c.verdict) << "  5xx it was sent " << c.failures_before_ejection
          << ", out for ";
      if (c.ejected_ms && c.returned_ms) {
        out << std::fixed << std::setprecision(1)
            << static_cast<double>(*c.returned_ms - *c.ejected_ms) / 1000.0 << " s";
      } else {
        out << "-";
      }
      out << ", served while out " << c.served_while_ejected << '\n';
    }
    out << "  client: " << client_load->requests << " requests, " << client_failed << " failed"
        << (client_failed == 0 ? " (retries hid the failing pod's 503s)" : "") << '\n';
  }
  return r.verdict == validate::Verdict::Pass ? kExitOk : kExitCheckFailed;
}

} // namespace meshproof::cli
