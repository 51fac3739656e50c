#pragma once
// The split validation (chaos-canary-anchors.md §8): did the mesh send each version the share its
// weights say? Counts are first attempts only (retries go where the retry policy sends them, not
// where the split does), one routing decision per request: the unit of randomisation is the
// request.
//
// Planning: the canary is the version with the smallest expected share p0; the check must detect
// p0 + delta (delta = minDeviationPercent) at level alpha with the given power, so it needs the
// exact binomial test's stable sample size (0.10 vs 0.15, 0.01, 0.99: 1,068). With fewer requests
// the verdict is INCONCLUSIVE. Otherwise: FAIL when Pearson's chi-square rejects the expected
// shares at alpha; PASS when it does not and every version's Wilson interval (confidence 1 - alpha)
// lies within its expected share +- delta; INCONCLUSIVE in between (not different, not proven
// equal).

#include <cstdint>
#include <map>
#include <string>

#include "meshproof/core/result.h"
#include "meshproof/stats/stats.h"

namespace meshproof::validate {

struct SplitInput {
  std::string host;
  std::map<std::string, double> expected_weights; // version -> weight (any positive scale)
  std::map<std::string, uint64_t> first_attempts; // version -> requests routed there first
  double alpha = 0.01;
  double power = 0.99;
  double min_deviation_percent = 5.0;
};

enum class Verdict { Pass, Fail, Inconclusive };
const char* verdictName(Verdict v);

struct VersionResult {
  uint64_t observed = 0;
  double expected_share = 0;
  double share = 0;
  stats::Interval interval; // Wilson, confidence 1 - alpha
};

struct SplitResult {
  Verdict verdict = Verdict::Inconclusive;
  std::string reason;
  uint64_t requests = 0;
  uint64_t planned = 0; // the sample size the check needs
  stats::ChiSquare chi_square;
  std::map<std::string, VersionResult> versions;
};

// The sample size needed to detect a `delta_percent` shift of a `canary_share` at `alpha` with
// `power` (exact binomial, stable).
uint64_t plannedSampleSize(double canary_share, double delta_percent, double alpha, double power);

// Errors: fewer than two versions, a weight that is not positive, an observed version the weights
// do not name.
core::Result<SplitResult> evaluateSplit(const SplitInput& input);

} // namespace meshproof::validate
