// Readers for meshproof's own kinds (meshproof.dev/v1alpha1): Workload, Gateway, Sprint
// (DESIGN.md §4), and the checks that span documents.

#include <algorithm>
#include <set>

#include "meshproof/core/cron.h"
#include "meshproof/spec/kinds.h"

namespace meshproof::spec::detail {
namespace {

template <typename T>
void readUint(MapReader& m, const char* key, T& field, int64_t min, int64_t max) {
  if (auto v = m.get(key)) {
    if (auto n = v->asInt(min, max)) {
      field = static_cast<T>(*n);
    }
  }
}

void readDouble(MapReader& m, const char* key, double& field, double min, double max) {
  if (auto v = m.get(key)) {
    if (auto d = v->asDouble(min, max)) {
      field = *d;
    }
  }
}

void readDuration(MapReader& m, const char* key, Duration& field, Duration min) {
  if (auto v = m.get(key)) {
    if (auto d = v->asDuration(min)) {
      field = *d;
    }
  }
}

void readString(MapReader& m, const char* key, std::string& field) {
  if (auto v = m.get(key)) {
    if (auto s = v->asString()) {
      field = *s;
    }
  }
}

void readHost(MapReader& m, const char* key, std::string& field, bool required) {
  auto v = required ? m.require(key) : m.get(key);
  if (v) {
    if (auto s = v->asString()) {
      if (s->empty()) {
        v->error("host must not be empty");
      }
      field = *s;
    }
  }
}

void readLatency(const Node& node, LatencyModel& model) {
  MapReader m(node);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.get("distribution")) {
    if (auto s = v->asString()) {
      if (*s == "fixed") {
        model.distribution = LatencyModel::Distribution::Fixed;
      } else if (*s == "uniform") {
        model.distribution = LatencyModel::Distribution::Uniform;
      } else if (*s == "lognormal") {
        model.distribution = LatencyModel::Distribution::LogNormal;
      } else {
        v->error("expected fixed, uniform or lognormal, got \"" + *s + "\"");
      }
    }
  }
  using Dist = LatencyModel::Distribution;
  readDuration(m, "fixed", model.fixed, 0ms);
  readDuration(m, "min", model.min, 0ms);
  readDuration(m, "max", model.max, 0ms);
  readDuration(m, "median", model.median, 0ms);
  readDouble(m, "sigma", model.sigma, 0.0, 10.0);
  if (model.distribution == Dist::Uniform) {
    if (!m.get("min") || !m.get("max")) {
      node.error("a uniform latency needs min and max");
    } else if (model.max < model.min) {
      node.error("uniform latency max must not be less than min");
    }
  }
  if (model.distribution == Dist::LogNormal && (!m.get("median") || !m.get("sigma"))) {
    node.error("a lognormal latency needs median and sigma");
  }
}

} // namespace

void readWorkload(const Node& spec, ObjectMeta meta, Spec& out) {
  Workload w;
  w.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.require("app")) {
    if (auto s = v->asString()) {
      if (!isDns1123Label(*s)) {
        v->error("app \"" + *s + "\" must be a DNS-1123 label (lower-case letters, digits, '-')");
      }
      w.app = *s;
    }
  }
  if (auto v = m.get("version")) {
    if (auto s = v->asString()) {
      if (!isDns1123Label(*s)) {
        v->error("version \"" + *s +
                 "\" must be a DNS-1123 label (lower-case letters, digits, '-')");
      }
      w.version = *s;
    }
  }
  if (auto v = m.get("replicas")) {
    if (auto n = v->asInt(INT64_MIN, INT64_MAX)) {
      if (*n < 1 || *n > kMaxReplicas) {
        v->error("replicas must be between 1 and " + std::to_string(kMaxReplicas) +
                 " on one machine, got " + std::to_string(*n));
      } else {
        w.replicas = static_cast<uint32_t>(*n);
      }
    }
  }
  readUint(m, "port", w.port, 0, 65535);
  if (w.port != 0 && w.replicas > 1) {
    spec.error("a fixed port works for one replica only; use port 0 (a free port per pod) for " +
               std::to_string(w.replicas) + " replicas");
  }
  if (auto v = m.get("labels")) {
    if (auto labels = v->asStringMap()) {
      for (const auto& [k, val] : *labels) {
        if (!isLabelName(k) || !isLabelValue(val)) {
          v->error("invalid label " + k + "=" + val);
        }
      }
      w.labels = *labels;
    }
  }
  w.labels["app"] = w.app;
  // An explicit `labels.version` is kept even when it differs from `version`: the pods then run
  // one version and are selected by subsets as another (a mislabelled Deployment); lint warns.
  w.labels.emplace("version", w.version);
  if (auto v = m.get("latency")) {
    readLatency(*v, w.latency);
  }
  if (auto v = m.get("errors")) {
    MapReader e(*v);
    readDouble(e, "ratio", w.error_ratio, 0.0, 1.0);
    readUint(e, "status", w.error_status, 100, 599);
  }
  readUint(m, "payloadBytes", w.payload_bytes, 0, 64 << 20);
  if (auto v = m.get("calls")) {
    if (auto items = v->asSequence()) {
      for (const Node& item : *items) {
        Call c;
        c.location = item.location();
        if (item.isScalar()) {
          c.host = item.asString().value_or("");
        } else {
          MapReader cm(item);
          readHost(cm, "host", c.host, true);
          readString(cm, "method", c.method);
          readString(cm, "path", c.path);
          if (c.path.empty() || c.path.front() != '/') {
            item.error("path must start with '/'");
          }
        }
        w.calls.push_back(std::move(c));
      }
    }
  }
  out.workloads.push_back(std::move(w));
}

