#include "meshproof/cli/chaos_command.h"

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "meshproof/chaos/engine.h"
#include "meshproof/chaos/probe.h"
#include "meshproof/chaos/scheduler.h"
#include "meshproof/cli/app.h"
#include "meshproof/cli/evidence_command.h"
#include "meshproof/cli/up_command.h"
#include "meshproof/cli/validate_support.h"
#include "meshproof/core/duration.h"
#include "meshproof/core/time.h"
#include "meshproof/evidence/ledger.h"
#include "meshproof/evidence/verify.h"
#include "meshproof/net/http_get.h"
#include "meshproof/prom/prometheus.h"
#include "meshproof/report/report.h"
#include "meshproof/validate/recovery.h"

namespace meshproof::cli {

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};

extern "C" void onSignal(int) {
  g_interrupted.store(true);
}

// The local mesh as chaos sees it: faults through the control plane's API, kills through the
// platform, steady state from the gateway's metrics; traffic restarted per probe window so latency
// fidelity is measured per phase.
class MeshTarget final : public chaos::ChaosTarget {
public:
  MeshTarget(MeshSession& mesh, double rate, uint16_t prometheus_port = 0)
      : mesh_(mesh), rate_(rate),
        prometheus_(prometheus_port != 0 ? prom::Prometheus::attach(prometheus_port) : nullptr) {
    startLoad();
  }
  ~MeshTarget() override {
    (void)load_->stop();
    stopWatch();
  }

  core::Result<std::string> addLatency(const std::string& host, core::Duration delay,
                                       core::Duration jitter, double percentage) override {
    nlohmann::json d{{"fixedDelay", core::formatDuration(delay)}, {"percentage", percentage}};
    if (jitter > core::Duration::zero()) {
      d["jitter"] = core::formatDuration(jitter);
    }
    const std::string body = nlohmann::json{{"host", host}, {"delay", d}}.dump();
    auto reply = net::httpPost(mesh_.plane().adminPort(), "/faults", body, 5s);
    if (!reply || reply->status != 201) {
      return core::unavailable("the control plane refused the fault: " +
                               (reply ? reply->body : reply.status().message()));
    }
    auto id = nlohmann::json::parse(reply->body, nullptr, false);
    if (id.is_discarded() || !id.contains("id")) {
      return core::unavailable("the control plane's reply has no fault id");
    }
    // Wait until every proxy runs the generation that has it.
    if (!waitAcked(id.value("generation", uint64_t{0}))) {
      return core::unavailable("not every proxy acknowledged the fault within 10 s");
    }
    absorbLoad(std::nullopt); // sent while the fault was on its way to the proxies
    startLoad();
    fault_active_ = true;
    return id["id"].get<std::string>();
  }

  core::Status removeFault(const std::string& id) override {
    auto reply = net::httpDelete(mesh_.plane().adminPort(), "/faults/" + id, 5s);
    if (!reply || reply->status != 200) {
      return core::unavailable("the control plane did not remove " + id);
    }
    auto j = nlohmann::json::parse(reply->body, nullptr, false);
    if (!waitAcked(j.is_discarded() ? 0 : j.value("generation", uint64_t{0}))) {
      fault_active_ = false;
      return core::unavailable("not every proxy acknowledged the fault's removal within 10 s");
    }
    absorbLoad(std::nullopt); // sent while the fault was being taken off the proxies
    startLoad();
    fault_active_ = false;
    // The next probe's window starts now, without the requests that met the fault on its way out.
    if (auto metrics_reply = net::httpGet(mesh_.plane().gatewayAdminPort(), "/metrics", 5s)) {
      if (auto parsed = metrics::parseExposition(metrics_reply->body)) {
        last_ = chaos::proxyCounters(*parsed);
      }
    }
    return core::Status::ok();
  }

  std::vector<platform::PodStatus> pods() override { return mesh_.platform().pods(); }

  core::Status killPod(const std::string& pod, platform::KillMode mode,
                       core::Duration grace) override {
    uint32_t restarts = 0;
    for (const platform::PodStatus& p : mesh_.platform().pods()) {
      restarts = p.name == pod ? p.restarts : restarts;
    }
    stopWatch();
    stop_watch_ = false;
    killed_at_ = std::chrono::steady_clock::now();
    ready_after_.reset();
    auto st = mesh_.platform().kill(pod, mode, grace);
    if (st.isOk()) {
      // When the pod is ready again (a new process), for the recovery validation.
      ready_watch_ = std::thread([this, pod, restarts] {
        uint64_t seen = mesh_.platform().version();
        while (!stop_watch_.load()) {
          for (const platform::PodStatus& p : mesh_.platform().pods()) {
            if (p.name == pod && p.ready && p.restarts > restarts) {
              std::lock_guard lock(mu_);
              ready_after_ = std::chrono::duration_cast<core::Duration>(
                  std::chrono::steady_clock::now() - killed_at_);
              return;
            }
          }
          seen = mesh_.platform().waitForChange(seen, 100ms);
        }
      });
    }
    return st;
  }

