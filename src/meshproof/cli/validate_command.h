#pragma once
// `meshproof validate split [-f SPEC] [--requests N] [--expect v1=90,v2=10] [--json]`: brings the
// mesh up, sends requests through the ingress, counts the first attempts each version of the
// split host served (from every pod's meshproof_workload_requests_total), and judges the split
// (validate/split.h). Prints a verdict table or the JSON verdict record. Exit 0 on PASS, 1 on FAIL
// or INCONCLUSIVE, 2 on bad input. retries, breaker and recovery are not implemented yet.

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
};

int validateCommand(const ValidateCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace meshproof::cli
