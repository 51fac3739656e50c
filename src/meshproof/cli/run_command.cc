#include "meshproof/cli/run_command.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/chaos_command.h"
#include "meshproof/cli/evidence_command.h"
#include "meshproof/cli/mesh_session.h"
#include "meshproof/cli/render_command.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/cli/validate_command.h"
#include "meshproof/cli/validate_support.h"
#include "meshproof/core/time.h"
#include "meshproof/prom/prometheus.h"
#include "meshproof/report/report.h"

namespace meshproof::cli {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

constexpr const char* kCmd = "meshproof run: ";

std::string nowIso() {
  return core::formatIso8601(core::RealClock::instance().wallNow());
}

double unixNow() {
  return std::chrono::duration<double>(core::RealClock::instance().wallNow().time_since_epoch())
      .count();
}

// Unix seconds of an ISO 8601 time; 0 when it does not parse.
double unixOf(const std::string& iso) {
  auto t = core::parseIso8601(iso);
  return t ? std::chrono::duration<double>(t->time_since_epoch()).count() : 0;
}

// "20261202T072521Z": sortable, and a path segment everywhere.
std::string runIdOf(core::WallTime t) {
  std::string iso = core::formatIso8601(t); // 2026-12-02T07:25:21.123456Z
  std::string id;
  for (char c : iso.substr(0, 19)) {
    if (c != '-' && c != ':') {
      id += c;
    }
  }
  return id + "Z";
}

// The last non-empty lines of a stage's stderr: why it could not run.
std::string tail(const std::string& text, size_t lines = 3) {
  std::vector<std::string> all;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) {
      all.push_back(l);
    }
  }
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += (out.empty() ? "" : "\n") + all[i];
  }
  return out;
}

// A directory we can write: created if missing, then a probe file made and removed.
core::Status writableDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    return core::ioError("cannot create " + dir.string() + ": " +
                         (ec ? ec.message() : "not a directory"));
  }
  std::string probe = (dir / ".meshproof-write-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    return core::ioError("cannot write to " + dir.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  fs::remove(probe, ec);
  return core::Status::ok();
}

// [[unix, "value"], ...] -> [[unix, value|null], ...]
Json series(const Json& values) {
  Json out = Json::array();
  for (const Json& p : values) {
    double v = std::nan("");
    try {
      v = std::stod(p[1].get<std::string>());
    } catch (...) {
    }
    out.push_back({p[0], std::isfinite(v) ? Json(v) : Json(nullptr)});
  }
  return out;
}

class Run {
public:
  Run(const RunCommandOptions& o, const PodSpec& loaded, std::ostream& err)
      : o_(o), loaded_(loaded), spec_(loaded.spec), sprint_(*loaded.spec.sprint), err_(err) {}

  int execute(std::ostream& out);

private:
  struct Stage {
    std::string name;
    std::string kind; // validation | chaos
    std::string start;
    std::string end;
    std::string verdict; // PASS | FAIL | INCONCLUSIVE | SKIPPED
    std::string figure;
    std::string reason;
    std::string artifact;
  };

  core::Status record(std::vector<evidence::NewArtifact> batch) {
    for (evidence::NewArtifact& a : batch) {
      if (a.path.rfind("reports/", 0) != 0) {
        a.path = prefix_ + a.path;
      }
    }
    core::Status st = recordEvidence(evidence_dir_, batch, log_);
    recorded_ += st.isOk() ? batch.size() : 0;
    return st;
  }
  void progress(const Stage& s, double seconds) {
    err_ << kCmd << std::left << std::setw(26) << s.name << std::setw(13) << s.verdict << std::right
         << std::fixed << std::setprecision(1) << std::setw(6) << seconds << " s  " << s.figure
         << std::endl;
  }
  // A stage that could not run (its mesh did not start, ...): said, and the run ends with exit 2.
  int cannotRun(const std::string& stage, const std::string& why) {
    err_ << kCmd << stage << ": " << why << '\n';
    if (recorded_ == 0) {
      // Nothing recorded: leave no empty evidence directory behind either.
      std::error_code ec;
      if (created_evidence_dir_) {
        fs::remove(evidence_dir_, ec);
      }
      err_ << kCmd << "stopped; nothing recorded\n";
    } else {
      err_ << kCmd << "stopped; the " << recorded_ << " artifacts recorded before are in "
           << evidence_dir_ << " and verify\n";
    }
    return kExitUsage;
  }