  core::Result<chaos::SteadyState> probe() override {
    auto reply = net::httpGet(mesh_.plane().gatewayAdminPort(), "/metrics", 5s);
    auto parsed = reply ? metrics::parseExposition(reply->body)
                        : core::Result<metrics::Exposition>(reply.status());
    if (!parsed) {
      return parsed.status();
    }
    const chaos::ProxyCounters now = chaos::proxyCounters(*parsed);
    chaos::SteadyState s = chaos::steadyStateBetween(last_, now);
    last_ = now;
    if (prometheus_) {
      s.prometheus = prometheusReading();
    }
    absorbLoad(fault_active_);
    startLoad();
    return s;
  }

  // Ends the current load window and files its latencies under one phase: with the fault, without
  // it, or neither (nullopt: the window in which a fault was being pushed to the proxies or taken
  // off them, where some requests met it and some did not). The timeline keeps every request.
  void absorbLoad(std::optional<bool> faulted) {
    auto window = load_->stop();
    if (window) {
      if (faulted) {
        (*faulted ? during_ : before_).merge(window->latency);
      }
      // The window's requests on the experiment's timeline, by intended send time.
      const auto offset = (window->started_at - experiment_start_) / kBucket;
      for (size_t i = 0; i < window->timeline.size(); ++i) {
        const auto at = static_cast<size_t>(std::max<int64_t>(0, offset + static_cast<int64_t>(i)));
        if (at >= timeline_.size()) {
          timeline_.resize(at + 1);
        }
        timeline_[at].ok += window->timeline[i].ok;
        timeline_[at].failed += window->timeline[i].failed;
      }
    }
  }

  // The gateway's success rate and P95 as Prometheus has them for the window since the previous
  // probe (at least 3 s: two 1 s scrapes however the probe falls between them), the same
  // reporter="source" series the proxies count.
  nlohmann::json prometheusReading() {
    const auto now = std::chrono::steady_clock::now();
    const double since =
        last_probe_ ? std::chrono::duration<double>(now - *last_probe_).count() : 2;
    last_probe_ = now;
    const std::string w = std::to_string(std::max(3, static_cast<int>(std::lround(since)))) + "s";
    const std::string sel = "{reporter=\"source\",source_workload=\"istio-ingressgateway\"";
    auto scalar = [&](const std::string& q) -> std::optional<double> {
      auto r = prometheus_->query(q);
      if (!r || !r->is_array() || r->empty()) {
        return std::nullopt;
      }
      try {
        const double v = std::stod((*r)[0]["value"][1].get<std::string>());
        return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
      } catch (...) {
        return std::nullopt;
      }
    };
    // The total and the non-5xx count from one evaluation: as two queries (a few milliseconds
    // apart, each with its own window) they could disagree, and did in CI (a total above zero, no
    // non-5xx request and no P95 in the same window, shown as 0 % success).
    std::optional<double> total;
    double ok = 0;
    if (auto r = prometheus_->query("sum by (response_code) (increase(istio_requests_total" + sel +
                                    "}[" + w + "]))");
        r && r->is_array()) {
      for (const nlohmann::json& e : *r) {
        try {
          const double v = std::stod(e.at("value").at(1).get<std::string>());
          if (!std::isfinite(v)) {
            continue;
          }
          const std::string code = e.at("metric").value("response_code", "");
          total = total.value_or(0) + v;
          if (code.empty() || code.front() != '5') {
            ok += v;
          }
        } catch (...) {
          continue; // a malformed element counts as no sample
        }
      }
    }
    const auto p95 = scalar("histogram_quantile(0.95, sum by (le) "
                            "(increase(istio_request_duration_milliseconds_bucket" +
                            sel + "}[" + w + "])))");
    if (!total || *total <= 0) {
      return {{"window", w}, {"unavailable", "no samples of the gateway in the window yet"}};
    }
    nlohmann::json j{{"window", w}, {"successPercent", 100 * ok / *total}};
    j["p95Ms"] = p95 ? nlohmann::json(*p95) : nlohmann::json(nullptr);
    return j;
  }

