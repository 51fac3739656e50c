// prometheus/: alert rules (two profiles), their promtool unit tests, and the scrape config.
//
// Which side reports what (istio-envoy-semantics.md §3, prometheus-grafana.md §4.5):
//   latency and errors: reporter="source", what callers see, including the mesh's own faults (a
//     VirtualService delay is applied by the caller's proxy) and its local replies (UH, UO, UT);
//   throughput: reporter="destination", every request that reached the service's pods, also from
//     callers outside the mesh;
//   breaker: Envoy's outlier gauge per client proxy and cluster, and the UO/UH response flags.
// Series are grouped by (destination_service_namespace, destination_service_name): Istio's
// identity of a service, the same on a cluster and on the local mesh.

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "meshproof/metrics/metrics.h"
#include "meshproof/render/render.h"
#include "meshproof/render/yaml_out.h"

namespace meshproof::render {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBy = "destination_service_namespace, destination_service_name";
constexpr const char* kRunbookAnchor = "runbooks.md#";

struct AlertRule {
  std::string alert;
  std::string expr;
  core::Duration for_duration{};
  std::string severity;
  std::string summary;
  std::string description;
};

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Prometheus duration text: whole seconds or minutes ("20s", "5m", "1h").
std::string promDuration(core::Duration d) {
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s > 0 && s % 3600 == 0) {
    return std::to_string(s / 3600) + "h";
  }
  if (s > 0 && s % 60 == 0) {
    return std::to_string(s / 60) + "m";
  }
  return std::to_string(s) + "s";
}

double seconds(core::Duration d) {
  return std::chrono::duration<double>(d).count();
}

double thresholdMs(const spec::Sprint& sprint) {
  return std::chrono::duration<double, std::milli>(sprint.alerts.latency_p95).count();
}

// A number as PromQL and YAML want it: integers without a fraction, others shortest exact-ish.
std::string num(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt("%.0f", v);
  }
  return fmt("%.10g", v);
}

// The services the spec deploys (Workload apps, then ServiceEntry hosts), namespace and short name.
std::vector<std::pair<std::string, std::string>> services(const spec::Spec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const std::string& ns, const std::string& name) {
    for (const auto& s : out) {
      if (s.first == ns && s.second == name) {
        return;
      }
    }
    out.emplace_back(ns, name);
  };
  for (const auto& w : spec.workloads) {
    add(w.meta.name_space, w.app);
  }
  for (const auto& se : spec.service_entries) {
    for (const auto& h : se.hosts) {
      add(se.meta.name_space, spec::shortHost(h));
    }
  }
  return out;
}

