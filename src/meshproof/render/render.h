#pragma once
// Monitoring as code: the files a team applies to its real cluster, rendered from the same spec as
// the local mesh (DESIGN.md §2 "One spec, every artifact", §6 Files).
//
//   istio/                  the spec's ServiceEntry, VirtualService and DestinationRule documents
//                           as written (nothing simulated-only is added), and a Kubernetes
//                           Deployment + Service per Workload (labels app/version, as the
//                           DestinationRule subsets select them; Envoy's outlier and breaker stats
//                           switched on, which Istio does not collect by default)
//   prometheus/rules/       <sprint>-cluster.yaml and <sprint>-lab.yaml: the same alerts with two
//                           profiles of windows and `for:` (cluster: minutes; lab: seconds, so they
//                           fire within a minute on a local run)
//   prometheus/tests/       promtool unit tests, firing and not firing, for every alert of both
//   prometheus/prometheus.yml   scrape config over the local platform's file_sd file (lab rules)
//   grafana/dashboards/     one dashboard per Sprint dashboard (service-c: P95, throughput, success
//                           rate, then P50/P99, versions, response codes, ejections)
//   grafana/provisioning/   datasource and dashboard providers
//   runbooks.md             what each alert means and what to look at (the alerts' runbook_url)
//
// Metric and label names are Istio's (istio_requests_total, istio_request_duration_milliseconds,
// envoy_cluster_outlier_detection_ejections_active{cluster_name}), so the files work on a cluster
// as on the local mesh. Rendering is pure and deterministic: the same spec gives the same bytes.

#include <string>
#include <vector>

#include "meshproof/core/duration.h"
#include "meshproof/spec/loader.h"
#include "meshproof/spec/spec.h"

namespace meshproof::render {

// One output file: `path` relative to the output directory ("prometheus/rules/sprint6-lab.yaml").
struct RenderedFile {
  std::string path;
  std::string content;
};

// Windows and `for:` durations of one alert profile.
struct AlertProfile {
  std::string name;                 // "cluster" | "lab"
  core::Duration scrape_interval;   // what the rule tests' input series step by
  core::Duration rate_window;       // rate() window of latency, errors and breaker flags
  core::Duration throughput_window; // rate() window of the low-throughput alert
  core::Duration for_latency;
  core::Duration for_errors;
  core::Duration for_throughput;
  core::Duration for_breaker;
};

// cluster: 15 s scrapes, 5 m windows, `for:` 5 m / 5 m / 10 m / 1 m (the usual production choices,
// prometheus-grafana.md §4). lab: 1 s scrapes, 20 s windows, `for:` 10 s / 10 s / 15 s / 5 s, so an
// alert fires within a minute of its fault on the local mesh.
AlertProfile clusterProfile();
AlertProfile labProfile();

// The alert names rendered for `sprint` (for tests and the report): MeshHighLatencyP95,
// MeshHighErrorRate, MeshLowThroughput, and with alerts.breaker MeshOutlierEjection,
// MeshCircuitBreakerOverflow, MeshNoHealthyUpstream.
std::vector<std::string> alertNames(const spec::Sprint& sprint);

// The rule file of one profile (Prometheus rule-file YAML).
std::string renderRules(const spec::Spec& spec, const AlertProfile& profile);
// The promtool test file for that rule file; `rule_file` is its path relative to the test file.
std::string renderRuleTests(const spec::Spec& spec, const AlertProfile& profile,
                            const std::string& rule_file);
// A scrape config over `file_sd_path` (relative to the config file or absolute) that loads
// `rule_files`, scraping every `profile.scrape_interval`.
std::string renderPrometheusConfig(const AlertProfile& profile, const std::string& file_sd_path,
                                   const std::vector<std::string>& rule_files);
// The Grafana dashboard JSON for one Sprint dashboard.
std::string renderDashboard(const spec::Spec& spec, const spec::Dashboard& dashboard);
// Istio documents as written in `sources`, plus Deployments and Services for the Workloads.
std::vector<RenderedFile> renderIstio(const spec::Spec& spec,
                                      const std::vector<spec::SpecSource>& sources);

// Everything above, for a spec that has a Sprint (without one: only istio/). `sources` are the
// documents `spec` was loaded from.
std::vector<RenderedFile> renderAll(const spec::Spec& spec,
                                    const std::vector<spec::SpecSource>& sources);

} // namespace meshproof::render