  bool sleep(core::Duration d) override {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
      if (g_interrupted.load()) {
        return false;
      }
      std::this_thread::sleep_for(std::min<core::Duration>(
          50ms,
          std::chrono::duration_cast<core::Duration>(until - std::chrono::steady_clock::now())));
    }
    return !g_interrupted.load();
  }

  // Latency at the ingress without and with the fault.
  nlohmann::ordered_json fidelity(core::Duration delay) const {
    const double base = static_cast<double>(before_.quantile(0.5)) / 1e6;
    const double with = static_cast<double>(during_.quantile(0.5)) / 1e6;
    const uint64_t threshold = before_.quantile(0.5) + static_cast<uint64_t>(delay.count() / 2);
    const double delayed = during_.count() == 0
                               ? 0
                               : static_cast<double>(during_.countAtOrAbove(threshold)) /
                                     static_cast<double>(during_.count());
    return {{"baselineMedianMs", base},
            {"faultMedianMs", with},
            {"addedMedianMs", with - base},
            {"addedMeanMs", (during_.mean() - before_.mean()) / 1e6},
            {"faultMinMs", static_cast<double>(during_.min()) / 1e6},
            {"faultMaxMs", static_cast<double>(during_.max()) / 1e6},
            {"requestsWithFault", during_.count()},
            {"delayedShare", delayed},
            {"delayedThresholdMs", static_cast<double>(threshold) / 1e6}};
  }

  void resetPhases() {
    before_ = {};
    during_ = {};
    timeline_.clear();
    experiment_start_ = core::RealClock::instance().wallNow();
  }

  // The recovery validation of the kill just made (validate/recovery.h): time until the pod is
  // ready again and until every sliding window of client requests meets the objective.
  validate::RecoveryResult recovery(const spec::RecoveryValidation& cfg, core::WallTime kill_wall,
                                    const std::string& pod) {
    stopWatch(); // the rollback has awaited the pod: ready by now, or not within its timeout
    validate::RecoveryInput in;
    in.host = cfg.host;
    in.pod = pod;
    in.success_rate_percent = cfg.success_rate_percent;
    in.window = cfg.window;
    in.max_recovery = cfg.max_recovery;
    in.bucket = kBucket;
    in.timeline = timeline_;
    in.kill_at = std::chrono::duration_cast<core::Duration>(kill_wall - experiment_start_);
    std::lock_guard lock(mu_);
    in.ready_after = ready_after_;
    return validate::evaluateRecovery(in);
  }

private:
  static constexpr core::Duration kBucket = std::chrono::milliseconds(100);

  void stopWatch() {
    stop_watch_ = true;
    if (ready_watch_.joinable()) {
      ready_watch_.join();
    }
  }

  void startLoad() {
    load::LoadOptions lo;
    lo.timeline_bucket = kBucket;
    // Enough connections that a delayed request never holds up the next one (open loop: latency
    // counts from the intended send time, so a queue would be measured as added delay).
    lo.connections = 64;
    lo.rate = rate_;
    lo.timeout = 30s;
    load_ = std::make_unique<BackgroundLoad>(mesh_, lo);
  }

  bool waitAcked(uint64_t generation) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto reply = net::httpGet(mesh_.plane().adminPort(), "/config_dump", 5s);
      auto j = reply ? nlohmann::json::parse(reply->body, nullptr, false) : nlohmann::json();
      if (!j.is_discarded() && j.contains("proxies")) {
        bool all = true;
        for (const auto& [name, p] : j["proxies"].items()) {
          all = all && p.value("generation", uint64_t{0}) >= generation;
        }
        if (all) {
          return true;
        }
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  MeshSession& mesh_;
  double rate_;
  std::unique_ptr<prom::Prometheus> prometheus_;
  std::optional<std::chrono::steady_clock::time_point> last_probe_;
  std::unique_ptr<BackgroundLoad> load_;
  chaos::ProxyCounters last_;
  bool fault_active_ = false;
  load::Histogram before_;
  load::Histogram during_;
  core::WallTime experiment_start_ = core::RealClock::instance().wallNow();
  std::vector<load::TimelineBucket> timeline_;
  std::thread ready_watch_;
  std::atomic<bool> stop_watch_{false};
  std::mutex mu_;
  std::chrono::steady_clock::time_point killed_at_;
  std::optional<core::Duration> ready_after_;
};

