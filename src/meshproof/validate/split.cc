#include "meshproof/validate/split.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace meshproof::validate {

const char* verdictName(Verdict v) {
  switch (v) {
  case Verdict::Pass:
    return "PASS";
  case Verdict::Fail:
    return "FAIL";
  case Verdict::Inconclusive:
    return "INCONCLUSIVE";
  }
  return "?";
}

uint64_t plannedSampleSize(double canary_share, double delta_percent, double alpha, double power) {
  const double p1 = std::min(canary_share + delta_percent / 100.0, 0.999999);
  const uint64_t normal =
      stats::sampleSizeNormal(canary_share, p1, alpha, power, stats::Sides::Two);
  // Exact power is saw-toothed in n; look well past the normal approximation for its last dip.
  return stats::exactSampleSize(canary_share, p1, alpha, power, stats::Sides::Two,
                                normal + normal / 3 + 100)
      .stable;
}

core::Result<SplitResult> evaluateSplit(const SplitInput& in) {
  if (in.expected_weights.size() < 2) {
    return core::invalidArgument("split: " + in.host + " needs at least two weighted versions");
  }
  double total_weight = 0;
  for (const auto& [version, w] : in.expected_weights) {
    if (!(w > 0)) {
      return core::invalidArgument("split: the weight of " + version + " must be positive");
    }
    total_weight += w;
  }
  for (const auto& [version, n] : in.first_attempts) {
    if (n > 0 && in.expected_weights.count(version) == 0) {
      return core::invalidArgument("split: " + std::to_string(n) + " requests reached version \"" +
                                   version + "\", which the weights of " + in.host +
                                   " do not name");
    }
  }
  SplitResult r;
  std::vector<uint64_t> observed;
  std::vector<double> shares;
  double canary = 1.0;
  for (const auto& [version, w] : in.expected_weights) {
    auto it = in.first_attempts.find(version);
    const uint64_t n = it == in.first_attempts.end() ? 0 : it->second;
    observed.push_back(n);
    shares.push_back(w / total_weight);
    canary = std::min(canary, w / total_weight);
    r.requests += n;
  }
  r.planned = plannedSampleSize(canary, in.min_deviation_percent, in.alpha, in.power);
  const double delta = in.min_deviation_percent / 100.0;
  bool within = true;
  size_t i = 0;
  for (const auto& [version, w] : in.expected_weights) {
    VersionResult v;
    v.observed = observed[i];
    v.expected_share = shares[i];
    v.share =
        r.requests == 0 ? 0.0 : static_cast<double>(v.observed) / static_cast<double>(r.requests);
    v.interval = stats::wilson(static_cast<double>(v.observed), static_cast<double>(r.requests),
                               1.0 - in.alpha);
    within = within && v.interval.lower >= v.expected_share - delta &&
             v.interval.upper <= v.expected_share + delta;
    r.versions[version] = v;
    ++i;
  }
  if (r.requests < r.planned) {
    r.verdict = Verdict::Inconclusive;
    r.reason = "underpowered: " + std::to_string(r.requests) + " requests, but at least " +
               std::to_string(r.planned) + " are needed to detect a " +
               std::to_string(static_cast<int>(in.min_deviation_percent)) +
               "-point shift of the canary at alpha = " + std::to_string(in.alpha).substr(0, 4) +
               " with power " + std::to_string(in.power).substr(0, 4);
    if (r.requests == 0) {
      return r;
    }
  }
  auto chi = stats::chiSquareGoodnessOfFit(observed, shares);
  if (!chi) {
    return chi.status();
  }
  r.chi_square = *chi;
  if (r.requests < r.planned) {
    return r;
  }
  char p[32];
  std::snprintf(p, sizeof p, "%.3g", chi->p_value);
  if (chi->p_value < in.alpha) {
    r.verdict = Verdict::Fail;
    r.reason = std::string("the observed split differs from the weights (chi-square p = ") + p +
               " < alpha)";
  } else if (within) {
    r.verdict = Verdict::Pass;
    r.reason = std::string("consistent with the weights (chi-square p = ") + p +
               ") and every share's interval within +-" +
               std::to_string(static_cast<int>(in.min_deviation_percent)) + " points";
  } else {
    r.verdict = Verdict::Inconclusive;
    r.reason = std::string("not shown different (p = ") + p +
               "), but an interval reaches beyond the tolerance band";
  }
  return r;
}

} // namespace meshproof::validate
