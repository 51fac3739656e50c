// grafana/dashboards/: one dashboard per Sprint dashboard, in Grafana's JSON model (schemaVersion
// 39, prometheus-grafana.md §5). The Sprint's panels come first, in its order; the other known
// panels follow under a "Details" row, so P50/P99, versions, response codes and ejections are
// always there. Queries follow Istio's service dashboard ($__rate_interval, a datasource variable)
// with the same reporter choices as the alerts (render/prometheus.cc).

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "meshproof/render/render.h"

namespace meshproof::render {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kRate = "[$__rate_interval]";
const std::vector<std::string> kAllPanels{"p95", "throughput", "successRate",   "p50",
                                          "p99", "split",      "responseCodes", "ejections"};

Json datasource() {
  return {{"type", "prometheus"}, {"uid", "${datasource}"}};
}

Json target(const std::string& ref, const std::string& expr, const std::string& legend) {
  return {{"refId", ref},
          {"datasource", datasource()},
          {"expr", expr},
          {"legendFormat", legend},
          {"range", true}};
}

Json timeseries(const std::string& title, const std::string& description, const std::string& unit,
                Json targets) {
  return {{"type", "timeseries"},
          {"title", title},
          {"description", description},
          {"datasource", datasource()},
          {"fieldConfig",
           {{"defaults",
             {{"unit", unit},
              {"min", 0},
              {"custom",
               {{"drawStyle", "line"},
                {"lineWidth", 1},
                {"fillOpacity", 10},
                {"showPoints", "never"},
                {"spanNulls", false}}}}},
            {"overrides", Json::array()}}},
          {"options",
           {{"legend",
             {{"displayMode", "list"},
              {"placement", "bottom"},
              {"showLegend", true},
              {"calcs", Json::array()}}},
            {"tooltip", {{"mode", "multi"}, {"sort", "none"}}}}},
          {"targets", std::move(targets)}};
}

std::string selector(const std::string& reporter, const std::string& ns, const std::string& name,
                     const std::string& extra = "") {
  return "{reporter=\"" + reporter + "\",destination_service_namespace=\"" + ns +
         "\",destination_service_name=\"" + name + "\"" + extra + "}";
}

std::string quantile(const std::string& q, const std::string& ns, const std::string& name) {
  return "histogram_quantile(" + q +
         ", sum by (le) (rate(istio_request_duration_milliseconds_bucket" +
         selector("source", ns, name) + kRate + ")))";
}

Json panel(const std::string& key, const spec::Spec& spec, const std::string& ns,
           const std::string& name) {
  const spec::Alerts& alerts = spec.sprint->alerts;
  if (key == "p50" || key == "p95" || key == "p99") {
    const std::string q = key == "p50" ? "0.50" : key == "p95" ? "0.95" : "0.99";
    const std::string label = "P" + key.substr(1);
    Json p = timeseries(label + " latency",
                        label +
                            " of request duration as callers see it (reporter=source, "
                            "including injected faults), in ms. Alert: P95 above " +
                            std::to_string(core::toMillis(alerts.latency_p95)) + " ms.",
                        "ms", Json::array({target("A", quantile(q, ns, name), label)}));
    if (key == "p95") {
      p["fieldConfig"]["defaults"]["thresholds"] = {
          {"mode", "absolute"},
          {"steps",
           Json::array({{{"color", "green"}, {"value", nullptr}},
                        {{"color", "red"},
                         {"value", static_cast<double>(core::toMillis(alerts.latency_p95))}}})}};
      p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {{"mode", "line"}};
    }
    return p;
  }
  if (key == "throughput") {
    return timeseries(
        "Throughput",
        "Requests per second that reached the service's pods (reporter=destination). Alert: "
        "below " +
            nlohmann::json(alerts.min_throughput_rps).dump() + " requests/s.",
        "reqps",
        Json::array({target(
            "A", "sum(rate(istio_requests_total" + selector("destination", ns, name) + kRate + "))",
            "requests/s")}));
  }
  if (key == "successRate") {
    const std::string all =
        "sum(rate(istio_requests_total" + selector("source", ns, name) + kRate + "))";
    const std::string ok = "sum(rate(istio_requests_total" +
                           selector("source", ns, name, ",response_code!~\"5..\"") + kRate + "))";
    const double objective = 1.0 - alerts.error_rate_percent / 100.0;
    return {{"type", "stat"},
            {"title", "Success rate"},
            {"description", "Share of requests without a 5xx, as callers see them "
                            "(reporter=source). Alert: 5xx above " +
                                nlohmann::json(alerts.error_rate_percent).dump() + " %."},
            {"datasource", datasource()},
            {"fieldConfig",
             {{"defaults",
               {{"unit", "percentunit"},
                {"decimals", 2},
                {"min", 0},
                {"max", 1},
                {"thresholds",
                 {{"mode", "absolute"},
                  {"steps", Json::array({{{"color", "red"}, {"value", nullptr}},
                                         {{"color", "green"}, {"value", objective}}})}}}}},
              {"overrides", Json::array()}}},
            {"options",
             {{"graphMode", "area"},
              {"colorMode", "value"},
              {"justifyMode", "auto"},
              {"textMode", "auto"},
              {"wideLayout", true},
              {"showPercentChange", false},
              {"reduceOptions", {{"calcs", {"lastNotNull"}}, {"fields", ""}, {"values", false}}},
              {"percentChangeColorMode", "standard"},
              {"orientation", "auto"}}},
            {"targets", Json::array({target("A", ok + " / " + all, "success rate")})}};
  }
  if (key == "split") {
    return timeseries(
        "Requests per version",
        "Requests per second served by each version's pods (reporter=destination): "
        "the canary split as it happens.",
        "reqps",
        Json::array({target("A",
                            "sum by (destination_version) (rate(istio_requests_total" +
                                selector("destination", ns, name) + kRate + "))",
                            "{{destination_version}}")}));
  }
  if (key == "responseCodes") {
    return timeseries("Response codes",
                      "Requests per second by response code and Envoy response flags, as callers "
                      "see them (reporter=source).",
                      "reqps",
                      Json::array({target("A",
                                          "sum by (response_code, response_flags) "
                                          "(rate(istio_requests_total" +
                                              selector("source", ns, name) + kRate + "))",
                                          "{{response_code}} {{response_flags}}")}));
  }
  // ejections: Envoy's outlier gauge of every client proxy's cluster for the service
  // (outbound|<port>|<subset>|<host>; the host short or fully qualified).
  return timeseries(
      "Ejected hosts",
      "Hosts ejected by outlier detection, per cluster (the most any client proxy has ejected). "
      "Alert: any ejection.",
      "short",
      Json::array({target("A",
                          "max by (cluster_name) "
                          "(envoy_cluster_outlier_detection_ejections_active{cluster_name=~"
                          "\"outbound\\\\|[0-9]+\\\\|[^|]*\\\\|" +
                              name + "(\\\\..*)?\"})",
                          "{{cluster_name}}")}));
}

} // namespace