core::Result<spec::ChaosExperiment> adHoc(const ChaosCommandOptions& o) {
  spec::ChaosExperiment e;
  const std::string& kind = o.args[0];
  if (o.target.empty()) {
    return core::invalidArgument("--target HOST is required");
  }
  e.target = o.target;
  auto duration = core::parseDuration(o.duration);
  if (!duration || *duration <= core::Duration::zero()) {
    return core::invalidArgument("--duration must be a positive duration such as 20s");
  }
  e.duration = *duration;
  if (kind == "latency") {
    e.type = spec::ChaosExperiment::Type::Latency;
    e.name = "latency-" + o.target;
    auto delay = core::parseDuration(o.delay);
    if (!delay || *delay < 1ms) {
      return core::invalidArgument("--delay must be a duration of at least 1ms");
    }
    if (!(o.percentage >= 0 && o.percentage <= 100)) {
      return core::invalidArgument("--percentage must be within 0-100");
    }
    auto jitter = core::parseDuration(o.jitter);
    if (!jitter || *jitter < core::Duration::zero() || *jitter > *delay) {
      return core::invalidArgument("--jitter must be a duration no larger than --delay");
    }
    e.fixed_delay = *delay;
    e.jitter = *jitter;
    e.percentage = o.percentage;
  } else {
    e.type = spec::ChaosExperiment::Type::PodKill;
    e.name = "kill-" + o.target;
    if (o.mode != "one" && o.mode != "fixed" && o.mode != "percent") {
      return core::invalidArgument("--mode must be one, fixed or percent");
    }
    if (o.signal != "SIGKILL" && o.signal != "SIGTERM") {
      return core::invalidArgument("--signal must be SIGKILL or SIGTERM");
    }
    auto grace = core::parseDuration(o.grace);
    if (!grace) {
      return core::invalidArgument("--grace must be a duration");
    }
    e.version = o.version;
    e.mode = o.mode;
    e.value = o.value;
    e.signal = o.signal;
    e.grace = *grace;
  }
  return e;
}

std::string safeName(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      c = '-';
    }
  }
  return s;
}

struct PlanRun {
  std::vector<nlohmann::ordered_json> journals;
  int exit_code = kExitOk;
};