std::vector<AlertRule> rules(const spec::Spec& spec, const AlertProfile& p) {
  const spec::Sprint& sprint = *spec.sprint;
  const spec::Alerts& a = sprint.alerts;
  const std::string w = promDuration(p.rate_window);
  const std::string tw = promDuration(p.throughput_window);
  const std::string ms = num(thresholdMs(sprint));
  std::vector<AlertRule> out;

  out.push_back(
      {"MeshHighLatencyP95",
       "histogram_quantile(0.95, sum by (le, " + std::string(kBy) +
           ") (rate(istio_request_duration_milliseconds_bucket{reporter=\"source\"}[" + w +
           "]))) > " + ms,
       p.for_latency, "warning",
       "P95 latency of {{ $labels.destination_service_name }} above " + ms + " ms",
       "P95 latency of {{ $labels.destination_service_name }}.{{ "
       "$labels.destination_service_namespace }} as its callers see it is {{ $value | printf "
       "\"%.0f\" }} ms over the last " +
           w + " (objective: at most " + ms + " ms)."});

  const double ratio = a.error_rate_percent / 100.0;
  const std::string total = "sum by (" + std::string(kBy) +
                            ") (rate(istio_requests_total{reporter=\"source\"}[" + w + "]))";
  out.push_back(
      {"MeshHighErrorRate",
       "(\n  sum by (" + std::string(kBy) +
           ") (rate(istio_requests_total{reporter=\"source\",response_code=~\"5..\"}[" + w +
           "]))\n/\n  " + total + "\n) > " + num(ratio) + "\nand\n" + total + " > " +
           num(a.min_throughput_rps),
       p.for_errors, "critical",
       "5xx ratio of {{ $labels.destination_service_name }} above " + num(a.error_rate_percent) +
           " %",
       "{{ $value | humanizePercentage }} of the requests to {{ "
       "$labels.destination_service_name }}.{{ $labels.destination_service_namespace }} got a 5xx "
       "over the last " +
           w + " (objective: at most " + num(a.error_rate_percent) + " %; counted only above " +
           num(a.min_throughput_rps) + " requests/s)."});

  if (a.min_throughput_rps > 0) {
    // A service that never reported has no series for rate() to be low on: absent() stands in
    // for it as 0 requests/s (its matchers' labels, summed down to the service's identity).
    std::string expr = "sum by (" + std::string(kBy) +
                       ") (rate(istio_requests_total{reporter=\"destination\"}[" + tw + "])) < " +
                       num(a.min_throughput_rps);
    for (const auto& [ns, name] : services(spec)) {
      expr += "\nor\n(sum by (" + std::string(kBy) +
              ") (absent(istio_requests_total{reporter=\"destination\","
              "destination_service_namespace=\"" +
              ns + "\",destination_service_name=\"" + name + "\"})) - 1)";
    }
    out.push_back({"MeshLowThroughput", expr, p.for_throughput, "warning",
                   "Throughput of {{ $labels.destination_service_name }} below " +
                       num(a.min_throughput_rps) + " requests/s",
                   "{{ $labels.destination_service_name }}.{{ "
                   "$labels.destination_service_namespace }} served {{ $value | printf \"%.2f\" "
                   "}} requests/s over the last " +
                       tw + " (expected at least " + num(a.min_throughput_rps) +
                       "; a service with no series at all counts as 0)."});
  }

  if (a.breaker) {
    out.push_back({"MeshOutlierEjection",
                   "max by (cluster_name) (envoy_cluster_outlier_detection_ejections_active) > 0",
                   p.for_breaker, "warning", "A host of {{ $labels.cluster_name }} is ejected",
                   "At least one client proxy has {{ $value }} host(s) of {{ "
                   "$labels.cluster_name }} ejected by outlier detection (consecutive 5xx or "
                   "gateway errors)."});
    auto flag = [&](const char* name, const char* f, const char* severity, const char* summary,
                    const char* meaning) {
      out.push_back(
          {name,
           "sum by (" + std::string(kBy) +
               ") (rate(istio_requests_total{reporter=\"source\",response_flags=~\"(.*,)?" + f +
               "(,.*)?\"}[" + w + "])) > 0",
           p.for_breaker, severity,
           std::string(summary) + " on {{ $labels.destination_service_name }}",
           "{{ $value | printf \"%.2f\" }} requests/s to {{ $labels.destination_service_name "
           "}}.{{ $labels.destination_service_namespace }} were answered by the caller's proxy "
           "with 503 " +
               std::string(f) + " (" + meaning + ") over the last " + w + "."});
    };
    flag("MeshCircuitBreakerOverflow", "UO", "critical", "Circuit breaker open",
         "upstream overflow: a connection-pool limit was reached");
    flag("MeshNoHealthyUpstream", "UH", "critical", "No healthy upstream",
         "no healthy host: every endpoint ejected or not ready");
  }
  return out;
}

std::string groupName(const spec::Spec& spec, const AlertProfile& p) {
  return "meshproof-" + spec.sprint->name + "-" + p.name;
}

} // namespace

AlertProfile clusterProfile() {
  return {"cluster", 15s, 5min, 5min, 5min, 5min, 10min, 1min};
}
AlertProfile labProfile() {
  return {"lab", 1s, 20s, 20s, 10s, 10s, 15s, 5s};
}

std::vector<std::string> alertNames(const spec::Sprint& sprint) {
  std::vector<std::string> names{"MeshHighLatencyP95", "MeshHighErrorRate"};
  if (sprint.alerts.min_throughput_rps > 0) {
    names.emplace_back("MeshLowThroughput");
  }
  if (sprint.alerts.breaker) {
    names.insert(names.end(),
                 {"MeshOutlierEjection", "MeshCircuitBreakerOverflow", "MeshNoHealthyUpstream"});
  }
  return names;
}

