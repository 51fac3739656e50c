#pragma once
// The statistics behind meshproof's verdicts (chaos-canary-anchors.md §8): goodness of fit for a
// traffic split, confidence intervals for shares and rates, the sample size a check needs before
// it may say PASS, rank tests for latency, and a sequential test for checks that look repeatedly.
// Distribution functions come from Boost.Math; nothing here allocates on a data path.
//
// Thread-safety: pure functions; Sprt is a value type.

#include <cstdint>
#include <optional>
#include <vector>

#include "meshproof/core/result.h"

namespace meshproof::stats {

// z such that P(Z <= z) = p for a standard normal Z; p in (0, 1).
double normalQuantile(double p);
// P(Z <= z).
double normalCdf(double z);

struct ChiSquare {
  double statistic = 0;
  uint32_t df = 0;
  double p_value = 1; // upper tail
};

// Pearson's goodness of fit of `observed` counts to `expected_shares` (any positive weights; they
// are normalised). Errors: sizes differ, fewer than two categories, a non-positive weight, no
// observations.
core::Result<ChiSquare> chiSquareGoodnessOfFit(const std::vector<uint64_t>& observed,
                                               const std::vector<double>& expected_shares);

struct Interval {
  double lower = 0;
  double upper = 0;
  bool contains(double x) const { return lower <= x && x <= upper; }
};

// Wilson score interval for a proportion: `successes` out of `n` at two-sided `confidence`
// (0.99 for 99 %). n = 0 gives [0, 1].
Interval wilson(double successes, double n, double confidence);

enum class Sides { Two, One };

// Requests needed to tell share p1 from p0 with a one-proportion test at level alpha and the given
// power, by the normal approximation: n = [z_a sqrt(p0 q0) + z_b sqrt(p1 q1)]^2 / (p1 - p0)^2,
// rounded up (0.10 vs 0.15, alpha 0.01 two-sided, power 0.99: 1,029).
uint64_t sampleSizeNormal(double p0, double p1, double alpha, double power, Sides sides);

// An exact binomial test of H0: p = p0 at level alpha: reject when the count is <= lower or
// >= upper (equal tails, two-sided; for Sides::One only the tail towards p1). `lower` is -1 when
// the lower tail never rejects; `upper` is n + 1 when the upper tail never does.
struct ExactTest {
  int64_t lower = -1;
  int64_t upper = 0;
  double size = 0;  // P(reject | p0) <= alpha
  double power = 0; // P(reject | p1)
};
ExactTest exactBinomialTest(uint64_t n, double p0, double p1, double alpha, Sides sides);

// The first n whose exact test reaches `power`, and the n from which power stays >= `power` for
// every larger n up to `check_to` (exact power is saw-toothed in n).
struct ExactSampleSize {
  uint64_t first = 0;
  uint64_t stable = 0;
};
ExactSampleSize exactSampleSize(double p0, double p1, double alpha, double power, Sides sides,
                                uint64_t check_to);

struct MannWhitney {
  double u = 0;       // U of the first sample: pairs (a, b) with a > b, ties counting 1/2
  double z = 0;       // normal approximation, tie- and continuity-corrected
  double p_value = 1; // two-sided; exact when both samples are small (<= 20) and untied
  bool exact = false;
};
// Errors: an empty sample.
core::Result<MannWhitney> mannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

// Wald's sequential probability ratio test of a Bernoulli share: H0 p = p0 against H1 p = p1,
// with error rates alpha (reject H0 wrongly) and beta (accept H0 wrongly).
class Sprt {
public:
  enum class Decision { Continue, AcceptH0, AcceptH1 };
  Sprt(double p0, double p1, double alpha, double beta);
  // One observation (true: the event whose share is tested).
  Decision observe(bool event);
  Decision decision() const { return decision_; }
  uint64_t observations() const { return n_; }
  double logLikelihoodRatio() const { return llr_; }

private:
  double step_event_;
  double step_other_;
  double upper_; // ln((1 - beta) / alpha): accept H1
  double lower_; // ln(beta / (1 - alpha)): accept H0
  double llr_ = 0;
  uint64_t n_ = 0;
  Decision decision_ = Decision::Continue;
};

} // namespace meshproof::stats