// Runs `plan` on the running mesh, one experiment after the other, each journal written under
// run_dir/chaos/ (or to `journal` when the plan has one experiment).
PlanRun runPlan(MeshSession& mesh, MeshTarget& target,
                const std::vector<spec::ChaosExperiment>& plan, const chaos::EngineOptions& eo,
                const std::string& run_dir, const std::string& journal, std::string& crashed_before,
                const spec::RecoveryValidation& recovery_cfg, std::ostream& err) {
  const char* const cmd = "meshproof chaos: ";
  std::error_code ec;
  const fs::path marker = fs::path(run_dir) / "chaos-active.json";
  fs::create_directories(run_dir, ec);
  PlanRun result;
  for (const spec::ChaosExperiment& e : plan) {
    {
      std::ofstream m(marker);
      m << nlohmann::json{{"pid", ::getpid()},
                          {"experiment", e.name},
                          {"start", core::formatIso8601(core::RealClock::instance().wallNow())}}
               .dump()
        << '\n';
    }
    err << cmd << e.name << ": running (" << core::formatDuration(e.duration) << ")\n";
    target.resetPhases();
    nlohmann::ordered_json j =
        chaos::runExperiment(e, target, eo, core::RealClock::instance(), &g_interrupted);
    fs::remove(marker, ec);
    if (!crashed_before.empty()) {
      j["previousRunCrashed"] = {{"marker", crashed_before},
                                 {"cleanup", "nothing left: that run's mesh died with it"}};
      crashed_before.clear();
    }
    if (e.type == spec::ChaosExperiment::Type::Latency && !j["run"].empty()) {
      j["fidelity"] = target.fidelity(e.fixed_delay);
    }
    // A pod kill is followed by the recovery validation (the Sprint's objective, or 99.9 % over
    // 10 s within 60 s): a recovery that fails fails the experiment.
    if (e.type == spec::ChaosExperiment::Type::PodKill && !j["run"].empty() &&
        j["run"][0]["status"] == "succeeded") {
      spec::RecoveryValidation cfg = recovery_cfg;
      cfg.host = e.target;
      auto kill_wall = core::parseIso8601(j["run"][0]["start"].get<std::string>());
      const validate::RecoveryResult r =
          target.recovery(cfg, kill_wall ? *kill_wall : core::RealClock::instance().wallNow(),
                          j["run"][0]["pod"].get<std::string>());
      auto ms = [](const std::optional<core::Duration>& d) {
        return d ? nlohmann::json(core::toMillis(*d)) : nlohmann::json(nullptr);
      };
      j["recovery"] = {{"verdict", validate::verdictName(r.verdict)},
                       {"reason", r.reason},
                       {"successRatePercent", cfg.success_rate_percent},
                       {"windowMs", core::toMillis(cfg.window)},
                       {"maxRecoveryMs", core::toMillis(cfg.max_recovery)},
                       {"recoveredAfterMs", ms(r.recovered_after)},
                       {"requestsAfterKill", r.requests_after_kill},
                       {"failedAfterKill", r.failed_after_kill},
                       {"worstWindowPercent", r.worst_window_percent}};
      if (r.verdict == validate::Verdict::Fail && j["status"] == "completed") {
        j["status"] = "failed";
        j["reason"] = "recovery: " + r.reason;
      }
    }
    // What every proxy runs after the rollback: no fault left anywhere.
    auto dump = net::httpGet(mesh.plane().adminPort(), "/config_dump", 5s);
    auto cd = dump ? nlohmann::json::parse(dump->body, nullptr, false) : nlohmann::json();
    size_t proxies = 0;
    size_t faults_left = 0;
    if (!cd.is_discarded() && cd.contains("proxies")) {
      for (const auto& [name, p] : cd["proxies"].items()) {
        auto pd = net::httpGet(static_cast<uint16_t>(p.value("adminPort", 0)), "/config_dump", 5s);
        auto pj = pd ? nlohmann::json::parse(pd->body, nullptr, false) : nlohmann::json();
        ++proxies;
        if (pj.is_discarded() || !pj.contains("faults")) {
          continue;
        }
        faults_left += pj["faults"].size();
      }
    }
    j["afterRollback"] = {{"proxiesChecked", proxies}, {"faultsLeft", faults_left}};
    const std::string status = j["status"].get<std::string>();
    err << cmd << e.name << ": " << status << (j["deviated"].get<bool>() ? " (deviated)" : "")
        << '\n';
    if (status == "interrupted") {
      result.exit_code = 130;
    } else if (status != "completed" && result.exit_code == kExitOk) {
      result.exit_code = kExitCheckFailed;
    }
    const std::string path =
        !journal.empty() && plan.size() == 1
            ? journal
            : (fs::path(run_dir) / "chaos" /
               (safeName(e.name) + "-" + safeName(j["start"].get<std::string>()) + ".json"))
                  .string();
    fs::create_directories(
        fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path(), ec);
    {
      std::ofstream f(path, std::ios::trunc);
      f << j.dump(2) << '\n';
    }
    j["journalPath"] = path;
    result.journals.push_back(j);
    if (g_interrupted.load()) {
      break;
    }
  }
  return result;
}

// The recovery objective a kill is judged by: the Sprint's, or its defaults.
spec::RecoveryValidation recoveryConfig(const spec::Spec& spec) {
  return spec.sprint && spec.sprint->recovery ? *spec.sprint->recovery : spec::RecoveryValidation{};
}

// A host the mesh has: a Workload's app or a VirtualService host.
bool knownHost(const spec::Spec& spec, const std::string& host) {
  const std::string h(spec::shortHost(host));
  for (const spec::Workload& w : spec.workloads) {
    if (spec::shortHost(w.app) == h) {
      return true;
    }
  }
  for (const spec::VirtualService& vs : spec.virtual_services) {
    for (const std::string& vh : vs.hosts) {
      if (spec::shortHost(vh) == h) {
        return true;
      }
    }
  }
  return false;
}

// The seed: the one given, else the Sprint's chaos seed, else the clock's.
uint64_t chaosSeed(uint64_t given, const spec::Spec& spec) {
  if (given != 0) {
    return given;
  }
  if (spec.sprint && spec.sprint->chaos_seed != 0) {
    return spec.sprint->chaos_seed;
  }
  return static_cast<uint64_t>(core::RealClock::instance().wallNow().time_since_epoch().count());
}

