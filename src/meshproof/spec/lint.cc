#include "meshproof/spec/lint.h"

#include <re2/re2.h>

#include <algorithm>
#include <functional>
#include <set>

namespace meshproof::spec {
namespace {

void warn(Diagnostics& out, std::string_view rule, const SourceLocation& loc,
          const ObjectMeta& meta, std::string path, std::string message) {
  out.push_back(
      {Severity::Warning, loc, meta.ref(), std::move(path), std::move(message), std::string(rule)});
}

std::string retryOnText(const RetryPolicy& p) {
  static constexpr std::pair<RetryOn, std::string_view> kNames[] = {
      {RetryOn::Http5xx, "5xx"},
      {RetryOn::GatewayError, "gateway-error"},
      {RetryOn::Reset, "reset"},
      {RetryOn::Retriable4xx, "retriable-4xx"},
      {RetryOn::RetriableHeaders, "retriable-headers"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (p.has(bit)) {
      out += (out.empty() ? "" : ",") + std::string(name);
    }
  }
  for (uint32_t code : p.retriable_status_codes) {
    out += (out.empty() ? "" : ",") + std::to_string(code);
  }
  return out;
}

bool stringMatches(const StringMatch& m, const std::string& value) {
  switch (m.kind) {
  case StringMatch::Kind::Exact:
    return value == m.value;
  case StringMatch::Kind::Prefix:
    return value.compare(0, m.value.size(), m.value) == 0;
  case StringMatch::Kind::Regex: {
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(m.value, options);
    return re.ok() && RE2::FullMatch(value, re);
  }
  }
  return false;
}

// True when some request with this method could match the route (conditions other than the method
// are assumed satisfiable).
bool routeAcceptsMethod(const HttpRoute& r, const std::string& method) {
  if (r.match.empty()) {
    return true;
  }
  return std::any_of(r.match.begin(), r.match.end(), [&](const HttpMatchRequest& m) {
    return !m.method || stringMatches(*m.method, method);
  });
}

// The routes a request from a caller could take: those whose method/uri conditions admit it, in
// order, up to and including the first that matches unconditionally.
std::vector<const HttpRoute*> candidateRoutes(const Spec& spec, const std::string& host,
                                              const Call* call) {
  std::vector<const HttpRoute*> out;
  for (const VirtualService* vs : spec.virtualServicesFor(host)) {
    for (const HttpRoute& r : vs->http) {
      bool may_match = r.match.empty();
      bool surely_matches = r.match.empty();
      for (const HttpMatchRequest& m : r.match) {
        bool ok = true;
        if (call != nullptr && m.method && !stringMatches(*m.method, call->method)) {
          ok = false;
        }
        if (call != nullptr && m.uri && !stringMatches(*m.uri, call->path)) {
          ok = false;
        }
        may_match = may_match || ok;
        const bool unconditional = m.headers.empty() && m.without_headers.empty() &&
                                   m.query_params.empty() && !m.authority && !m.scheme && !m.port &&
                                   (call != nullptr || (!m.method && !m.uri));
        surely_matches = surely_matches || (ok && unconditional);
      }
      if (may_match) {
        out.push_back(&r);
      }
      if (surely_matches) {
        return out;
      }
    }
    if (!out.empty()) {
      return out; // Istio merges VirtualServices per host; the first one listing the host wins here
    }
  }
  return out;
}

void lintEjectionCap(const Spec& spec, Diagnostics& out) {
  for (const DestinationRule& dr : spec.destination_rules) {
    // Clusters that take traffic: the whole host when some route or caller uses it without a
    // subset (or nothing routes by subset), and each subset.
    bool host_cluster_used = spec.virtualServicesFor(dr.host).empty();
    for (const VirtualService* vs : spec.virtualServicesFor(dr.host)) {
      for (const HttpRoute& r : vs->http) {
        for (const RouteDestination& rd : r.route) {
          if (sameHost(rd.destination.host, dr.host) && rd.destination.subset.empty()) {
            host_cluster_used = true;
          }
        }
      }
    }
    struct Cluster {
      std::string name;
      uint32_t endpoints;
      const TrafficPolicy* policy;
    };
    std::vector<Cluster> clusters;
    if (host_cluster_used) {
      clusters.push_back({dr.host, spec.endpointCount(dr.host, {}), &dr.traffic_policy});
    }
    for (const Subset& s : dr.subsets) {
      clusters.push_back(
          {"subset " + s.name, spec.endpointCount(dr.host, s.labels), &s.traffic_policy});
    }
    // One warning per outlierDetection block, listing the clusters it cannot protect.
    std::map<std::string, std::vector<const Cluster*>> by_block;
    for (const Cluster& c : clusters) {
      const auto& od = c.policy->outlier_detection;
      if (!od || c.endpoints == 0) {
        continue;
      }
      if (od->consecutive_5xx_errors == 0 && od->consecutive_gateway_errors == 0) {
        continue; // detection is off; nothing to cap
      }
      const uint64_t cap = uint64_t{c.endpoints} * od->max_ejection_percent / 100;
      if (cap == 0) {
        by_block[c.policy->path].push_back(&c);
      }
    }
    for (const auto& [path, list] : by_block) {
      const OutlierDetection& od = *list.front()->policy->outlier_detection;
      std::string detail;
      for (const Cluster* c : list) {
        detail += (detail.empty() ? "" : ", ") + c->name + " (" + std::to_string(c->endpoints) +
                  (c->endpoints == 1 ? " endpoint)" : " endpoints)");
      }
      uint32_t n = list.front()->endpoints;
      for (const Cluster* c : list) {
        n = std::min(n, c->endpoints);
      }
      const uint32_t needed = (100 + n - 1) / n;
      warn(out, kRuleEjectionCap, od.max_ejection_percent_location, dr.meta,
           path + ".outlierDetection.maxEjectionPercent",
           "maxEjectionPercent " + std::to_string(od.max_ejection_percent) +
               " can never eject a host from " + detail + ": floor(" + std::to_string(n) + " x " +
               std::to_string(od.max_ejection_percent) +
               " / 100) = 0, so failing pods keep receiving traffic (Envoy only counts "
               "ejections_overflow); raise it to at least " +
               std::to_string(std::min<uint32_t>(needed, 100)));
    }
  }
}

void lintRoutes(const Spec& spec, Diagnostics& out) {
  static const std::vector<std::string> kUnsafeMethods{"POST", "PATCH", "CONNECT"};
  for (const VirtualService& vs : spec.virtual_services) {
    for (const HttpRoute& r : vs.http) {
      const RetryPolicy& p = r.retries;
      if (p.enabled && !p.from_default && !p.retry_on_set) {
        warn(out, kRuleRetryWithoutRetryOn, p.location, vs.meta, r.path + ".retries",
             "attempts " + std::to_string(p.num_retries) +
                 " without retryOn uses Istio's default retryOn (" + kDefaultRetryOn +
                 "), so 5xx responses and timeouts are not retried");
      }
      if (p.enabled && p.per_try_timeout && r.timeout && *p.per_try_timeout >= *r.timeout) {
        warn(out, kRulePerTryTimeoutIgnored, p.location, vs.meta, r.path + ".retries.perTryTimeout",
             "perTryTimeout " + core::formatDuration(*p.per_try_timeout) + " >= timeout " +
                 core::formatDuration(*r.timeout) +
                 ": Envoy ignores the per-try timeout, so a hung attempt takes the whole route "
                 "timeout and is never retried");
      }
      if (p.retriesAfterSend()) {
        std::vector<std::string> unsafe;
        for (const std::string& m : kUnsafeMethods) {
          if (routeAcceptsMethod(r, m)) {
            unsafe.push_back(m);
          }
        }
        if (!unsafe.empty()) {
          std::string methods;
          for (const auto& m : unsafe) {
            methods += (methods.empty() ? "" : "/") + m;
          }
          warn(out, kRuleRetryNonIdempotent, p.location, vs.meta, r.path + ".retries.retryOn",
               "retryOn " + retryOnText(p) +
                   " re-sends requests the upstream may already have "
                   "processed, and this route also matches " +
                   methods +
                   " requests, which can be applied twice; restrict the route to idempotent "
                   "methods or retry only on connect-failure,refused-stream,reset-before-request");
        }
      }
      if (r.route.size() == 1 && r.route.front().weight_set && r.route.front().weight != 100) {
        const RouteDestination& rd = r.route.front();
        warn(out, kRuleSingleDestinationWeight, rd.weight_location, vs.meta,
             r.path + ".route[0].weight",
             "weight " + std::to_string(rd.weight) +
                 " on the only destination has no effect: a single destination receives 100% of "
                 "the traffic");
      }
    }
  }
}

void lintSubsets(const Spec& spec, Diagnostics& out) {
  for (const DestinationRule& dr : spec.destination_rules) {
    for (size_t i = 0; i < dr.subsets.size(); ++i) {
      const Subset& s = dr.subsets[i];
      if (spec.endpointCount(dr.host, s.labels) != 0) {
        continue;
      }
      std::string selector;
      for (const auto& [k, v] : s.labels) {
        selector += (selector.empty() ? "" : ",") + k + "=" + v;
      }
      warn(out, kRuleSubsetNoEndpoints, s.location, dr.meta,
           "spec.subsets[" + std::to_string(i) + "]",
           "subset " + s.name + " selects no endpoint of " + dr.host + " (no Workload or " +
               "ServiceEntry endpoint has labels " + (selector.empty() ? "{}" : selector) +
               "), so requests routed to it get 503 no healthy upstream (UH)");
    }
  }
}

// A Workload whose `labels.version` is not its `version`: its pods run one version and subsets
// select them as another, so a canary split by version label is not the split users get.
void lintVersionLabels(const Spec& spec, Diagnostics& out) {
  for (const Workload& w : spec.workloads) {
    auto it = w.labels.find("version");
    if (it == w.labels.end() || it->second == w.version) {
      continue;
    }
    warn(out, kRuleVersionLabelMismatch, w.meta.location, w.meta, "spec.labels.version",
         "pods of " + w.meta.name + " run version " + w.version +
             " but are labelled version=" + it->second + ", so DestinationRule subsets route " +
             it->second + "'s share of traffic to them too");
  }
}

// Retry amplification along the call graph (istio#40091): when several hops on one path retry 5xx
// responses, one failure at the bottom is attempted prod(1 + attempts) times.
void lintAmplification(const Spec& spec, Diagnostics& out) {
  struct Hop {
    std::string from;
    std::string to;
    uint64_t factor;
    const HttpRoute* route;
    const VirtualService* vs;
  };
  std::set<std::string> reported;
  std::vector<Hop> path;

  std::function<void(const std::string&, const std::string&, const Call*, int)> visit =
      [&](const std::string& from, const std::string& host, const Call* call, int depth) {
        if (depth > 16) {
          return;
        }
        for (const Hop& h : path) {
          if (sameHost(h.to, host)) {
            return; // a call cycle; amplification is unbounded but reported elsewhere
          }
        }
        uint64_t factor = 1;
        const HttpRoute* worst = nullptr;
        const VirtualService* worst_vs = nullptr;
        for (const HttpRoute* r : candidateRoutes(spec, host, call)) {
          if (r->retries.retries5xx() && 1 + uint64_t{r->retries.num_retries} > factor) {
            factor = 1 + uint64_t{r->retries.num_retries};
            worst = r;
            for (const VirtualService* vs : spec.virtualServicesFor(host)) {
              if (r >= vs->http.data() && r < vs->http.data() + vs->http.size()) {
                worst_vs = vs;
              }
            }
          }
        }
        path.push_back({from, host, factor, worst, worst_vs});
        std::vector<const Hop*> retrying;
        uint64_t product = 1;
        for (const Hop& h : path) {
          product *= h.factor;
          if (h.factor > 1) {
            retrying.push_back(&h);
          }
        }
        if (retrying.size() >= 2 && retrying.back() == &path.back()) {
          const Hop& last = path.back();
          std::string chain = path.front().from;
          std::string factors;
          for (const Hop& h : path) {
            chain += " -> " + h.to;
            factors += (factors.empty() ? "" : " x ") + std::to_string(h.factor);
          }
          const std::string key = last.vs->meta.ref() + last.route->path + chain;
          if (reported.insert(key).second) {
            warn(out, kRuleRetryAmplification, last.route->retries.location, last.vs->meta,
                 last.route->path + ".retries",
                 "retries compound along " + chain + ": one failing request at " + last.to +
                     " is attempted up to " + std::to_string(product) + " times (" + factors +
                     "); retry 5xx at one hop only");
          }
        }
        for (const Workload* w : spec.workloadsFor(host)) {
          for (const Call& c : w->calls) {
            visit(w->app, c.host, &c, depth + 1);
          }
        }
        path.pop_back();
      };

  std::set<std::string> called;
  for (const Workload& w : spec.workloads) {
    for (const Call& c : w.calls) {
      called.insert(shortHost(c.host));
    }
  }
  for (const Gateway& g : spec.gateways) {
    visit("gateway/" + g.meta.name, g.host, nullptr, 0);
  }
  // Workloads nobody calls and no gateway fronts are entry points too.
  for (const Workload& w : spec.workloads) {
    const bool fronted = std::any_of(spec.gateways.begin(), spec.gateways.end(),
                                     [&](const Gateway& g) { return sameHost(g.host, w.app); });
    if (called.count(w.app) == 0 && !fronted) {
      for (const Call& c : w.calls) {
        visit(w.app, c.host, &c, 1);
      }
    }
  }
}

} // namespace

const std::vector<LintRule>& lintRules() {
  static const std::vector<LintRule> kRules{
      {kRuleEjectionCap, "maxEjectionPercent too small to eject any host at the endpoint count"},
      {kRuleRetryWithoutRetryOn, "attempts without retryOn: 5xx responses are not retried"},
      {kRulePerTryTimeoutIgnored, "perTryTimeout >= timeout: the per-try timeout is ignored"},
      {kRuleRetryNonIdempotent, "retries after sending may repeat non-idempotent requests"},
      {kRuleSingleDestinationWeight, "a weight on a single destination has no effect"},
      {kRuleSubsetNoEndpoints, "a subset selects no endpoint"},
      {kRuleRetryAmplification, "retries on 5xx at several hops of one call path multiply"},
      {kRuleVersionLabelMismatch, "a Workload's version label differs from its version"},
  };
  return kRules;
}

Diagnostics lint(const Spec& spec) {
  Diagnostics out;
  lintEjectionCap(spec, out);
  lintRoutes(spec, out);
  lintSubsets(spec, out);
  lintAmplification(spec, out);
  lintVersionLabels(spec, out);
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.location.file, a.location.line, a.location.column) <
           std::tie(b.location.file, b.location.line, b.location.column);
  });
  return out;
}

} // namespace meshproof::spec
