// istio/: the spec's Istio documents as written, plus a Deployment and a Service per Workload.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "meshproof/render/render.h"
#include "meshproof/render/yaml_out.h"

namespace meshproof::render {
namespace {

// Envoy stats the alerts and dashboards read that Istio does not keep by default
// (prometheus-grafana.md §4.5: only cluster_manager, listener_manager, server and xds-grpc are).
constexpr const char* kProxyConfigAnnotation = "proxyStatsMatcher:\n"
                                               "  inclusionRegexps:\n"
                                               "    - \".*outlier_detection.*\"\n"
                                               "    - \".*circuit_breakers.*\"\n"
                                               "    - \".*upstream_rq_retry.*\"\n"
                                               "    - \".*upstream_rq_pending.*\"\n";

constexpr uint32_t kDefaultContainerPort = 8080;

std::string scalarOr(const YAML::Node& n, const char* key) {
  if (!n.IsMap() || !n[key] || !n[key].IsScalar()) {
    return {};
  }
  return n[key].Scalar();
}

// Kinds rendered as written, and the names the loaded spec holds for each.
std::map<std::string, std::set<std::string>> istioObjects(const spec::Spec& spec) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& se : spec.service_entries) {
    out["ServiceEntry"].insert(se.meta.name);
  }
  for (const auto& vs : spec.virtual_services) {
    out["VirtualService"].insert(vs.meta.name);
  }
  for (const auto& dr : spec.destination_rules) {
    out["DestinationRule"].insert(dr.meta.name);
  }
  return out;
}

std::string header(const std::string& what) {
  return "# Rendered by `meshproof render` from " + what +
         ". Do not edit: change the spec and render again.\n";
}

void emitLabels(YAML::Emitter& e, const std::map<std::string, std::string>& labels) {
  e << YAML::BeginMap;
  for (const auto& [k, v] : labels) {
    e << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  }
  e << YAML::EndMap;
}

std::string deployment(const spec::Workload& w) {
  const uint32_t port = w.port != 0 ? w.port : kDefaultContainerPort;
  std::map<std::string, std::string> selector{{"app", w.app}, {"version", w.version}};
  std::map<std::string, std::string> pod_labels = w.labels;
  pod_labels["app"] = w.app;
  pod_labels["version"] = w.version;
  pod_labels["sidecar.istio.io/inject"] = "true";
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "apps/v1";
  e << YAML::Key << "kind" << YAML::Value << "Deployment";
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << w.meta.name;
  e << YAML::Key << "namespace" << YAML::Value << w.meta.name_space;
  e << YAML::Key << "labels" << YAML::Value;
  emitLabels(e, selector);
  e << YAML::EndMap;
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "replicas" << YAML::Value << w.replicas;
  e << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key << "matchLabels"
    << YAML::Value;
  emitLabels(e, selector);
  e << YAML::EndMap;
  e << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "labels" << YAML::Value;
  emitLabels(e, pod_labels);
  e << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "proxy.istio.io/config" << YAML::Value << YAML::Literal
    << kProxyConfigAnnotation;
  e << YAML::EndMap << YAML::EndMap; // annotations, metadata
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << w.app;
  e << YAML::Key << "image" << YAML::Value << (w.app + ":" + w.version);
  e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << "http";
  e << YAML::Key << "containerPort" << YAML::Value << port;
  e << YAML::Key << "protocol" << YAML::Value << "TCP";
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap << YAML::EndSeq; // container, containers
  e << YAML::EndMap;                 // pod spec
  e << YAML::EndMap;                 // template
  e << YAML::EndMap;                 // spec
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

// One Service per app: it selects every version's pods (the DestinationRule's subsets split them).
std::string service(const std::string& app, const std::string& name_space, uint32_t port) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "v1";
  e << YAML::Key << "kind" << YAML::Value << "Service";
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << app;
  e << YAML::Key << "namespace" << YAML::Value << name_space;
  e << YAML::Key << "labels" << YAML::Value;
  emitLabels(e, {{"app", app}});
  e << YAML::EndMap;
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "selector" << YAML::Value;
  emitLabels(e, {{"app", app}});
  // The port name tells Istio the protocol (istio.io protocol selection: "http" or "http-*").
  e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << "http";
  e << YAML::Key << "port" << YAML::Value << 80;
  e << YAML::Key << "targetPort" << YAML::Value << port;
  e << YAML::Key << "protocol" << YAML::Value << "TCP";
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

} // namespace

std::vector<RenderedFile> renderIstio(const spec::Spec& spec,
                                      const std::vector<spec::SpecSource>& sources) {
  std::vector<RenderedFile> files;
  const auto wanted = istioObjects(spec);
  std::set<std::string> seen;
  for (const spec::SpecSource& src : sources) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(src.text);
    } catch (const YAML::Exception&) {
      continue; // cannot happen for sources the spec was loaded from
    }
    for (const YAML::Node& doc : docs) {
      const std::string kind = scalarOr(doc, "kind");
      const std::string api = scalarOr(doc, "apiVersion");
      const std::string name = doc.IsMap() ? scalarOr(doc["metadata"], "name") : "";
      auto it = wanted.find(kind);
      if (it == wanted.end() || it->second.count(name) == 0 ||
          api.rfind("networking.istio.io/", 0) != 0 || !seen.insert(kind + "/" + name).second) {
        continue;
      }
      const int line = doc.Mark().line >= 0 ? doc.Mark().line + 1 : 0;
      files.push_back(
          {"istio/" + lowerAscii(kind) + "-" + name + ".yaml",
           header(src.name + ":" + std::to_string(line)) + "---\n" + emitYaml(doc) + "\n"});
    }
  }
  // Workloads: a Deployment each, a Service per app (the first Workload's port names its target).
  std::map<std::string, std::pair<std::string, uint32_t>> apps;
  for (const spec::Workload& w : spec.workloads) {
    files.push_back(
        {"istio/deployment-" + w.meta.name + ".yaml", header("Workload/" + w.meta.name) +
                                                          "# The image is named after the app and "
                                                          "version: put your service's image "
                                                          "there.\n---\n" +
                                                          deployment(w)});
    apps.emplace(w.app,
                 std::make_pair(w.meta.name_space, w.port != 0 ? w.port : kDefaultContainerPort));
  }
  for (const auto& [app, where] : apps) {
    files.push_back(
        {"istio/service-" + app + ".yaml", header("the Workloads of app " + app) + "---\n" +
                                               service(app, where.first, where.second)});
  }
  std::sort(files.begin(), files.end(),
            [](const RenderedFile& a, const RenderedFile& b) { return a.path < b.path; });
  return files;
}

} // namespace meshproof::render