// SIGINT and SIGTERM interrupt the experiment (which then rolls back) instead of the process.
void catchInterrupts() {
  g_interrupted = false;
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// Interrupts caught (catchInterrupts), then the mesh up; nullptr after saying why.
std::unique_ptr<MeshSession> startChaosMesh(const PodSpec& loaded, const std::string& run_dir,
                                            uint64_t seed, const char* command, std::ostream& err) {
  catchInterrupts();
  MeshSessionOptions mo{.spec_paths = loaded.paths, .run_dir = run_dir, .seed = seed};
  return MeshSession::startOrSay(loaded.spec, mo, command, err);
}

// The hypothesis is the SLO the Sprint's alerts guard.
chaos::EngineOptions engineOptions(const spec::Spec& spec, uint64_t seed) {
  chaos::EngineOptions eo;
  eo.seed = seed;
  if (spec.sprint) {
    eo.hypothesis.min_success_percent = 100.0 - spec.sprint->alerts.error_rate_percent;
    eo.hypothesis.max_p95_ms =
        std::chrono::duration<double, std::milli>(spec.sprint->alerts.latency_p95).count();
  }
  return eo;
}

} // namespace

int chaosCommand(const ChaosCommandOptions& o, std::ostream& out, std::ostream& err) {
  const char* const cmd = "meshproof chaos: ";
  const std::string action = o.args.empty() ? "" : o.args[0];
  if (action != "latency" && action != "kill" && action != "run" && action != "plan") {
    err << cmd << "give latency, kill, run NAME or plan\n";
    return kExitUsage;
  }
  std::optional<PodSpec> loaded = loadPodSpec(o.spec_paths, "meshproof chaos", err);
  if (!loaded) {
    return kExitUsage;
  }
  const spec::Spec& spec = loaded->spec;
  std::vector<spec::ChaosExperiment> plan;
  if (action == "latency" || action == "kill") {
    auto e = adHoc(o);
    if (!e) {
      err << cmd << e.status().message() << '\n';
      return kExitUsage;
    }
    plan.push_back(*e);
  } else {
    if (!spec.sprint || spec.sprint->experiments.empty()) {
      err << cmd << "the spec has no Sprint with chaos experiments\n";
      return kExitUsage;
    }
    for (const spec::ChaosExperiment& e : spec.sprint->experiments) {
      if (action == "plan" || (o.args.size() > 1 && e.name == o.args[1])) {
        plan.push_back(e);
      }
    }
    if (!o.experiment_duration.empty()) {
      auto d = core::parseDuration(o.experiment_duration);
      if (!d || *d <= core::Duration::zero()) {
        err << cmd << "experiment duration \"" << o.experiment_duration
            << "\" is not a positive duration\n";
        return kExitUsage;
      }
      for (spec::ChaosExperiment& e : plan) {
        e.duration = *d;
      }
    }
    if (plan.empty()) {
      err << cmd << "no experiment named \"" << (o.args.size() > 1 ? o.args[1] : "")
          << "\" in the Sprint\n";
      return kExitUsage;
    }
  }
  // Every target must be a host of the mesh, before anything starts.
  for (const spec::ChaosExperiment& e : plan) {
    if (!knownHost(spec, e.target)) {
      err << cmd << e.name << ": unknown service \"" << e.target
          << "\" (no Workload app or VirtualService host has it)\n";
      return kExitUsage;
    }
  }
  auto linger = core::parseDuration(o.linger);
  if (!linger || !(o.rate > 0)) {
    err << cmd << (linger ? "--rate must be positive" : "--linger must be a duration") << '\n';
    return kExitUsage;
  }
  const uint64_t seed = chaosSeed(o.seed, spec);

  // A previous run that died mid-experiment: its mesh died with it (pods get SIGKILL when their
  // parent dies), so nothing is left injected; say so in the journal.
  const fs::path marker = fs::path(o.run_dir) / "chaos-active.json";
  std::string crashed_before;
  std::error_code ec;
  if (fs::exists(marker, ec)) {
    std::ifstream in(marker);
    crashed_before.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    fs::remove(marker, ec);
  }

  auto session = startChaosMesh(*loaded, o.run_dir, seed, "meshproof chaos", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  err << cmd << "control plane http://127.0.0.1:" << mesh.plane().adminPort()
      << ", ingress :" << mesh.ingressPort() << ", seed " << seed << '\n';
  // A kill whose selector matches no pod is bad input, not a failed experiment.
  for (const spec::ChaosExperiment& e : plan) {
    if (e.type == spec::ChaosExperiment::Type::PodKill &&
        chaos::selectPods(e, mesh.platform().pods(), seed).empty()) {
      err << cmd << e.name << ": no pod of " << e.target
          << (e.version.empty() ? std::string() : " version " + e.version) << " to kill\n";
      return kExitUsage;
    }
  }
  std::unique_ptr<prom::Prometheus> prometheus;
  uint16_t prometheus_port = o.prometheus_port;
  if (o.prometheus && prometheus_port == 0) {
    auto started = startMeshPrometheus(spec, mesh, o.run_dir, "meshproof chaos", err);
    if (!started) {
      err << cmd << "prometheus: " << started.status().message() << '\n';
      return kExitUsage;
    }
    prometheus = std::move(started).value();
    prometheus_port = prometheus ? prometheus->port() : 0;
  }
  MeshTarget target(mesh, o.rate, prometheus_port);
  const chaos::EngineOptions eo = engineOptions(spec, seed);
  std::string crashed = crashed_before;
  PlanRun ran =
      runPlan(mesh, target, plan, eo, o.run_dir, o.journal, crashed, recoveryConfig(spec), err);
  std::vector<nlohmann::ordered_json>& journals = ran.journals;
  int exit_code = ran.exit_code;
  if (!o.evidence.empty()) {
    std::vector<evidence::NewArtifact> batch;
    for (const auto& j : journals) {
      const std::string source = j["journalPath"].get<std::string>();
      batch.push_back({"chaos-log", "chaos/" + fs::path(source).filename().string(), source, ""});
    }
    if (auto st = recordEvidence(o.evidence, batch, err); !st.isOk()) {
      err << cmd << "journals not recorded in " << o.evidence << ": " << st.message() << '\n';
      exit_code = exit_code == kExitOk ? kExitUsage : exit_code;
    } else {
      err << cmd << "journals recorded in " << o.evidence << '\n';
    }
  }
  if (o.json) {
    if (journals.size() == 1) {
      out << journals.front().dump(2) << '\n';
    } else {
      out << nlohmann::ordered_json(journals).dump(2) << '\n';
    }
  } else {
    for (const auto& j : journals) {
      out << std::left << std::setw(24) << j["experiment"]["name"].get<std::string>()
          << std::setw(12) << j["status"].get<std::string>() << j["journalPath"].get<std::string>()
          << '\n';
    }
  }
  if (*linger > core::Duration::zero()) {
    err << cmd << "lingering " << core::formatDuration(*linger) << " (Ctrl-C ends it)\n";
    g_interrupted = false;
    target.sleep(*linger);
  }
  return exit_code;
}

} // namespace meshproof::cli