std::string renderRules(const spec::Spec& spec, const AlertProfile& profile) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << groupName(spec, profile);
  e << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (const AlertRule& r : rules(spec, profile)) {
    e << YAML::BeginMap;
    e << YAML::Key << "alert" << YAML::Value << r.alert;
    e << YAML::Key << "expr" << YAML::Value;
    if (r.expr.find('\n') != std::string::npos) {
      e << YAML::Literal;
    }
    e << r.expr;
    e << YAML::Key << "for" << YAML::Value << promDuration(r.for_duration);
    e << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "severity" << YAML::Value << r.severity;
    e << YAML::Key << "profile" << YAML::Value << profile.name;
    e << YAML::EndMap;
    e << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "summary" << YAML::Value << r.summary;
    e << YAML::Key << "description" << YAML::Value << r.description;
    e << YAML::Key << "runbook_url" << YAML::Value
      << std::string(kRunbookAnchor) + lowerAscii(r.alert);
    e << YAML::EndMap;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  return "# Rendered by `meshproof render` from Sprint/" + spec.sprint->name + " (profile " +
         profile.name + ": rate windows " + promDuration(profile.rate_window) +
         "). Do not edit:\n# change the spec's alerts and render again.\n" + e.c_str() + "\n";
}

// ---------------------------------------------------------------------------------------------
// promtool unit tests
// ---------------------------------------------------------------------------------------------
namespace {

struct Series {
  std::string series;
  std::string values;
};

struct ExpAlert {
  std::vector<std::pair<std::string, std::string>> labels;
  std::string description; // empty: not asserted (then the summary is not either)
  std::string summary;
};

struct AlertCheck {
  core::Duration eval_time{};
  std::string alert;
  std::vector<ExpAlert> expected; // empty: nothing firing
};

struct TestCase {
  std::string name;
  std::vector<Series> input;
  std::vector<AlertCheck> checks;
};

// Substitutes {{ $labels.X }}, {{ $value | ... }} in `tmpl` the way Prometheus would for the
// annotation values these tests expect; `value` is the already formatted $value.
std::string expand(std::string tmpl, const std::vector<std::pair<std::string, std::string>>& labels,
                   const std::string& value) {
  for (const auto& [k, v] : labels) {
    const std::string key = "{{ $labels." + k + " }}";
    for (size_t pos; (pos = tmpl.find(key)) != std::string::npos;) {
      tmpl.replace(pos, key.size(), v);
    }
  }
  const size_t open = tmpl.find("{{ $value");
  if (open != std::string::npos) {
    const size_t close = tmpl.find("}}", open);
    tmpl.replace(open, close + 2 - open, value);
  }
  return tmpl;
}

std::string labelSet(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    out += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
  }
  return out + "}";
}

// "a+bxn": a counter growing by b per step over n steps.
std::string counter(double start, double step, int64_t n) {
  return num(start) + "+" + num(step) + "x" + std::to_string(n);
}

const AlertRule& ruleOf(const std::vector<AlertRule>& all, const std::string& name) {
  for (const AlertRule& r : all) {
    if (r.alert == name) {
      return r;
    }
  }
  return all.front(); // alertNames() and rules() agree; not reached
}