void readGateway(const Node& spec, ObjectMeta meta, Spec& out) {
  Gateway g;
  g.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  readString(m, "address", g.address);
  readUint(m, "port", g.port, 0, 65535);
  if (auto v = m.require("host")) {
    g.host_location = v->location();
    g.host = v->asString().value_or("");
  }
  out.gateways.push_back(std::move(g));
}

void readSprint(const Node& spec, ObjectMeta meta, Spec& out) {
  Sprint s;
  s.name = meta.name;
  s.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.get("validations")) {
    MapReader vm(*v);
    if (auto n = vm.get("split")) {
      MapReader sm(*n);
      SplitValidation sv;
      readHost(sm, "host", sv.host, true);
      readDouble(sm, "alpha", sv.alpha, 1e-9, 0.5);
      readDouble(sm, "power", sv.power, 0.5, 0.999999);
      readDouble(sm, "minDeviationPercent", sv.min_deviation_percent, 0.01, 50.0);
      s.split = sv;
    }
    if (auto n = vm.get("retries")) {
      MapReader rm(*n);
      RetriesValidation rv;
      readHost(rm, "host", rv.host, true);
      readUint(rm, "failFirst", rv.fail_first, 1, 100);
      s.retries = rv;
    }
    if (auto n = vm.get("breaker")) {
      MapReader bm(*n);
      BreakerValidation bv;
      readHost(bm, "host", bv.host, true);
      readString(bm, "subset", bv.subset);
      s.breaker = bv;
    }
    if (auto n = vm.get("recovery")) {
      MapReader rm(*n);
      RecoveryValidation rv;
      readHost(rm, "host", rv.host, true);
      readDouble(rm, "successRatePercent", rv.success_rate_percent, 0.0, 100.0);
      readDuration(rm, "window", rv.window, 1ms);
      readDuration(rm, "maxRecovery", rv.max_recovery, 1ms);
      s.recovery = rv;
    }
  }
  if (auto v = m.get("chaos")) {
    MapReader cm(*v);
    if (auto sched = cm.get("schedule")) {
      MapReader sm(*sched);
      readDuration(sm, "interval", s.chaos_interval, 1s);
      if (auto c = sm.get("cron")) {
        if (auto text = c->asString()) {
          if (auto cron = core::Cron::parse(*text); !cron) {
            c->error(cron.status().message());
          } else {
            s.chaos_cron = *text;
          }
        }
      }
      if (auto c = sm.get("concurrencyPolicy")) {
        if (auto p = c->asString()) {
          if (*p != "Forbid" && *p != "Allow") {
            c->error("expected Forbid or Allow, got \"" + *p + "\"");
          }
          s.chaos_concurrency = *p;
        }
      }
    }
    if (auto seed = cm.get("seed")) {
      if (auto n = seed->asInt(0, INT64_MAX)) {
        s.chaos_seed = static_cast<uint64_t>(*n);
      }
    }
    if (auto ex = cm.get("experiments")) {
      if (auto items = ex->asSequence()) {
        std::set<std::string> names;
        for (const Node& item : *items) {
          MapReader em(item);
          if (!em.valid()) {
            continue;
          }
          ChaosExperiment e;
          e.location = item.location();
          if (auto n = em.require("name")) {
            e.name = n->asString().value_or("");
            if (!e.name.empty() && !names.insert(e.name).second) {
              n->error("duplicate experiment name \"" + e.name + "\"");
            }
          }
          if (auto t = em.require("type")) {
            if (auto type = t->asString()) {
              if (*type == "latency") {
                e.type = ChaosExperiment::Type::Latency;
              } else if (*type == "podKill") {
                e.type = ChaosExperiment::Type::PodKill;
              } else {
                t->error("expected latency or podKill, got \"" + *type + "\"");
              }
            }
          }
          readHost(em, "target", e.target, true);
          readDuration(em, "duration", e.duration, 1ms);
          if (e.type == ChaosExperiment::Type::Latency) {
            readDuration(em, "fixedDelay", e.fixed_delay, 1ms);
            readDuration(em, "jitter", e.jitter, 0ms);
            readDouble(em, "percentage", e.percentage, 0.0, 100.0);
          } else {
            readString(em, "version", e.version);
            if (auto mode = em.get("mode")) {
              if (auto md = mode->asString()) {
                if (*md != "one" && *md != "fixed" && *md != "percent") {
                  mode->error("expected one, fixed or percent, got \"" + *md + "\"");
                }
                e.mode = *md;
              }
            }
            readUint(em, "value", e.value, 1, 100);
            if (auto sig = em.get("signal")) {
              if (auto sg = sig->asString()) {
                if (*sg != "SIGKILL" && *sg != "SIGTERM") {
                  sig->error("expected SIGKILL or SIGTERM, got \"" + *sg + "\"");
                }
                e.signal = *sg;
              }
            }
            readDuration(em, "grace", e.grace, 0ms);
          }
          s.experiments.push_back(std::move(e));
        }
      }
    }
  }
  if (auto v = m.get("reports")) {
    MapReader rm(*v);
    readDuration(rm, "interval", s.report_interval, 1s);
  }
  if (auto v = m.get("alerts")) {
    MapReader am(*v);
    readDuration(am, "latencyP95", s.alerts.latency_p95, 1ms);
    readDouble(am, "errorRatePercent", s.alerts.error_rate_percent, 0.0, 100.0);
    readDouble(am, "minThroughputRps", s.alerts.min_throughput_rps, 0.0, 1e9);
    if (auto b = am.get("breaker")) {
      s.alerts.breaker = b->asBool().value_or(true);
    }
  }
  if (auto v = m.get("dashboards")) {
    if (auto items = v->asSequence()) {
      for (const Node& item : *items) {
        MapReader dm(item);
        Dashboard d;
        readHost(dm, "service", d.service, true);
        if (auto p = dm.get("panels")) {
          if (auto panels = p->asStringList()) {
            static const std::set<std::string> kPanels{"p50",           "p95",         "p99",
                                                       "throughput",    "successRate", "split",
                                                       "responseCodes", "ejections"};
            for (const auto& panel : *panels) {
              if (kPanels.count(panel) == 0) {
                p->error("unknown panel \"" + panel +
                         "\" (expected p50, p95, p99, throughput, successRate, split, "
                         "responseCodes or ejections)");
              }
            }
            d.panels = *panels;
          }
        }
        s.dashboards.push_back(std::move(d));
      }
    }
  }
  out.sprint = std::move(s);
}