namespace meshproof::cli {

int scheduleCommand(const ScheduleCommandOptions& o, std::ostream& out, std::ostream& err) {
  const char* const cmd = "meshproof schedule: ";
  std::optional<PodSpec> loaded = loadPodSpec(o.spec_paths, "meshproof schedule", err);
  if (!loaded) {
    return kExitUsage;
  }
  const spec::Spec& spec = loaded->spec;
  if (!spec.sprint || spec.sprint->experiments.empty()) {
    err << cmd << "the spec has no Sprint with chaos experiments\n";
    return kExitUsage;
  }
  const spec::Sprint& sprint = *spec.sprint;
  core::Duration span = std::chrono::hours(24 * 365);
  if (!o.for_duration.empty()) {
    auto d = core::parseDuration(o.for_duration);
    if (!d || *d <= core::Duration::zero()) {
      err << cmd << "--for must be a positive duration such as 24h\n";
      return kExitUsage;
    }
    span = *d;
  }
  const std::string sprint_name = sprint.name.empty() ? sprint.meta.name : sprint.name;
  const std::string evidence_dir = o.evidence.empty() ? "evidence/" + sprint_name : o.evidence;
  const uint64_t seed = chaosSeed(o.seed, spec);

  auto session = startChaosMesh(*loaded, o.run_dir, seed, "meshproof schedule", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  std::unique_ptr<prom::Prometheus> prometheus;
  if (o.prometheus) {
    auto started = startMeshPrometheus(spec, mesh, o.run_dir, "meshproof schedule", err);
    if (!started) {
      err << cmd << "prometheus: " << started.status().message() << '\n';
      return kExitUsage;
    }
    prometheus = std::move(started).value();
  }
  MeshTarget target(mesh, o.rate, prometheus ? prometheus->port() : 0);
  const chaos::EngineOptions eo = engineOptions(spec, seed);
  err << cmd << "evidence in " << evidence_dir << "; chaos "
      << (sprint.chaos_cron.empty() ? "every " + core::formatDuration(sprint.chaos_interval)
                                    : "at cron \"" + sprint.chaos_cron + "\"")
      << ", reports every " << core::formatDuration(sprint.report_interval) << '\n';

  int exit_code = kExitOk;
  int run_number = 0;
  std::vector<nlohmann::json> since_report; // the journals of the runs since the last report
  std::string crashed;
  auto chaos_run = [&] {
    ++run_number;
    PlanRun ran = runPlan(mesh, target, sprint.experiments, eo, o.run_dir, "", crashed,
                          recoveryConfig(spec), err);
    std::vector<evidence::NewArtifact> batch;
    for (const auto& j : ran.journals) {
      const std::string source = j["journalPath"].get<std::string>();
      batch.push_back({"chaos-log", "chaos/" + fs::path(source).filename().string(), source, ""});
      since_report.push_back(nlohmann::json::parse(j.dump()));
    }
    auto st = recordEvidence(evidence_dir, batch, err);
    auto verified =
        st.isOk() ? verifyEvidence(evidence_dir, err) : core::Result<evidence::VerifyReport>(st);
    if (!verified || !verified->ok()) {
      err << cmd << "evidence: "
          << (verified ? std::string("verification FAILED") : verified.status().message()) << '\n';
      exit_code = kExitCheckFailed;
    } else {
      err << cmd << "run " << run_number << ": evidence verified (" << verified->records
          << " records)\n";
    }
    if (ran.exit_code != kExitOk && exit_code == kExitOk) {
      exit_code = ran.exit_code;
    }
  };
  auto report = [&] {
    // The report of the runs since the last one (report/report.h), Markdown and HTML.
    report::ReportData d;
    d.evidence_dir = evidence_dir;
    d.sprint = sprint_name;
    const std::string now = core::formatIso8601(core::RealClock::instance().wallNow());
    d.subtitle = std::to_string(since_report.size()) +
                 " chaos experiments since the last report (meshproof schedule, written " + now +
                 ")";
    d.journals = std::move(since_report);
    since_report.clear();
    d.evidence = report::evidenceSummary(evidence_dir);
    const std::string name = "reports/schedule-" + safeName(now);
    if (auto st = recordEvidence(evidence_dir,
                                 {{"report", name + ".md", "", report::markdown(d)},
                                  {"report", name + ".html", "", report::html(d)}},
                                 err);
        !st.isOk()) {
      err << cmd << "report not recorded: " << st.message() << '\n';
      exit_code = kExitCheckFailed;
    }
  };
  std::vector<chaos::ScheduleEvent> events;
  if (o.once) {
    chaos_run();
    report();
    events.push_back({chaos::ScheduleEvent::Kind::Chaos,
                      core::formatIso8601(core::RealClock::instance().wallNow()), "--once"});
    events.push_back({chaos::ScheduleEvent::Kind::Report,
                      core::formatIso8601(core::RealClock::instance().wallNow()), "--once"});
  } else {
    chaos::ScheduleOptions so;
    so.interval = sprint.chaos_interval;
    if (!sprint.chaos_cron.empty()) {
      so.cron = *core::Cron::parse(sprint.chaos_cron); // checked by the spec loader
    }
    so.report_interval = sprint.report_interval;
    so.span = span;
    so.forbid = sprint.chaos_concurrency != "Allow";
    chaos::ScheduleHooks hooks{[&](core::MonoTime t) {
                                 return target.sleep(std::chrono::duration_cast<core::Duration>(
                                     t - core::RealClock::instance().monotonicNow()));
                               },
                               chaos_run, report};
    events = chaos::runSchedule(so, core::RealClock::instance(), hooks, &g_interrupted);
  }
  std::string log;
  for (const chaos::ScheduleEvent& e : events) {
    log += std::string(chaos::eventKindName(e.kind)) + " " + e.time + " " + e.detail + "\n";
    out << std::left << std::setw(9) << chaos::eventKindName(e.kind) << e.time << "  " << e.detail
        << '\n';
  }
  const std::string log_name =
      "schedule/log-" + safeName(core::formatIso8601(core::RealClock::instance().wallNow())) +
      ".txt";
  if (auto st = recordEvidence(evidence_dir, {{"schedule", log_name, "", log}}, err); !st.isOk()) {
    err << cmd << "schedule log not recorded: " << st.message() << '\n';
    exit_code = kExitCheckFailed;
  }
  auto verified = verifyEvidence(evidence_dir, err);
  out << "evidence " << evidence_dir << ": "
      << (verified && verified->ok() ? "verified, " + std::to_string(verified->records) + " records"
                                     : std::string("NOT verified"))
      << '\n';
  if (!verified || !verified->ok()) {
    exit_code = kExitCheckFailed;
  }
  return g_interrupted.load() ? 130 : exit_code;
}

} // namespace meshproof::cli