std::vector<TestCase> testCases(const spec::Spec& spec, const AlertProfile& p) {
  const spec::Sprint& sprint = *spec.sprint;
  const spec::Alerts& a = sprint.alerts;
  const std::vector<AlertRule> all = rules(spec, p);
  const auto svcs = services(spec);
  const std::pair<std::string, std::string> svc =
      svcs.empty() ? std::make_pair(std::string("default"), std::string("reviews")) : svcs.front();
  const std::vector<std::pair<std::string, std::string>> id{
      {"destination_service_namespace", svc.first}, {"destination_service_name", svc.second}};
  const double step = seconds(p.scrape_interval);
  const std::string prof = p.name;
  std::vector<TestCase> out;

  auto samples = [&](core::Duration window, core::Duration for_d) {
    return static_cast<int64_t>(std::ceil(seconds(window + for_d) / step)) + 4;
  };
  auto evalAt = [&](int64_t n) { return p.scrape_interval * (n - 1); };
  auto withLabels = [&](std::vector<std::pair<std::string, std::string>> l,
                        const std::string& severity) {
    l.insert(l.begin(), {"severity", severity});
    l.emplace_back("profile", prof);
    return l;
  };
  auto expected = [&](const AlertRule& r, std::vector<std::pair<std::string, std::string>> l,
                      const std::string& value) {
    ExpAlert x;
    x.summary = expand(r.summary, l, value);
    x.description = expand(r.description, l, value);
    x.labels = withLabels(std::move(l), r.severity);
    return x;
  };
  // Checks that a rule with `for` of two steps or more is not firing yet half-way through it
  // (its condition holds from the second sample on): the `for:` is really there.
  auto pendingCheck = [&](const AlertRule& r) {
    std::vector<AlertCheck> c;
    if (r.for_duration >= 2 * p.scrape_interval) {
      c.push_back({r.for_duration / 2, r.alert, {}});
    }
    return c;
  };

  // --- latency: every request in the Envoy bucket just above / below the objective.
  {
    const AlertRule& r = ruleOf(all, "MeshHighLatencyP95");
    const double t = thresholdMs(sprint);
    const auto& b = metrics::envoyDefaultBuckets();
    size_t hi = 0;
    while (hi < b.size() && b[hi] < t) {
      ++hi;
    }
    const int64_t n = samples(p.rate_window, r.for_duration);
    auto histogram = [&](double lower, double upper) {
      std::vector<Series> s;
      auto le = [&](const std::string& bound, bool counts) {
        auto l = id;
        l.insert(l.begin(), {"reporter", "source"});
        l.emplace_back("le", bound);
        s.push_back({"istio_request_duration_milliseconds_bucket" + labelSet(l),
                     counts ? counter(0, 60, n) : "0x" + std::to_string(n)});
      };
      if (lower > 0) {
        le(num(lower), false);
      }
      le(num(upper), true);
      le("+Inf", true);
      return s;
    };
    if (hi + 1 < b.size()) { // an objective beyond the last bucket can never be exceeded
      const double lo = b[hi];
      const double up = b[hi + 1];
      TestCase fire{"MeshHighLatencyP95 fires when P95 is above " + num(t) + " ms",
                    histogram(lo, up), pendingCheck(r)};
      fire.checks.push_back(
          {evalAt(n), r.alert, {expected(r, id, fmt("%.0f", lo + 0.95 * (up - lo)))}});
      out.push_back(std::move(fire));
    }
    if (hi > 0) {
      const double up = b[hi - 1];
      const double lo = hi >= 2 ? b[hi - 2] : 0.0;
      out.push_back({"MeshHighLatencyP95 stays silent when P95 is below " + num(t) + " ms",
                     histogram(lo, up),
                     {{evalAt(n), r.alert, {}}}});
    }
  }

  // --- error rate: a ratio half-way between the objective and 100 %, and half the objective.
  {
    const AlertRule& r = ruleOf(all, "MeshHighErrorRate");
    const int64_t n = samples(p.rate_window, r.for_duration);
    const double per_step = std::max(100.0, std::ceil(a.min_throughput_rps * step * 2));
    auto input = [&](double ratio) {
      const double bad = std::round(per_step * ratio);
      std::vector<Series> s;
      for (const auto& [code, inc] : {std::pair<std::string, double>{"200", per_step - bad},
                                      std::pair<std::string, double>{"503", bad}}) {
        auto l = id;
        l.insert(l.begin(), {"reporter", "source"});
        l.emplace_back("response_code", code);
        s.push_back({"istio_requests_total" + labelSet(l), counter(0, inc, n)});
      }
      return std::make_pair(s, bad / per_step);
    };
    const double objective = a.error_rate_percent / 100.0;
    if (objective < 1.0) {
      auto [series, actual] = input((objective + 1.0) / 2.0);
      TestCase fire{"MeshHighErrorRate fires above " + num(a.error_rate_percent) + " % 5xx", series,
                    pendingCheck(r)};
      fire.checks.push_back(
          {evalAt(n), r.alert, {expected(r, id, fmt("%.4g", actual * 100) + "%")}});
      out.push_back(std::move(fire));
    }
    out.push_back({"MeshHighErrorRate stays silent below " + num(a.error_rate_percent) + " % 5xx",
                   input(objective / 2.0).first,
                   {{evalAt(n), r.alert, {}}}});
    // The minimum-traffic guard: the same failing ratio at a trickle does not alert.
    if (objective < 1.0 && a.min_throughput_rps > 0) {
      std::vector<Series> trickle;
      const double total = a.min_throughput_rps * step / 2.0; // half the guard's rate
      const double f = (objective + 1.0) / 2.0;
      for (const auto& [code, share] : {std::pair<std::string, double>{"200", 1.0 - f},
                                        std::pair<std::string, double>{"503", f}}) {
        auto l = id;
        l.insert(l.begin(), {"reporter", "source"});
        l.emplace_back("response_code", code);
        trickle.push_back({"istio_requests_total" + labelSet(l), counter(0, total * share, n)});
      }
      out.push_back({"MeshHighErrorRate stays silent below " + num(a.min_throughput_rps) +
                         " requests/s (minimum-traffic guard)",
                     trickle,
                     {{evalAt(n), r.alert, {}}}});
    }
  }

  // --- throughput: every service idle (rate 0), every service busy, one service absent.
  if (a.min_throughput_rps > 0) {
    const AlertRule& r = ruleOf(all, "MeshLowThroughput");
    const int64_t n = samples(p.throughput_window, r.for_duration);
    auto input = [&](double inc, size_t skip) {
      std::vector<Series> s;
      for (size_t i = 0; i < svcs.size(); ++i) {
        if (i == skip) {
          continue;
        }
        s.push_back(
            {"istio_requests_total" + labelSet({{"reporter", "destination"},
                                                {"destination_service_namespace", svcs[i].first},
                                                {"destination_service_name", svcs[i].second},
                                                {"response_code", "200"}}),
             counter(50, inc, n)});
      }
      return s;
    };
    TestCase idle{"MeshLowThroughput fires when every service is idle", input(0, svcs.size()),
                  pendingCheck(r)};
    std::vector<ExpAlert> idle_alerts;
    idle_alerts.reserve(svcs.size());
    for (const auto& [ns, name] : svcs) {
      idle_alerts.push_back(expected(
          r, {{"destination_service_namespace", ns}, {"destination_service_name", name}}, "0.00"));
    }
    idle.checks.push_back({evalAt(n), r.alert, idle_alerts});
    out.push_back(std::move(idle));
    const double busy = std::ceil(a.min_throughput_rps * step * 4);
    out.push_back({"MeshLowThroughput stays silent at " + num(busy / step) + " requests/s",
                   input(busy, svcs.size()),
                   {{evalAt(n), r.alert, {}}}});
    if (!svcs.empty()) {
      TestCase absent{"MeshLowThroughput fires when " + svcs.front().second +
                          " has no series at all",
                      input(busy, 0),
                      {}};
      absent.checks.push_back({evalAt(n),
                               r.alert,
                               {expected(r,
                                         {{"destination_service_namespace", svcs.front().first},
                                          {"destination_service_name", svcs.front().second}},
                                         "0.00")}});
      out.push_back(std::move(absent));
    }
  }

  if (a.breaker) {
    const AlertRule& r = ruleOf(all, "MeshOutlierEjection");
    const int64_t n = samples(0s, r.for_duration);
    const std::string cluster =
        "outbound|80|v1|" + svc.second + "." + svc.first + ".svc.cluster.local";
    auto gauge = [&](int v) {
      return std::vector<Series>{{"envoy_cluster_outlier_detection_ejections_active" +
                                      labelSet({{"cluster_name", cluster}}),
                                  std::to_string(v) + "x" + std::to_string(n)}};
    };
    TestCase fire{"MeshOutlierEjection fires while a host is ejected", gauge(1), {}};
    fire.checks.push_back({evalAt(n), r.alert, {expected(r, {{"cluster_name", cluster}}, "1")}});
    out.push_back(std::move(fire));
    out.push_back({"MeshOutlierEjection stays silent with no host ejected",
                   gauge(0),
                   {{evalAt(n), r.alert, {}}}});
    for (const char* name : {"MeshCircuitBreakerOverflow", "MeshNoHealthyUpstream"}) {
      const AlertRule& fr = ruleOf(all, name);
      const std::string f = std::string(name) == "MeshCircuitBreakerOverflow" ? "UO" : "UH";
      const int64_t fn = samples(p.rate_window, fr.for_duration);
      auto flags = [&](const std::string& value) {
        auto l = id;
        l.insert(l.begin(), {"reporter", "source"});
        l.emplace_back("response_code", "503");
        l.emplace_back("response_flags", value);
        return std::vector<Series>{{"istio_requests_total" + labelSet(l), counter(0, 10, fn)}};
      };
      TestCase fire_f{std::string(name) + " fires on 503 " + f, flags("URX," + f), {}};
      fire_f.checks.push_back({evalAt(fn), name, {expected(fr, id, fmt("%.2f", 10 / step))}});
      out.push_back(std::move(fire_f));
      out.push_back({std::string(name) + " stays silent on 503s without " + f,
                     flags("-"),
                     {{evalAt(fn), name, {}}}});
    }
  }
  return out;
}

} // namespace