  int baseline();
  int validation(const std::string& check, ValidateCommandOptions vo);
  int chaosPlan();
  void snapshotMetrics();
  void startPrometheus();

  const RunCommandOptions& o_;
  const PodSpec& loaded_;
  const spec::Spec& spec_;
  const spec::Sprint& sprint_;
  std::ostream& err_;
  std::ostringstream log_; // every stage's own messages: recorded as run.log
  std::string evidence_dir_;
  std::string run_id_;
  std::string prefix_; // "runs/<id>/"
  uint64_t seed_ = 0;
  double t0_ = 0;
  std::string started_;
  std::unique_ptr<prom::Prometheus> prometheus_;
  std::vector<Stage> stages_;
  std::vector<evidence::NewArtifact> pending_; // recorded with the first stage
  Json metrics_;
  size_t recorded_ = 0;
  bool created_evidence_dir_ = false;
};

void Run::startPrometheus() {
  auto rules = writeLabRules(spec_, o_.run_dir);
  if (!rules) {
    log_ << "prometheus: " << rules.status().message() << '\n';
    return;
  }
  prom::PrometheusOptions po;
  po.file_sd_path = (fs::path(o_.run_dir) / "file_sd.json").string();
  po.rule_files = {*rules};
  auto started = prom::Prometheus::start(po);
  if (!started) {
    err_ << kCmd << started.status().message()
         << "; the run goes on without it (no time series or alerts in the report)\n";
    return;
  }
  prometheus_ = std::move(started).value();
  log_ << "prometheus: " << prometheus_->url() << " with " << *rules << '\n';
}

