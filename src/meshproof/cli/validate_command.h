#pragma once
// `meshproof validate split [-f SPEC] [--requests N] [--expect v1=90,v2=10] [--json]`: brings the
// mesh up, sends requests through the ingress, counts the first attempts each version of the
// split host served (from every pod's meshproof_workload_requests_total), and judges the split
// (validate/split.h). Prints a verdict table or the JSON verdict record. Exit 0 on PASS, 1 on FAIL
// or INCONCLUSIVE, 2 on bad input.
// `validate retries`: every pod of the host fails its first k attempts, then hangs (retries.h).
// `validate breaker`: one pod of the subset answers 503; each client proxy must eject it at exactly
// the N-th consecutive 5xx and take it back after baseEjectionTime (breaker.h).
// `validate recovery`: a pod of the host is killed under open-loop load; success rate and the pod
// must be back within maxRecovery (recovery.h).

#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct ValidateCommandOptions {
  std::string check;
  std::vector<std::string> spec_paths;
  long long requests = 0; // 0: planned from alpha, power and the deviation to detect
  std::string expect;     // "v1=90,v2=10"; default: the spec's route weights
  int connections = 8;
  std::string run_dir = ".meshproof";
  bool json = false;
  uint64_t seed = 0;       // 0: from the clock
  int expect_retries = -1; // retries: the retry count to expect; -1: the spec route's
  // breaker: the consecutive 5xx count to expect an ejection at; -1: the spec's (or Istio's 5)
  int expect_ejection_after = -1;
  double rate = 0;          // breaker, recovery: requests per second; 0: the check's default
  bool no_restarts = false; // recovery: restartPolicy Never (the positive control)
  std::string pod;          // recovery: the pod to kill; empty: a seeded choice among the host's
  // split: the deviation to detect in points, instead of the Sprint's minDeviationPercent (a
  // coarser claim needs fewer requests: `run --quick`); 0: the Sprint's.
  double min_deviation_percent = 0;
  // breaker: check the ejection at the N-th 5xx and that nothing reaches the pod for this long
  // after it, without waiting baseEjectionTime for the return (`run --quick`); 0: the full check.
  double ejection_only_hold_s = 0;
};

int validateCommand(const ValidateCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
