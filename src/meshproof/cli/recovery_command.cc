// `meshproof validate recovery`: a pod of the host is killed under steady open-loop load; the
// success rate must be back at the objective and the pod ready again within maxRecovery
// (validate/recovery.h).

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "meshproof/cli/app.h"
#include "meshproof/cli/validate_support.h"
#include "meshproof/core/random.h"
#include "meshproof/core/time.h"
#include "meshproof/validate/recovery.h"

namespace meshproof::cli {

namespace {

using namespace std::chrono_literals;

std::optional<platform::PodStatus> findPod(MeshSession& mesh, const std::string& name) {
  for (platform::PodStatus& p : mesh.platform().pods()) {
    if (p.name == name) {
      return std::move(p);
    }
  }
  return std::nullopt;
}

} // namespace

int validateRecovery(const spec::Spec& spec, const std::vector<std::string>& paths,
                     const ValidateCommandOptions& options, std::ostream& out, std::ostream& err) {
  const char* const cmd = "meshproof validate recovery: ";
  if (!spec.sprint || !spec.sprint->recovery) {
    err << cmd << "the spec has no Sprint with validations.recovery\n";
    return kExitUsage;
  }
  const spec::RecoveryValidation& cfg = *spec.sprint->recovery;
  if (options.rate < 0 || !std::isfinite(options.rate)) {
    err << cmd << "--rate must be positive (or 0: chosen from the objective)\n";
    return kExitUsage;
  }
  const uint64_t seed =
      options.seed != 0
          ? options.seed
          : static_cast<uint64_t>(core::RealClock::instance().wallNow().time_since_epoch().count());
  const std::string started = core::formatIso8601(core::RealClock::instance().wallNow());
  MeshSessionOptions mo{.spec_paths = paths,
                        .run_dir = options.run_dir,
                        .seed = seed,
                        .restart_pods = !options.no_restarts};
  auto session = MeshSession::startOrSay(spec, mo, "meshproof validate recovery", err);
  if (!session) {
    return kExitUsage;
  }
  MeshSession& mesh = *session;
  const std::vector<platform::PodStatus> pods = podsOf(mesh, cfg.host);
  if (pods.empty()) {
    err << cmd << "no pod serves " << cfg.host << '\n';
    return kExitUsage;
  }
  // The victim: the one asked for, or a seeded choice, so a recorded seed replays it.
  core::SeededRandom random(seed);
  platform::PodStatus victim = pods[random.uniform(pods.size())];
  if (!options.pod.empty()) {
    auto named = std::find_if(pods.begin(), pods.end(),
                              [&](const platform::PodStatus& p) { return p.name == options.pod; });
    if (named == pods.end()) {
      err << cmd << "--pod " << options.pod << ": no such pod of " << cfg.host << '\n';
      return kExitUsage;
    }
    victim = *named;
  }

  // Enough requests per window that one failure is visible against the objective (99.9 % over
  // 10 s: 1,000 requests per window, 100 per second); open loop, so a stall is charged in full.
  const double window_s = std::chrono::duration<double>(cfg.window).count();
  const double per_window =
      std::ceil(100.0 / std::max(1e-9, 100.0 - cfg.success_rate_percent) - 1e-6);
  const double rate =
      options.rate > 0 ? options.rate : std::clamp(per_window / window_s, 50.0, 500.0);
  load::LoadOptions lo;
  // Open loop: a connection carries one request at a time, so at the intended rate each has
  // connections / rate seconds per request, and a request slower than that puts the generator
  // behind its schedule. At least 200 ms each: after the kill, requests retried into the dead pod
  // (backoff up to 250 ms per retry) hold a connection that long. More connections do not help a
  // mesh that cannot serve the rate at all (an ASan mesh on 2 cores at 333/s fell behind with 67).
  lo.connections = static_cast<uint32_t>(std::max(8.0, std::ceil(rate * 0.2)));
  lo.rate = rate;
  lo.timeout = 10s;
  lo.timeline_bucket = 100ms;
  const std::vector<platform::PodStatus> start_pods = mesh.platform().pods();
  BackgroundLoad load(mesh, lo);
  // A full window of steady state before the kill (plus a second for the generator to settle).
  std::this_thread::sleep_for(cfg.window + 1s);
  const core::WallTime kill_wall = core::RealClock::instance().wallNow();
  const auto kill_mono = std::chrono::steady_clock::now();
  if (auto st = mesh.platform().kill(victim.name, platform::KillMode::Kill, 0s); !st.isOk()) {
    (void)load.stop();
    err << cmd << st.message() << '\n';
    return kExitUsage;
  }
  // Until the pod is ready again (a new process: its restart count went up), or maxRecovery.
  std::optional<core::Duration> ready_after;
  uint64_t seen = mesh.platform().version();
  while (std::chrono::steady_clock::now() - kill_mono < cfg.max_recovery) {
    if (auto p = findPod(mesh, victim.name); p && p->ready && p->restarts > victim.restarts) {
      ready_after =
          std::chrono::duration_cast<core::Duration>(std::chrono::steady_clock::now() - kill_mono);
      break;
    }
    seen = mesh.platform().waitForChange(seen, 100ms);
  }
  // Then a full window after the later of the kill and the return, so recovery can be judged.
  const auto observe_until = kill_mono +
                             std::max<core::Duration>(ready_after.value_or(cfg.max_recovery), 0s) +
                             cfg.window + 1s;
  std::this_thread::sleep_until(observe_until);
  auto client = load.stop();
  if (!client) {
    err << cmd << client.status().message() << '\n';
    return kExitUsage;
  }
  // What else happened to the mesh's pods meanwhile (a pod that lost readiness fails its share of
  // the traffic too: the first thing to look at when the window before the kill was not steady).
  nlohmann::json pod_events = nlohmann::json::array();
  for (const platform::PodStatus& now : mesh.platform().pods()) {
    for (const platform::PodStatus& before : start_pods) {
      if (before.name == now.name &&
          (now.readiness_lost != before.readiness_lost || now.restarts != before.restarts)) {
        pod_events.push_back({{"pod", now.name},
                              {"readinessLost", now.readiness_lost - before.readiness_lost},
                              {"restarts", now.restarts - before.restarts}});
      }
    }
  }
  nlohmann::json statuses = nlohmann::json::object(); // 0: no response
  for (const auto& [code, count] : client->status_counts) {
    statuses[std::to_string(code)] = count;
  }
  validate::RecoveryInput in;
  in.host = cfg.host;
  in.pod = victim.name;
  in.success_rate_percent = cfg.success_rate_percent;
  in.window = cfg.window;
  in.max_recovery = cfg.max_recovery;
  in.bucket = lo.timeline_bucket;
  in.timeline = client->timeline;
  in.kill_at = std::chrono::duration_cast<core::Duration>(kill_wall - client->started_at);
  in.ready_after = ready_after;
  in.load_invalid = client->load_invalid;
  const validate::RecoveryResult r = validate::evaluateRecovery(in);
  auto ms = [](const std::optional<core::Duration>& d) {
    return d ? nlohmann::json(core::toMillis(*d)) : nlohmann::json(nullptr);
  };
  if (options.json) {
    nlohmann::json timeline = nlohmann::json::array();
    for (const load::TimelineBucket& b : client->timeline) {
      timeline.push_back({b.ok, b.failed});
    }
    out << verdictRecord("recovery", validate::verdictName(r.verdict), r.reason, cfg.host, started,
                         {{"inputs",
                           {{"pod", victim.name},
                            {"signal", "SIGKILL"},
                            {"restarts", !options.no_restarts},
                            {"successRatePercent", cfg.success_rate_percent},
                            {"windowMs", core::toMillis(cfg.window)},
                            {"maxRecoveryMs", core::toMillis(cfg.max_recovery)},
                            {"rate", rate},
                            {"connections", lo.connections},
                            {"seed", seed}}},
                          {"measured",
                           {{"killTime", core::formatIso8601(kill_wall)},
                            {"readyAfterMs", ms(ready_after)},
                            {"recoveredAfterMs", ms(r.recovered_after)},
                            {"baselineSuccessPercent", r.baseline_success_percent},
                            {"worstWindowPercent", r.worst_window_percent},
                            {"requestsAfterKill", r.requests_after_kill},
                            {"failedAfterKill", r.failed_after_kill},
                            {"achievedRate", client->achieved_rate},
                            {"loadInvalid", client->load_invalid},
                            {"sendLagMaxMs", static_cast<double>(client->send_lag.max()) / 1e6},
                            {"unsent", client->unsent},
                            {"statusCounts", statuses},
                            {"podEvents", pod_events}}},
                          {"timeline",
                           {{"bucketMs", core::toMillis(lo.timeline_bucket)},
                            {"start", client->start_time},
                            {"okFailed", timeline}}}})
               .dump(2)
        << '\n';
  } else {
    out << "recovery of " << cfg.host << ": " << validate::verdictName(r.verdict) << " — "
        << r.reason << '\n'
        << "  killed " << victim.name << " (seed " << seed << ") under " << std::fixed
        << std::setprecision(0) << rate << " req/s; " << r.failed_after_kill << " of "
        << r.requests_after_kill << " requests after the kill failed; worst "
        << std::setprecision(2) << r.worst_window_percent << " % over "
        << std::chrono::duration<double>(cfg.window).count() << " s windows\n";
  }
  return r.verdict == validate::Verdict::Pass ? kExitOk : kExitCheckFailed;
}

} // namespace meshproof::cli