int Run::baseline() {
  const auto t = std::chrono::steady_clock::now();
  Stage s{"baseline", "validation", nowIso(), "", "", "", "", "validation/baseline.json"};
  MeshSessionOptions mo{.spec_paths = loaded_.paths, .run_dir = o_.run_dir, .seed = seed_};
  std::ostringstream why;
  auto session = MeshSession::startOrSay(spec_, mo, "meshproof run", why);
  if (!session) {
    return cannotRun("baseline", tail(why.str(), 6));
  }
  if (prometheus_ && !o_.quick) { // the quick plan does not wait for Prometheus' first scrape
    const size_t targets = session->platform().pods().size() + 1;
    if (auto st = prometheus_->waitForTargets(targets, 30s); !st.isOk()) {
      log_ << "prometheus: " << st.message() << '\n';
    }
  }
  const double seconds = o_.quick ? 5 : 10;
  load::LoadOptions lo;
  lo.rate = 50;
  lo.connections = 4;
  BackgroundLoad load(*session, lo);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto r = load.stop();
  if (!r) {
    return cannotRun("baseline", r.status().message());
  }
  uint64_t failed = r->errors;
  for (const auto& [status, n] : r->status_counts) {
    failed += status >= 500 ? n : 0;
  }
  const double success =
      r->requests == 0 ? 0 : 100.0 * static_cast<double>(r->requests - failed) / r->requests;
  const double p50 = static_cast<double>(r->latency.quantile(0.5)) / 1e6;
  const double p95 = static_cast<double>(r->latency.quantile(0.95)) / 1e6;
  const double p99 = static_cast<double>(r->latency.quantile(0.99)) / 1e6;
  const double max_p95 =
      std::chrono::duration<double, std::milli>(sprint_.alerts.latency_p95).count();
  const double min_success = 100 - sprint_.alerts.error_rate_percent;
  const bool pass = r->requests > 0 && !r->load_invalid && success >= min_success && p95 <= max_p95;
  char reason[256];
  std::snprintf(reason, sizeof reason,
                "%s: %llu requests at %.0f/s through the ingress, success %.2f %% (objective >= "
                "%.2f %%), P95 %.1f ms (objective <= %.0f ms)%s",
                pass ? "the quiet mesh meets the steady-state objective"
                     : "the quiet mesh misses the steady-state objective",
                static_cast<unsigned long long>(r->requests), lo.rate, success, min_success, p95,
                max_p95, r->load_invalid ? "; the load fell below 95 % of its rate" : "");
  Json statuses = Json::object();
  for (const auto& [status, n] : r->status_counts) {
    statuses[std::to_string(status)] = n;
  }
  const std::string host = spec_.gateways.empty() ? "" : spec_.gateways.front().host;
  Json rec =
      verdictRecord("baseline", pass ? "PASS" : "FAIL", reason, host, s.start,
                    {{"inputs",
                      {{"rate", lo.rate},
                       {"seconds", seconds},
                       {"connections", lo.connections},
                       {"seed", seed_}}},
                     {"objective", {{"minSuccessPercent", min_success}, {"maxP95Ms", max_p95}}},
                     {"measured",
                      {{"requests", r->requests},
                       {"successPercent", success},
                       {"p50Ms", p50},
                       {"p95Ms", p95},
                       {"p99Ms", p99},
                       {"achievedRate", r->achieved_rate},
                       {"loadInvalid", r->load_invalid},
                       {"sendLagP99Ms", static_cast<double>(r->send_lag.quantile(0.99)) / 1e6},
                       {"sendLagMaxMs", static_cast<double>(r->send_lag.max()) / 1e6},
                       {"unsent", r->unsent},
                       {"statuses", statuses}}}});
  s.end = nowIso();
  s.verdict = rec["verdict"];
  s.figure = report::keyFigure(rec);
  s.reason = reason;
  std::vector<evidence::NewArtifact> batch = std::move(pending_);
  batch.push_back({"validation", s.artifact, "", rec.dump(2) + "\n"});
  if (auto st = record(batch); !st.isOk()) {
    return cannotRun("baseline", "cannot record evidence: " + st.message());
  }
  stages_.push_back(s);
  progress(s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  return kExitOk;
}

int Run::validation(const std::string& check, ValidateCommandOptions vo) {
  const auto t = std::chrono::steady_clock::now();
  Stage s{check, "validation", nowIso(), "", "", "", "", "validation/" + check + ".json"};
  vo.check = check;
  vo.spec_paths = loaded_.paths;
  vo.run_dir = o_.run_dir;
  vo.json = true;
  vo.seed = seed_;
  std::ostringstream o;
  std::ostringstream e;
  const int rc = validateCommand(vo, o, e);
  log_ << "== validate " << check << " (exit " << rc << ")\n" << e.str();
  Json rec = Json::parse(o.str(), nullptr, false);
  if (rc == kExitUsage || rec.is_discarded() || !rec.is_object()) {
    return cannotRun(check, tail(e.str()));
  }
  s.end = nowIso();
  s.verdict = rec.value("verdict", "FAIL");
  s.figure = report::keyFigure(rec);
  s.reason = rec.value("reason", "");
  if (auto st = record({{"validation", s.artifact, "", o.str()}}); !st.isOk()) {
    return cannotRun(check, "cannot record evidence: " + st.message());
  }
  stages_.push_back(s);
  progress(s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  return kExitOk;
}

int Run::chaosPlan() {
  const auto t = std::chrono::steady_clock::now();
  ChaosCommandOptions co;
  co.args = {"plan"};
  co.spec_paths = loaded_.paths;
  co.run_dir = o_.run_dir;
  co.json = true;
  if (o_.quick) {
    co.experiment_duration = "5s";
  }
  co.prometheus_port = prometheus_ ? prometheus_->port() : 0;
  std::ostringstream o;
  std::ostringstream e;
  const int rc = chaosCommand(co, o, e);
  log_ << "== chaos plan (exit " << rc << ")\n" << e.str();
  Json parsed = Json::parse(o.str(), nullptr, false);
  if (rc == kExitUsage || parsed.is_discarded()) {
    return cannotRun("chaos", tail(e.str()));
  }
  std::vector<Json> journals;
  if (parsed.is_array()) {
    journals.assign(parsed.begin(), parsed.end());
  } else {
    journals.push_back(parsed);
  }
  std::vector<evidence::NewArtifact> batch;
  for (const Json& j : journals) {
    const std::string source = j.value("journalPath", "");
    const std::string name = j["experiment"].value("name", "experiment");
    Stage s{"chaos " + name,
            "chaos",
            j.value("start", ""),
            j.value("end", ""),
            "",
            "",
            "",
            "chaos/" + fs::path(source).filename().string()};
    const std::string status = j.value("status", "");
    s.verdict = status == "completed" ? "PASS" : "FAIL";
    s.figure = report::keyFigure(j);
    s.reason = status == "completed"
                   ? "completed: steady state held before, during and after"
                   : status + (j.value("deviated", false) ? " (deviated)" : "") +
                         (j.contains("reason") ? ": " + j.value("reason", "") : "");
    batch.push_back({"chaos-log", s.artifact, source, ""});
    stages_.push_back(s);
    progress(s, unixOf(s.end) - unixOf(s.start));
  }
  if (auto st = record(batch); !st.isOk()) {
    return cannotRun("chaos", "cannot record evidence: " + st.message());
  }
  log_ << "chaos plan: "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count() << " s\n";
  return rc == 130 ? 130 : kExitOk;
}

void Run::snapshotMetrics() {
  if (!prometheus_) {
    return;
  }
  const double t1 = unixNow();
  Json m{{"start", t0_}, {"end", t1}, {"step", 1}, {"prometheus", prometheus_->url()}};
  auto range = [&](const std::string& q) -> Json {
    auto r = prometheus_->queryRange(q, t0_, t1, 1);
    if (!r) {
      log_ << "prometheus: " << q << ": " << r.status().message() << '\n';
      return Json::array();
    }
    return *r;
  };
  const std::string by = "destination_service_name";
  for (const auto& [q, key] :
       {std::pair<const char*, const char*>{"0.5", "p50"}, {"0.95", "p95"}, {"0.99", "p99"}}) {
    for (const Json& r : range("histogram_quantile(" + std::string(q) + ", sum by (le, " + by +
                               ") (rate(istio_request_duration_milliseconds_bucket{reporter="
                               "\"source\"}[5s])))")) {
      m["latency"][r["metric"].value(by, "unknown")][key] = series(r["values"]);
    }
  }
  for (const Json& r :
       range("sum by (" + by + ") (rate(istio_requests_total{reporter=\"destination\"}[5s]))")) {
    m["throughput"][r["metric"].value(by, "unknown")] = series(r["values"]);
  }
  for (const Json& r : range("sum by (" + by +
                             ") (rate(istio_requests_total{reporter=\"source\",response_code!~"
                             "\"5..\"}[5s])) / sum by (" +
                             by + ") (rate(istio_requests_total{reporter=\"source\"}[5s]))")) {
    m["successRate"][r["metric"].value(by, "unknown")] = series(r["values"]);
  }
  if (sprint_.split) {
    const std::string host = spec::shortHost(sprint_.split->host);
    for (const Json& r :
         range("sum by (destination_version) (rate(istio_requests_total{reporter=\"destination\","
               "destination_service_name=\"" +
               host + "\"}[5s]))")) {
      m["versions"][host][r["metric"].value("destination_version", "unknown")] =
          series(r["values"]);
    }
  }
  for (const Json& r : range("max by (cluster_name) "
                             "(envoy_cluster_outlier_detection_ejections_active) > 0")) {
    m["ejections"][r["metric"].value("cluster_name", "unknown")] = series(r["values"]);
  }
  Json alerts = Json::array();
  for (const Json& r : range("ALERTS{alertstate=\"firing\"}")) {
    const Json& v = r["values"];
    if (v.empty()) {
      continue;
    }
    Json labels = r["metric"];
    labels.erase("__name__");
    const double first = v.front()[0].get<double>();
    const double last = v.back()[0].get<double>();
    auto iso = [](double unix) {
      return core::formatIso8601(
          core::WallTime(std::chrono::duration_cast<core::WallTime::duration>(
              std::chrono::duration<double>(unix))));
    };
    alerts.push_back({{"alertname", labels.value("alertname", "")},
                      {"labels", labels},
                      {"firstFiring", iso(first)},
                      {"lastFiring", iso(last)},
                      {"seconds", static_cast<double>(v.size())}});
  }
  m["alerts"] = alerts;
  metrics_ = m;
}

int Run::execute(std::ostream& out) {
  const auto t_start = std::chrono::steady_clock::now();
  const core::WallTime wall = core::RealClock::instance().wallNow();
  started_ = core::formatIso8601(wall);
  t0_ = unixNow();
  run_id_ = runIdOf(wall);
  prefix_ = "runs/" + run_id_ + "/";
  evidence_dir_ = o_.out.empty() ? "evidence/" + sprint_.name : o_.out;
  while (evidence_dir_.size() > 1 && evidence_dir_.back() == '/') {
    evidence_dir_.pop_back();
  }
  created_evidence_dir_ = !fs::exists(evidence_dir_);
  if (auto st = writableDir(evidence_dir_); !st.isOk()) {
    err_ << kCmd << "--out: " << st.message() << "; nothing recorded\n";
    return kExitUsage;
  }
  if (auto st = writableDir(o_.run_dir); !st.isOk()) {
    err_ << kCmd << "the run directory: " << st.message() << "; nothing recorded\n";
    return kExitUsage;
  }
  seed_ =
      o_.seed != 0 ? o_.seed : std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  err_ << kCmd << "sprint " << sprint_.name << (o_.quick ? " (quick plan)" : "") << ", run "
       << run_id_ << ", seed " << seed_ << ", evidence in " << evidence_dir_ << std::endl;
  // The spec itself is evidence: recorded with the first stage's verdict.
  auto sources = readSpecSources(o_.spec_paths);
  if (sources) {
    for (const spec::SpecSource& src : *sources) {
      pending_.push_back({"spec", "spec/" + fs::path(src.name).filename().string(), "", src.text});
    }
  }
  startPrometheus();

  int rc = baseline();
  const auto* v = &sprint_;
  auto run_check = [&](const std::string& name, bool configured, ValidateCommandOptions vo) {
    if (rc != kExitOk) {
      return;
    }
    if (!configured) {
      stages_.push_back({name, "validation", nowIso(), nowIso(), "SKIPPED", "",
                         "not in the Sprint's validations", ""});
      return;
    }
    rc = validation(name, std::move(vo));
  };
  ValidateCommandOptions split;
  if (o_.quick && v->split) {
    split.min_deviation_percent = std::max(10.0, v->split->min_deviation_percent);
  }
  run_check("split", v->split.has_value(), split);
  run_check("retries", v->retries.has_value(), {});
  ValidateCommandOptions breaker;
  breaker.ejection_only_hold_s = o_.quick ? 2.0 : 0.0;
  run_check("breaker", v->breaker.has_value(), breaker);
  if (rc == kExitOk && o_.quick) {
    stages_.push_back({"recovery", "validation", nowIso(), nowIso(), "SKIPPED", "",
                       "quick plan: the chaos pod kill checks recovery", ""});
  } else {
    run_check("recovery", v->recovery.has_value(), {});
  }
  if (rc == kExitOk && !v->experiments.empty()) {
    rc = chaosPlan();
  }
  if (rc == kExitUsage) {
    return rc;
  }
  snapshotMetrics();

  // The run summary, the metrics and the log.
  bool all_passed = !stages_.empty();
  for (const Stage& s : stages_) {
    all_passed = all_passed && (s.verdict == "PASS" || s.verdict == "SKIPPED");
  }
  OJson stages = OJson::array();
  for (const Stage& s : stages_) {
    stages.push_back({{"name", s.name},
                      {"kind", s.kind},
                      {"start", s.start},
                      {"end", s.end},
                      {"verdict", s.verdict},
                      {"figure", s.figure},
                      {"reason", s.reason},
                      {"artifact", s.artifact.empty() ? "" : prefix_ + s.artifact}});
  }
  OJson summary{{"runId", run_id_},
                {"sprint", sprint_.name},
                {"quick", o_.quick},
                {"seed", seed_},
                {"start", started_},
                {"end", nowIso()},
                {"spec", loaded_.paths.empty() ? std::vector<std::string>{"<embedded default>"}
                                               : loaded_.paths},
                {"prometheus", prometheus_ ? OJson(prometheus_->url()) : OJson(nullptr)},
                {"objectives",
                 {{"latencyP95Ms",
                   std::chrono::duration<double, std::milli>(sprint_.alerts.latency_p95).count()},
                  {"errorRatePercent", sprint_.alerts.error_rate_percent},
                  {"minThroughputRps", sprint_.alerts.min_throughput_rps}}},
                {"stages", stages},
                {"verdict", rc == 130    ? "INTERRUPTED"
                            : all_passed ? "PASS"
                                         : "FAIL"}};
  std::vector<evidence::NewArtifact> batch{{"run", "run.json", "", summary.dump(2) + "\n"},
                                           {"log", "run.log", "", log_.str()}};
  if (metrics_.is_object()) {
    batch.push_back({"metrics", "metrics/prometheus.json", "", metrics_.dump() + "\n"});
  }
  if (auto st = record(batch); !st.isOk()) {
    return cannotRun("summary", "cannot record evidence: " + st.message());
  }
  prometheus_.reset();

  // The report, from the evidence alone, recorded too.
  std::string report_path;
  auto data = report::collect(evidence_dir_, run_id_);
  if (!data) {
    err_ << kCmd << "report: " << data.status().message() << '\n';
    all_passed = false;
  } else {
    const std::string md = report::markdown(*data);
    const std::string page = report::html(*data);
    if (auto st = record({{"report", "reports/" + run_id_ + ".md", "", md},
                          {"report", "reports/" + run_id_ + ".html", "", page}});
        !st.isOk()) {
      err_ << kCmd << "report not recorded: " << st.message() << '\n';
      all_passed = false;
    } else {
      report_path =
          (fs::path(evidence_dir_) / "artifacts" / "reports" / (run_id_ + ".html")).string();
    }
  }
  // Verify everything, then the table.
  std::ostringstream verify_log;
  auto verified = verifyEvidence(evidence_dir_, verify_log);
  std::string evidence_figure;
  bool evidence_ok = false;
  if (verified) {
    evidence_ok = verified->ok();
    evidence_figure = std::to_string(verified->records) + " records, root " +
                      verified->root.substr(0, 16) + "...";
    for (const evidence::Finding& f : verified->findings) {
      if (f.error()) {
        evidence_figure += "; " + f.format();
        break;
      }
    }
  } else {
    evidence_figure = verified.status().message();
  }
  all_passed = all_passed && evidence_ok;

  out << '\n'
      << std::left << std::setw(28) << "CHECK" << std::setw(14) << "VERDICT"
      << "KEY FIGURE\n";
  for (const Stage& s : stages_) {
    out << std::left << std::setw(28) << s.name << std::setw(14) << s.verdict
        << (s.figure.empty() ? s.reason : s.figure) << '\n';
  }
  out << std::left << std::setw(28) << "evidence" << std::setw(14)
      << (evidence_ok ? "VERIFIED" : "FAIL") << evidence_figure << '\n';
  if (!report_path.empty()) {
    out << std::left << std::setw(28) << "report" << std::setw(14) << "written" << report_path
        << " (and .md)\n";
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  out << '\n' << "meshproof run: " << (rc == 130 ? "INTERRUPTED" : all_passed ? "PASS" : "FAIL");
  out << " in " << std::fixed << std::setprecision(0) << secs << " s";
  if (!all_passed) {
    for (const Stage& s : stages_) {
      if (s.verdict != "PASS" && s.verdict != "SKIPPED") {
        out << " — " << s.name << " " << s.verdict << ": " << s.reason;
        break;
      }
    }
    if (!evidence_ok) {
      out << " — evidence does not verify: " << evidence_figure;
    }
  }
  out << std::endl;
  if (rc == 130) {
    return 130;
  }
  return all_passed ? kExitOk : kExitCheckFailed;
}

} // namespace

int runCommand(const RunCommandOptions& options, std::ostream& out, std::ostream& err) {
  std::optional<PodSpec> loaded = loadPodSpec(options.spec_paths, "meshproof run", err);
  if (!loaded) {
    err << kCmd << "the spec has errors; nothing run, nothing recorded\n";
    return kExitUsage;
  }
  if (!loaded->spec.sprint) {
    err << kCmd << "the spec has no Sprint (its plan: validations, chaos, alerts); nothing run\n";
    return kExitUsage;
  }
  Run run(options, *loaded, err);
  return run.execute(out);
}

int reportCommand(const ReportCommandOptions& options, std::ostream& out, std::ostream& err) {
  const char* const cmd = "meshproof report: ";
  std::string dir = options.evidence;
  if (dir.empty()) {
    spec::LoadResult loaded = loadSpecInput(options.spec_paths);
    if (!loaded.spec || !loaded.spec->sprint) {
      err << cmd << "give --evidence DIR (the spec names no Sprint)\n";
      return kExitUsage;
    }
    dir = "evidence/" + loaded.spec->sprint->name;
  }
  auto data = report::collect(dir, options.run);
  if (!data) {
    err << cmd << data.status().message() << '\n';
    return kExitUsage;
  }
  // A report made again gets a name of its own: ledger paths are never reused.
  const std::string name = (data->run_id.empty() ? "ledger" : data->run_id) + "-at-" +
                           runIdOf(core::RealClock::instance().wallNow());
  const std::string md = report::markdown(*data);
  const std::string page = report::html(*data);
  if (!options.out.empty()) {
    const fs::path base = options.out;
    std::error_code ec;
    if (base.has_parent_path()) {
      fs::create_directories(base.parent_path(), ec);
    }
    for (const auto& [ext, text] :
         {std::pair<std::string, const std::string*>{".md", &md}, {".html", &page}}) {
      fs::path p = base;
      p.replace_extension(ext);
      std::ofstream f(p, std::ios::trunc);
      f << *text;
      f.close();
      if (!f) {
        err << cmd << "cannot write " << p.string() << '\n';
        return kExitUsage;
      }
      out << "meshproof report: wrote " << p.string() << '\n';
    }
  }
  std::ostringstream log;
  if (auto st = recordEvidence(dir,
                               {{"report", "reports/" + name + ".md", "", md},
                                {"report", "reports/" + name + ".html", "", page}},
                               log);
      !st.isOk()) {
    err << cmd << "not recorded in " << dir << ": " << st.message() << '\n';
    return kExitUsage;
  }
  out << "meshproof report: recorded " << dir << "/artifacts/reports/" << name
      << ".{md,html} (verdict " << report::overallVerdict(*data) << ")\n";
  return kExitOk;
}

} // namespace meshproof::cli