namespace {

void addError(Diagnostics& out, const SourceLocation& loc, const ObjectMeta& meta, std::string path,
              std::string message) {
  out.push_back({Severity::Error, loc, meta.ref(), std::move(path), std::move(message), {}});
}

bool hostKnown(const Spec& spec, const std::string& host) {
  return !spec.workloadsFor(host).empty() || !spec.serviceEntriesFor(host).empty();
}

} // namespace

void crossCheck(const Spec& spec, Diagnostics& out) {
  // Duplicate names per kind and namespace (Kubernetes would overwrite one with the other).
  auto checkNames = [&](const auto& objects) {
    std::set<std::string> seen;
    for (const auto& o : objects) {
      if (!seen.insert(o.meta.name_space + "/" + o.meta.name).second) {
        addError(out, o.meta.name_location, o.meta, "metadata.name",
                 "duplicate name: another " + o.meta.kind + " named \"" + o.meta.name +
                     "\" is defined earlier");
      }
    }
  };
  checkNames(spec.service_entries);
  checkNames(spec.virtual_services);
  checkNames(spec.destination_rules);
  checkNames(spec.workloads);
  checkNames(spec.gateways);

  // Two Workloads of the same app and version with the same pod labels cannot be told apart by
  // subsets or by metrics (a copied document). Another label set is another Deployment: a build
  // deployed with other labels (lint warns when its version label is not its version).
  std::set<std::string> app_versions;
  for (const Workload& w : spec.workloads) {
    std::string key = w.app + "/" + w.version;
    for (const auto& [k, v] : w.labels) {
      key += "," + k + "=" + v;
    }
    if (!app_versions.insert(key).second) {
      addError(out, w.meta.location, w.meta, "spec.version",
               "another Workload already deploys app \"" + w.app + "\" version \"" + w.version +
                   "\" with the same labels");
    }
  }

  // One DestinationRule per host, as Istio applies only one per host in a namespace.
  std::set<std::string> dr_hosts;
  for (const DestinationRule& dr : spec.destination_rules) {
    if (!dr_hosts.insert(shortHost(dr.host)).second) {
      addError(out, dr.meta.location, dr.meta, "spec.host",
               "another DestinationRule already targets host \"" + dr.host + "\"");
    }
  }

  // Every routed subset must exist in the host's DestinationRule.
  for (const VirtualService& vs : spec.virtual_services) {
    for (size_t i = 0; i < vs.http.size(); ++i) {
      const HttpRoute& r = vs.http[i];
      for (size_t j = 0; j < r.route.size(); ++j) {
        const RouteDestination& rd = r.route[j];
        const std::string path = r.path + ".route[" + std::to_string(j) + "].destination";
        if (!rd.destination.subset.empty()) {
          const DestinationRule* dr = spec.destinationRuleFor(rd.destination.host);
          if (dr == nullptr) {
            addError(out, rd.location, vs.meta, path + ".subset",
                     "subset \"" + rd.destination.subset + "\" of host \"" + rd.destination.host +
                         "\" is not defined: no DestinationRule for that host");
          } else if (dr->findSubset(rd.destination.subset) == nullptr) {
            std::string known;
            for (const Subset& s : dr->subsets) {
              known += (known.empty() ? "" : ", ") + s.name;
            }
            addError(out, rd.location, vs.meta, path + ".subset",
                     "unknown subset \"" + rd.destination.subset + "\": DestinationRule/" +
                         dr->meta.name + " defines " + (known.empty() ? "no subsets" : known));
          }
        }
        if (!rd.destination.host.empty() && !hostKnown(spec, rd.destination.host)) {
          addError(out, rd.location, vs.meta, path + ".host",
                   "host \"" + rd.destination.host +
                       "\" has no Workload (app label) and no ServiceEntry to serve it");
        }
      }
    }
  }
  for (const Gateway& g : spec.gateways) {
    if (!g.host.empty() && !hostKnown(spec, g.host)) {
      addError(out, g.host_location, g.meta, "spec.host",
               "host \"" + g.host +
                   "\" has no Workload (app label) and no ServiceEntry to serve it");
    }
  }
  for (const Workload& w : spec.workloads) {
    for (size_t i = 0; i < w.calls.size(); ++i) {
      const Call& c = w.calls[i];
      if (!c.host.empty() && !hostKnown(spec, c.host)) {
        addError(out, c.location, w.meta, "spec.calls[" + std::to_string(i) + "]",
                 "host \"" + c.host +
                     "\" has no Workload (app label) and no ServiceEntry to serve it");
      }
    }
  }
  if (spec.sprint) {
    const Sprint& s = *spec.sprint;
    auto checkHost = [&](const std::string& host, const std::string& path) {
      if (!host.empty() && !hostKnown(spec, host)) {
        addError(out, s.meta.location, s.meta, path,
                 "host \"" + host +
                     "\" has no Workload (app label) and no ServiceEntry to serve it");
      }
    };
    if (s.split) {
      checkHost(s.split->host, "spec.validations.split.host");
    }
    if (s.retries) {
      checkHost(s.retries->host, "spec.validations.retries.host");
    }
    if (s.breaker) {
      checkHost(s.breaker->host, "spec.validations.breaker.host");
      if (!s.breaker->subset.empty()) {
        const DestinationRule* dr = spec.destinationRuleFor(s.breaker->host);
        if (dr == nullptr || dr->findSubset(s.breaker->subset) == nullptr) {
          addError(out, s.meta.location, s.meta, "spec.validations.breaker.subset",
                   "unknown subset \"" + s.breaker->subset + "\" of host \"" + s.breaker->host +
                       "\"");
        }
      }
    }
    if (s.recovery) {
      checkHost(s.recovery->host, "spec.validations.recovery.host");
    }
    for (size_t i = 0; i < s.experiments.size(); ++i) {
      const ChaosExperiment& e = s.experiments[i];
      if (!e.target.empty() && !hostKnown(spec, e.target)) {
        addError(out, e.location, s.meta,
                 "spec.chaos.experiments[" + std::to_string(i) + "].target",
                 "unknown service \"" + e.target + "\": no Workload has app \"" +
                     shortHost(e.target) + "\"");
      }
    }
    for (size_t i = 0; i < s.dashboards.size(); ++i) {
      checkHost(s.dashboards[i].service, "spec.dashboards[" + std::to_string(i) + "].service");
    }
  }
}

} // namespace meshproof::spec::detail
