#include "meshproof/chaos/engine.h"

#include <algorithm>
#include <cmath>

#include "meshproof/core/random.h"
#include "meshproof/core/time.h"

namespace meshproof::chaos {

namespace {

using json = nlohmann::ordered_json;

std::string now(core::Clock& clock) {
  return core::formatIso8601(clock.wallNow());
}

json probeJson(const core::Result<SteadyState>& s, const Hypothesis& h, core::Clock& clock,
               bool* met) {
  json j{{"time", now(clock)}};
  if (!s) {
    *met = false;
    j["met"] = false;
    j["error"] = s.status().message();
    return j;
  }
  std::string why;
  if (s->requests < h.min_requests) {
    why = "no traffic (" + std::to_string(s->requests) + " requests)";
  } else if (s->success_percent < h.min_success_percent) {
    why = "success rate below " + std::to_string(h.min_success_percent) + " %";
  } else if (s->p95_ms > h.max_p95_ms) {
    why = "P95 above " + std::to_string(h.max_p95_ms) + " ms";
  }
  *met = why.empty();
  j["met"] = *met;
  j["requests"] = s->requests;
  j["successPercent"] = s->success_percent;
  j["p95Ms"] = s->p95_ms;
  if (!why.empty()) {
    j["breach"] = why;
  }
  if (s->prometheus) {
    j["prometheus"] = *s->prometheus;
  }
  return j;
}

} // namespace

std::vector<std::string> selectPods(const spec::ChaosExperiment& e,
                                    const std::vector<platform::PodStatus>& pods, uint64_t seed) {
  std::vector<std::string> candidates;
  for (const platform::PodStatus& p : pods) {
    auto app = p.labels.find("app");
    auto version = p.labels.find("version");
    if (app == p.labels.end() || spec::shortHost(app->second) != spec::shortHost(e.target)) {
      continue;
    }
    if (!e.version.empty() && (version == p.labels.end() || version->second != e.version)) {
      continue;
    }
    candidates.push_back(p.name);
  }
  std::sort(candidates.begin(), candidates.end());
  // Fisher-Yates from the seed.
  core::SeededRandom random(seed);
  for (size_t i = candidates.size(); i > 1; --i) {
    std::swap(candidates[i - 1], candidates[random.uniform(i)]);
  }
  size_t n = 1;
  if (e.mode == "fixed") {
    n = e.value;
  } else if (e.mode == "percent") {
    n = static_cast<size_t>(std::ceil(static_cast<double>(candidates.size()) * e.value / 100.0));
  }
  candidates.resize(std::min(n, candidates.size()));
  return candidates;
}

json runExperiment(const spec::ChaosExperiment& e, ChaosTarget& target,
                   const EngineOptions& options, core::Clock& clock,
                   const std::atomic<bool>* interrupted) {
  const bool latency = e.type == spec::ChaosExperiment::Type::Latency;
  json j;
  j["experiment"] = {{"name", e.name},
                     {"type", latency ? "latency" : "podKill"},
                     {"target", e.target},
                     {"duration", core::formatDuration(e.duration)}};
  if (latency) {
    j["experiment"]["fixedDelay"] = core::formatDuration(e.fixed_delay);
    j["experiment"]["percentage"] = e.percentage;
    if (e.jitter > core::Duration::zero()) {
      j["experiment"]["jitter"] = core::formatDuration(e.jitter);
      j["experiment"]["delayModel"] = "uniform in fixedDelay +- jitter (a meshproof extension: "
                                      "Istio's fault delay is fixed)";
    }
  } else {
    j["experiment"]["version"] = e.version;
    j["experiment"]["mode"] = e.mode;
    j["experiment"]["value"] = e.value;
    j["experiment"]["signal"] = e.signal;
  }
  j["seed"] = options.seed;
  j["hypothesis"] = {{"minSuccessPercent", options.hypothesis.min_success_percent},
                     {"maxP95Ms", options.hypothesis.max_p95_ms},
                     {"probeInterval", core::formatDuration(options.probe_interval)},
                     {"abortAfterConsecutiveBreaches", options.abort_after}};
  j["start"] = now(clock);
  j["deviated"] = false;
  json run = json::array();
  json rollbacks = json::array();
  json during = json::array();
  std::string status = "completed";
  auto stopped = [&] { return interrupted != nullptr && interrupted->load(); };

  // Before: the gate.
  (void)target.probe(); // starts the window
  bool met = false;
  if (!target.sleep(options.probe_interval) || stopped()) {
    status = "interrupted";
  }
  j["steadyStates"]["before"] = probeJson(target.probe(), options.hypothesis, clock, &met);
  if (status == "completed" && !met) {
    status = "failed";
    j["reason"] = "the steady state was not met before the method: nothing was injected";
  }

  std::vector<std::string> fault_ids;
  std::vector<platform::PodStatus> killed;
  if (status == "completed") {
    if (latency) {
      json action{{"action", "add-latency-fault"}, {"start", now(clock)}};
      auto id = target.addLatency(e.target, e.fixed_delay, e.jitter, e.percentage);
      action["end"] = now(clock);
      if (id) {
        fault_ids.push_back(*id);
        action["status"] = "succeeded";
        action["output"] = {{"faultId", *id}, {"host", e.target}};
      } else {
        action["status"] = "failed";
        action["error"] = id.status().message();
        status = "failed";
      }
      run.push_back(action);
    } else {
      const std::vector<platform::PodStatus> pods = target.pods();
      const std::vector<std::string> chosen = selectPods(e, pods, options.seed);
      j["selectedPods"] = chosen;
      if (chosen.empty()) {
        status = "failed";
        j["reason"] = "no pod of " + e.target + " to kill";
      }
      const platform::KillMode mode =
          e.signal == "SIGTERM" ? platform::KillMode::Terminate : platform::KillMode::Kill;
      for (const std::string& name : chosen) {
        json action{
            {"action", "kill-pod"}, {"pod", name}, {"signal", e.signal}, {"start", now(clock)}};
        auto before = std::find_if(pods.begin(), pods.end(),
                                   [&](const platform::PodStatus& p) { return p.name == name; });
        auto st = target.killPod(name, mode, e.grace);
        action["end"] = now(clock);
        action["status"] = st.isOk() ? "succeeded" : "failed";
        if (!st.isOk()) {
          action["error"] = st.message();
          status = "failed";
        } else {
          killed.push_back(*before);
        }
        run.push_back(action);
      }
    }
  }

  // During: probe until the duration is over, abort on consecutive breaches.
  if (status == "completed") {
    const core::MonoTime end = clock.monotonicNow() + e.duration;
    uint32_t breaches = 0;
    while (clock.monotonicNow() < end) {
      const core::Duration left = end - clock.monotonicNow();
      if (!target.sleep(std::min(left, options.probe_interval)) || stopped()) {
        status = "interrupted";
        break;
      }
      during.push_back(probeJson(target.probe(), options.hypothesis, clock, &met));
      breaches = met ? 0 : breaches + 1;
      if (breaches >= options.abort_after) {
        status = "aborted";
        j["reason"] =
            "the steady state was breached " + std::to_string(breaches) + " probes in a row";
        break;
      }
    }
  }

  // Rollback, always: faults off, killed pods back.
  for (const std::string& id : fault_ids) {
    json rb{{"action", "remove-fault"}, {"faultId", id}, {"start", now(clock)}};
    auto st = target.removeFault(id);
    rb["end"] = now(clock);
    rb["status"] = st.isOk() ? "succeeded" : "failed";
    if (!st.isOk()) {
      rb["error"] = st.message();
    }
    rollbacks.push_back(rb);
  }
  for (const platform::PodStatus& k : killed) {
    json rb{{"action", "await-pod-ready"}, {"pod", k.name}, {"start", now(clock)}};
    const core::MonoTime deadline = clock.monotonicNow() + options.recovery_timeout;
    bool back = false;
    for (;;) {
      for (const platform::PodStatus& p : target.pods()) {
        back = back || (p.name == k.name && p.ready && p.restarts > k.restarts);
      }
      if (back || clock.monotonicNow() >= deadline) {
        break;
      }
      target.sleep(std::chrono::milliseconds(100)); // rollback continues even when interrupted
    }
    rb["end"] = now(clock);
    rb["status"] = back ? "succeeded" : "failed";
    if (!back) {
      rb["error"] =
          k.name + " was not ready again within " + core::formatDuration(options.recovery_timeout);
    }
    rollbacks.push_back(rb);
  }

  // After.
  if (status != "interrupted" && status != "failed") {
    (void)target.sleep(options.settle);
    (void)target.probe();
    (void)target.sleep(options.probe_interval);
    j["steadyStates"]["after"] = probeJson(target.probe(), options.hypothesis, clock, &met);
    if (!met) {
      j["deviated"] = true;
      if (status == "completed") {
        status = "failed";
        j["reason"] = "the steady state was not back after the rollback";
      }
    }
  }
  const bool rollback_failed = std::any_of(
      rollbacks.begin(), rollbacks.end(), [](const json& r) { return r["status"] != "succeeded"; });
  if (rollback_failed && status == "completed") {
    status = "failed";
    j["reason"] = "a rollback failed";
  }
  j["steadyStates"]["during"] = during;
  j["run"] = run;
  j["rollbacks"] = rollbacks;
  j["status"] = status;
  j["end"] = now(clock);
  return j;
}

} // namespace meshproof::chaos