std::string renderRuleTests(const spec::Spec& spec, const AlertProfile& profile,
                            const std::string& rule_file) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "rule_files" << YAML::Value << YAML::BeginSeq << rule_file << YAML::EndSeq;
  e << YAML::Key << "evaluation_interval" << YAML::Value << promDuration(profile.scrape_interval);
  e << YAML::Key << "tests" << YAML::Value << YAML::BeginSeq;
  for (const TestCase& t : testCases(spec, profile)) {
    e << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << t.name;
    e << YAML::Key << "interval" << YAML::Value << promDuration(profile.scrape_interval);
    e << YAML::Key << "input_series" << YAML::Value << YAML::BeginSeq;
    for (const Series& s : t.input) {
      e << YAML::BeginMap << YAML::Key << "series" << YAML::Value << YAML::SingleQuoted << s.series
        << YAML::Key << "values" << YAML::Value << YAML::DoubleQuoted << s.values << YAML::EndMap;
    }
    e << YAML::EndSeq;
    e << YAML::Key << "alert_rule_test" << YAML::Value << YAML::BeginSeq;
    for (const AlertCheck& c : t.checks) {
      e << YAML::BeginMap;
      e << YAML::Key << "eval_time" << YAML::Value << promDuration(c.eval_time);
      e << YAML::Key << "alertname" << YAML::Value << c.alert;
      e << YAML::Key << "exp_alerts" << YAML::Value << YAML::BeginSeq;
      for (const ExpAlert& x : c.expected) {
        e << YAML::BeginMap;
        e << YAML::Key << "exp_labels" << YAML::Value << YAML::BeginMap;
        for (const auto& [k, v] : x.labels) {
          e << YAML::Key << k << YAML::Value << v;
        }
        e << YAML::EndMap;
        e << YAML::Key << "exp_annotations" << YAML::Value << YAML::BeginMap;
        e << YAML::Key << "summary" << YAML::Value << x.summary;
        e << YAML::Key << "description" << YAML::Value << x.description;
        e << YAML::Key << "runbook_url" << YAML::Value
          << std::string(kRunbookAnchor) + lowerAscii(c.alert);
        e << YAML::EndMap;
        e << YAML::EndMap;
      }
      e << YAML::EndSeq;
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  return "# Rendered by `meshproof render`: promtool unit tests of " + rule_file +
         ".\n# Run: promtool test rules <this file>\n" + e.c_str() + "\n";
}

std::string renderPrometheusConfig(const AlertProfile& profile, const std::string& file_sd_path,
                                   const std::vector<std::string>& rule_files) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "global" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "scrape_interval" << YAML::Value << promDuration(profile.scrape_interval);
  e << YAML::Key << "evaluation_interval" << YAML::Value << promDuration(profile.scrape_interval);
  e << YAML::EndMap;
  e << YAML::Key << "rule_files" << YAML::Value << YAML::BeginSeq;
  for (const std::string& r : rule_files) {
    e << r;
  }
  e << YAML::EndSeq;
  e << YAML::Key << "scrape_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "job_name" << YAML::Value << "meshproof";
  e << YAML::Key << "file_sd_configs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "files" << YAML::Value << YAML::BeginSeq << file_sd_path << YAML::EndSeq;
  e << YAML::Key << "refresh_interval" << YAML::Value << "5s";
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap;
  return "# Rendered by `meshproof render`: Prometheus scraping the local mesh through the "
         "file_sd file that\n# `meshproof up` writes (every pod's sidecar and the gateway; labels "
         "pod, app, version).\n# Run from the repository root: prometheus "
         "--config.file=monitoring/prometheus/prometheus.yml\n" +
         std::string(e.c_str()) + "\n";
}

} // namespace meshproof::render