std::string renderDashboard(const spec::Spec& spec, const spec::Dashboard& dashboard) {
  const std::string& name = dashboard.service;
  std::string ns = "default";
  for (const auto& w : spec.workloads) {
    if (w.app == spec::shortHost(name)) {
      ns = w.meta.name_space;
      break;
    }
  }
  const std::string service = spec::shortHost(name);
  std::vector<std::string> headline = dashboard.panels;
  if (headline.empty()) {
    headline = {"p95", "throughput", "successRate"};
  }
  Json panels = Json::array();
  int id = 1;
  int y = 0;
  // The Sprint's panels: one row of equal widths (at least 6 columns each).
  const int width = std::max(6, 24 / static_cast<int>(std::min<size_t>(headline.size(), 4)));
  int x = 0;
  for (const std::string& key : headline) {
    if (x + width > 24) {
      x = 0;
      y += 8;
    }
    Json p = panel(key, spec, ns, service);
    p["id"] = id++;
    p["gridPos"] = {{"h", 8}, {"w", width}, {"x", x}, {"y", y}};
    panels.push_back(std::move(p));
    x += width;
  }
  y += 8;
  std::vector<std::string> details;
  for (const std::string& key : kAllPanels) {
    if (std::find(headline.begin(), headline.end(), key) == headline.end()) {
      details.push_back(key);
    }
  }
  if (!details.empty()) {
    panels.push_back({{"type", "row"},
                      {"title", "Details"},
                      {"collapsed", false},
                      {"id", id++},
                      {"gridPos", {{"h", 1}, {"w", 24}, {"x", 0}, {"y", y}}},
                      {"panels", Json::array()}});
    y += 1;
    for (size_t i = 0; i < details.size(); ++i) {
      Json p = panel(details[i], spec, ns, service);
      p["id"] = id++;
      p["gridPos"] = {{"h", 8},
                      {"w", 12},
                      {"x", static_cast<int>(i % 2) * 12},
                      {"y", y + static_cast<int>(i / 2) * 8}};
      panels.push_back(std::move(p));
    }
  }
  std::string uid = "meshproof-" + service;
  if (uid.size() > 40) {
    uid.resize(40);
  }
  Json d = {{"uid", uid},
            {"title", service + " (" + spec.sprint->name + ", meshproof)"},
            {"description", "Rendered by `meshproof render` from Sprint/" + spec.sprint->name +
                                ": latency, throughput and success rate of " + service +
                                " from Istio's standard metrics."},
            {"tags", {"meshproof", "istio", spec.sprint->name}},
            {"timezone", "utc"},
            {"editable", true},
            {"graphTooltip", 1},
            {"time", {{"from", "now-30m"}, {"to", "now"}}},
            {"refresh", "10s"},
            {"schemaVersion", 39},
            {"version", 1},
            {"templating",
             {{"list", Json::array({{{"type", "datasource"},
                                     {"name", "datasource"},
                                     {"label", "Data source"},
                                     {"query", "prometheus"},
                                     {"hide", 0}}})}}},
            {"annotations", {{"list", Json::array()}}},
            {"links", Json::array()},
            {"panels", std::move(panels)}};
  return d.dump(2) + "\n";
}

} // namespace meshproof::render
