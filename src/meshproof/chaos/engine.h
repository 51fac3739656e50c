#pragma once
// One chaos experiment, as Chaos Toolkit runs one but with rollback always (chaos-canary-anchors
// §3): check the steady-state hypothesis before (not met: status failed, nothing injected); apply
// the method (an Istio latency fault on the routes to a host, pushed by the control plane; or pods
// killed, chosen from a recorded seed); probe continuously for the experiment's duration, aborting
// after `abort_after` consecutive breaches; then roll back on every path — faults removed, killed
// pods awaited until ready again — and check the hypothesis after. The journal says what happened:
// start and end (ISO 8601 UTC), status completed | failed | aborted | interrupted, deviated, seed,
// steady states before, during and after, and every action and rollback with its times.
//
// The mesh is reached through ChaosTarget (a seam: the CLI implements it over the local mesh, tests
// with fakes); time through a Clock and the target's sleep().

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshproof/core/clock.h"
#include "meshproof/core/result.h"
#include "meshproof/platform/platform.h"
#include "meshproof/spec/spec.h"

namespace meshproof::chaos {

// What the proxies saw since the previous probe.
struct SteadyState {
  uint64_t requests = 0;
  double success_percent = 100; // non-5xx share
  double p95_ms = 0;
  // What a Prometheus scraping the same proxies saw for the same window, when one runs:
  // {successPercent, p95Ms, window} or {unavailable: why}. Recorded beside the proxies' numbers in
  // the journal, not judged: the proxies' counters are exact and current, Prometheus' lag a scrape
  // interval (and, for a mesh it has just discovered, several seconds).
  std::optional<nlohmann::json> prometheus;
};

// The hypothesis: the SLO the sprint's alerts guard (success >= 100 - errorRatePercent, P95 <=
// latencyP95), with at least `min_requests` seen (no traffic is not a steady state).
struct Hypothesis {
  double min_success_percent = 95;
  double max_p95_ms = 500;
  uint64_t min_requests = 1;
};

class ChaosTarget {
public:
  virtual ~ChaosTarget() = default;
  // Adds a latency fault on every route to `host` (each delay uniform in delay +- jitter); returns
  // its id.
  virtual core::Result<std::string> addLatency(const std::string& host, core::Duration delay,
                                               core::Duration jitter, double percentage) = 0;
  virtual core::Status removeFault(const std::string& id) = 0;
  virtual std::vector<platform::PodStatus> pods() = 0;
  virtual core::Status killPod(const std::string& pod, platform::KillMode mode,
                               core::Duration grace) = 0;
  // Success rate and P95 since the previous call.
  virtual core::Result<SteadyState> probe() = 0;
  // Waits; false when interrupted (then the experiment stops and rolls back).
  virtual bool sleep(core::Duration d) = 0;
};

struct EngineOptions {
  Hypothesis hypothesis;
  core::Duration probe_interval = std::chrono::seconds(1);
  uint32_t abort_after = 3; // consecutive breaches during the method
  core::Duration recovery_timeout = std::chrono::seconds(60); // killed pods ready again
  core::Duration settle = std::chrono::seconds(1);            // after rollback, before "after"
  uint64_t seed = 0;
};

// The pods an experiment kills: those of the target host (app label) and version (when set),
// sorted by name, then `mode` one (1), fixed (`value`), percent (ceil(value% of them)), chosen by a
// seeded shuffle: the same seed selects the same pods in the same order.
std::vector<std::string> selectPods(const spec::ChaosExperiment& experiment,
                                    const std::vector<platform::PodStatus>& pods, uint64_t seed);

// Runs one experiment. `interrupted` (may be null) is polled; the target's sleep() may also report
// an interruption. Never throws; failures of the mesh become failed actions in the journal.
nlohmann::ordered_json runExperiment(const spec::ChaosExperiment& experiment, ChaosTarget& target,
                                     const EngineOptions& options, core::Clock& clock,
                                     const std::atomic<bool>* interrupted = nullptr);

} // namespace meshproof::chaos
