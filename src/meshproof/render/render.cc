#include "meshproof/render/render.h"

#include <string>
#include <vector>

namespace meshproof::render {
namespace {

struct Runbook {
  const char* alert;
  const char* meaning;
  const char* look;
};

// What each alert means and where to look first; the alerts' runbook_url points here.
constexpr Runbook kRunbooks[] = {
    {"MeshHighLatencyP95",
     "The 95th percentile of request duration to a service, as its callers' proxies measure it, "
     "is above the Sprint's `alerts.latencyP95`. Callers' view: it includes delays injected by a "
     "VirtualService fault and time spent in retries.",
     "The service's dashboard (P50/P95/P99 panels) for the start; a `fault.delay` on the "
     "service's VirtualService or a running chaos experiment (`meshproof chaos`); its callees' "
     "latency, since a slow dependency shows up in every hop above it."},
    {"MeshHighErrorRate",
     "More than the Sprint's `alerts.errorRatePercent` of the requests to a service end in a 5xx "
     "as its callers see them (after retries), while it serves more than `minThroughputRps`.",
     "The Response codes panel (code and Envoy flags: UH no healthy host, UO overflow, UF "
     "connect failure, URX retries exhausted); the pods' own errors (`reporter=\"destination\"`); "
     "ejections of the service's hosts."},
    {"MeshLowThroughput",
     "A service's pods serve fewer requests per second than `alerts.minThroughputRps`, or the "
     "service has never reported a request (no series at all).",
     "Whether traffic reaches the ingress; the pods' readiness (`kubectl get pods`, or `GET "
     "/pods` on meshproof's control plane); routing (`meshproof lint`, 404 NR replies)."},
    {"MeshOutlierEjection",
     "A client proxy has ejected at least one host of the cluster: the host answered "
     "`consecutive5xxErrors` 5xx in a row (DestinationRule outlierDetection). Traffic avoids "
     "it until `baseEjectionTime` (times the number of ejections) has passed.",
     "The ejected pod's logs and health; the Ejected hosts panel; whether the ejection cap "
     "(`maxEjectionPercent`) leaves enough hosts (`meshproof lint` rule ejection-cap)."},
    {"MeshCircuitBreakerOverflow",
     "Callers' proxies answer 503 with flag UO: a connectionPool limit (maxConnections, "
     "http1MaxPendingRequests, http2MaxRequests, maxRetries) was reached and the request was "
     "refused without reaching the service.",
     "The DestinationRule's connectionPool limits against the offered load; the service's "
     "latency (slow responses hold connections longer)."},
    {"MeshNoHealthyUpstream",
     "Callers' proxies answer 503 with flag UH: the route's cluster has no healthy host (all "
     "ejected, none ready, or a subset that selects no pod).",
     "The service's pods and their readiness; the DestinationRule subsets' labels against the "
     "pods' labels (`meshproof lint` rule subset-no-endpoints); ejections."},
};

std::string runbooks(const spec::Spec& spec) {
  std::string out = "# Runbooks: the alerts of Sprint/" + spec.sprint->name +
                    "\n\nRendered by `meshproof render`. Each alert's `runbook_url` points at its "
                    "section here. Thresholds come from the Sprint's `alerts`; the `lab` profile "
                    "uses windows of seconds, the `cluster` profile windows of minutes.\n";
  for (const std::string& name : alertNames(*spec.sprint)) {
    for (const Runbook& r : kRunbooks) {
      if (name == r.alert) {
        out += "\n## " + name + "\n\n**What it means.** " + r.meaning + "\n\n**Where to look.** " +
               r.look + "\n";
      }
    }
  }
  return out;
}

std::string provisioningDatasource() {
  return "# Rendered by `meshproof render`: the Prometheus datasource the dashboards use (uid "
         "prometheus).\n"
         "# Point url at your Prometheus; this is the address of Istio's Prometheus addon.\n"
         "apiVersion: 1\n"
         "datasources:\n"
         "  - name: Prometheus\n"
         "    type: prometheus\n"
         "    uid: prometheus\n"
         "    access: proxy\n"
         "    url: http://prometheus.istio-system:9090\n"
         "    isDefault: true\n"
         "    jsonData:\n"
         "      timeInterval: 15s\n"
         "      httpMethod: POST\n";
}

std::string provisioningDashboards() {
  return "# Rendered by `meshproof render`: load the dashboards of grafana/dashboards/, mounted "
         "at the path below.\n"
         "apiVersion: 1\n"
         "providers:\n"
         "  - name: meshproof\n"
         "    orgId: 1\n"
         "    folder: meshproof\n"
         "    type: file\n"
         "    disableDeletion: false\n"
         "    updateIntervalSeconds: 30\n"
         "    allowUiUpdates: false\n"
         "    options:\n"
         "      path: /var/lib/grafana/dashboards/meshproof\n";
}

} // namespace

std::vector<RenderedFile> renderAll(const spec::Spec& spec,
                                    const std::vector<spec::SpecSource>& sources) {
  std::vector<RenderedFile> files = renderIstio(spec, sources);
  if (!spec.sprint) {
    return files;
  }
  const std::string sprint = spec.sprint->name;
  std::vector<std::string> lab_rules;
  for (const AlertProfile& profile : {clusterProfile(), labProfile()}) {
    const std::string rules = "rules/" + sprint + "-" + profile.name + ".yaml";
    files.push_back({"prometheus/" + rules, renderRules(spec, profile)});
    files.push_back({"prometheus/tests/" + sprint + "-" + profile.name + "-test.yaml",
                     renderRuleTests(spec, profile, "../" + rules)});
    if (profile.name == "lab") {
      lab_rules.push_back(rules);
    }
  }
  // The lab scrape config: `meshproof up` (run from the repository root) writes the file_sd file.
  files.push_back(
      {"prometheus/prometheus.yml",
       renderPrometheusConfig(labProfile(), "../../.meshproof/file_sd.json", lab_rules)});
  for (const spec::Dashboard& d : spec.sprint->dashboards) {
    files.push_back(
        {"grafana/dashboards/" + spec::shortHost(d.service) + ".json", renderDashboard(spec, d)});
  }
  files.push_back({"grafana/provisioning/datasources/prometheus.yaml", provisioningDatasource()});
  files.push_back({"grafana/provisioning/dashboards/meshproof.yaml", provisioningDashboards()});
  files.push_back({"runbooks.md", runbooks(spec)});
  return files;
}

} // namespace meshproof::render
