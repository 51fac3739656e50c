#pragma once
// The recovery validation: a pod of the host is killed under steady open-loop load; the mesh must
// be back at its success-rate objective, and the pod ready again, within maxRecovery.
//
// "Back" is measured on the client's timeline (requests counted by intended send time in buckets):
// the recovery time is the earliest moment after the kill from which every sliding window of
// `window` (stepping one bucket) has a success rate >= the objective, so a service that is healthy
// again but had one bad second is not charged a whole window. A window without requests counts as
// below the objective. Failed = no response or 5xx.
//
// Verdict: INCONCLUSIVE when the generator fell below its intended rate (load-invalid), when the
// window before the kill already missed the objective (no steady state to recover to; the reason
// says so when the generator ran so far behind that requests due before the kill left after it,
// from the buckets' max_send_lag), or when no
// full window was observed after the kill; FAIL when the pod was not ready again or the success
// rate not back within maxRecovery; PASS otherwise.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/core/duration.h"
#include "meshproof/load/generator.h"
#include "meshproof/validate/split.h"

namespace meshproof::validate {

struct RecoveryInput {
  std::string host;
  std::string pod; // the pod killed
  double success_rate_percent = 99.9;
  core::Duration window = std::chrono::seconds(10);
  core::Duration max_recovery = std::chrono::seconds(60);
  core::Duration bucket = std::chrono::milliseconds(100);
  std::vector<load::TimelineBucket> timeline; // from the load's start
  core::Duration kill_at{};                   // from the load's start
  std::optional<core::Duration> ready_after;  // kill -> the pod ready again; nullopt: never
  bool load_invalid = false;
};

struct RecoveryResult {
  Verdict verdict = Verdict::Inconclusive;
  std::string reason;
  double baseline_success_percent = 0; // the window before the kill
  double worst_window_percent = 100;   // the worst window that starts after the kill
  uint64_t requests_after_kill = 0;
  uint64_t failed_after_kill = 0;
  std::optional<core::Duration> recovered_after; // kill -> success rate back for good
};

RecoveryResult evaluateRecovery(const RecoveryInput& input);

} // namespace meshproof::validate
