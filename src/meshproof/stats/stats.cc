#include "meshproof/stats/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>

namespace meshproof::stats {

namespace bm = boost::math;

double normalQuantile(double p) {
  return bm::quantile(bm::normal_distribution<double>(), p);
}

double normalCdf(double z) {
  return bm::cdf(bm::normal_distribution<double>(), z);
}

core::Result<ChiSquare> chiSquareGoodnessOfFit(const std::vector<uint64_t>& observed,
                                               const std::vector<double>& expected_shares) {
  if (observed.size() != expected_shares.size()) {
    return core::invalidArgument("chi-square: " + std::to_string(observed.size()) +
                                 " observed counts but " + std::to_string(expected_shares.size()) +
                                 " expected shares");
  }
  if (observed.size() < 2) {
    return core::invalidArgument("chi-square: at least two categories are needed");
  }
  double weight = 0;
  for (double w : expected_shares) {
    if (!(w > 0)) {
      return core::invalidArgument("chi-square: every expected share must be positive");
    }
    weight += w;
  }
  const double n =
      static_cast<double>(std::accumulate(observed.begin(), observed.end(), uint64_t{0}));
  if (n == 0) {
    return core::invalidArgument("chi-square: no observations");
  }
  ChiSquare out;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double e = n * expected_shares[i] / weight;
    const double d = static_cast<double>(observed[i]) - e;
    out.statistic += d * d / e;
  }
  out.df = static_cast<uint32_t>(observed.size() - 1);
  out.p_value =
      bm::cdf(bm::complement(bm::chi_squared_distribution<double>(out.df), out.statistic));
  return out;
}

Interval wilson(double successes, double n, double confidence) {
  if (n <= 0) {
    return {0.0, 1.0};
  }
  const double z = normalQuantile(1.0 - (1.0 - confidence) / 2.0);
  const double p = successes / n;
  const double z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

uint64_t sampleSizeNormal(double p0, double p1, double alpha, double power, Sides sides) {
  const double za = normalQuantile(1.0 - (sides == Sides::Two ? alpha / 2 : alpha));
  const double zb = normalQuantile(power);
  const double num = za * std::sqrt(p0 * (1 - p0)) + zb * std::sqrt(p1 * (1 - p1));
  const double delta = p1 - p0;
  return static_cast<uint64_t>(std::ceil(num * num / (delta * delta)));
}

namespace {

// P(X = k) for k = 0..n under Binomial(n, p), from log-gamma (no overflow at any n).
std::vector<double> binomialPmf(uint64_t n, double p) {
  std::vector<double> pmf(n + 1);
  const double nd = static_cast<double>(n);
  const double lp = std::log(p);
  const double lq = std::log1p(-p);
  const double lgn = std::lgamma(nd + 1);
  for (uint64_t k = 0; k <= n; ++k) {
    const double kd = static_cast<double>(k);
    pmf[k] =
        std::exp(lgn - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1) + kd * lp + (nd - kd) * lq);
  }
  return pmf;
}

} // namespace

ExactTest exactBinomialTest(uint64_t n, double p0, double p1, double alpha, Sides sides) {
  const std::vector<double> h0 = binomialPmf(n, p0);
  const std::vector<double> h1 = binomialPmf(n, p1);
  const auto nn = static_cast<int64_t>(n);
  const bool lower_tail = sides == Sides::Two || p1 < p0;
  const bool upper_tail = sides == Sides::Two || p1 > p0;
  const double tail = sides == Sides::Two ? alpha / 2 : alpha;
  ExactTest t;
  t.upper = nn + 1;
  if (lower_tail) {
    // The largest k with P0(X <= k) <= tail.
    double cdf = 0;
    for (int64_t k = 0; k <= nn; ++k) {
      cdf += h0[static_cast<size_t>(k)];
      if (cdf > tail) {
        break;
      }
      t.lower = k;
    }
  }
  if (upper_tail) {
    // The smallest k with P0(X >= k) <= tail.
    double sf = 0;
    for (int64_t k = nn; k >= 0; --k) {
      sf += h0[static_cast<size_t>(k)];
      if (sf > tail) {
        break;
      }
      t.upper = k;
    }
  }
  auto rejectProbability = [&](const std::vector<double>& pmf) {
    double r = 0;
    for (int64_t k = 0; k <= t.lower; ++k) {
      r += pmf[static_cast<size_t>(k)];
    }
    for (int64_t k = t.upper; k <= nn; ++k) {
      r += pmf[static_cast<size_t>(k)];
    }
    return r;
  };
  t.size = rejectProbability(h0);
  t.power = rejectProbability(h1);
  return t;
}

ExactSampleSize exactSampleSize(double p0, double p1, double alpha, double power, Sides sides,
                                uint64_t check_to) {
  ExactSampleSize out;
  uint64_t last_below = 0;
  for (uint64_t n = 1; n <= check_to; ++n) {
    const bool enough = exactBinomialTest(n, p0, p1, alpha, sides).power >= power;
    if (enough && out.first == 0) {
      out.first = n;
    }
    if (!enough) {
      last_below = n;
    }
  }
  out.stable = last_below + 1;
  return out;
}

namespace {

// P(U <= u) for samples of sizes m and n without ties, by counting arrangements (Mann & Whitney's
// recurrence): f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u).
double exactUCdf(size_t m, size_t n, double u) {
  // f[j][i][k]: arrangements of j first-sample and i second-sample values whose U is k. The
  // largest value is either from the first sample (it beats all i others) or from the second.
  const size_t max_u = m * n;
  std::vector<std::vector<std::vector<double>>> f(
      m + 1, std::vector<std::vector<double>>(n + 1, std::vector<double>(max_u + 1, 0.0)));
  for (size_t j = 0; j <= m; ++j) {
    for (size_t i = 0; i <= n; ++i) {
      if (j == 0 || i == 0) {
        f[j][i][0] = 1.0;
        continue;
      }
      for (size_t k = 0; k <= j * i; ++k) {
        f[j][i][k] = (k >= i ? f[j - 1][i][k - i] : 0.0) + f[j][i - 1][k];
      }
    }
  }
  double below = 0;
  double total = 0;
  for (size_t k = 0; k <= max_u; ++k) {
    total += f[m][n][k];
    if (static_cast<double>(k) <= u + 1e-9) {
      below += f[m][n][k];
    }
  }
  return below / total;
}

} // namespace

core::Result<MannWhitney> mannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) {
    return core::invalidArgument("Mann-Whitney U: both samples need at least one value");
  }
  const size_t m = a.size();
  const size_t n = b.size();
  // Ranks of the pooled sample, ties sharing their mean rank.
  std::vector<std::pair<double, int>> pooled;
  pooled.reserve(a.size() + b.size());
  for (double x : a) {
    pooled.emplace_back(x, 0);
  }
  for (double x : b) {
    pooled.emplace_back(x, 1);
  }
  std::sort(pooled.begin(), pooled.end());
  const size_t total = pooled.size();
  double rank_sum_a = 0;
  double tie_term = 0; // sum of t^3 - t over tie groups
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j < total && pooled[j].first == pooled[i].first) {
      ++j;
    }
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    const auto t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second == 0) {
        rank_sum_a += mean_rank;
      }
    }
    i = j;
  }
  MannWhitney out;
  const double md = static_cast<double>(m);
  const double nd = static_cast<double>(n);
  out.u = rank_sum_a - md * (md + 1) / 2.0;
  const double mean = md * nd / 2.0;
  const double nn = md + nd;
  const double variance = md * nd / 12.0 * ((nn + 1) - tie_term / (nn * (nn - 1)));
  if (variance > 0) {
    const double diff = std::abs(out.u - mean) - 0.5; // continuity correction
    out.z = std::max(diff, 0.0) / std::sqrt(variance) * (out.u >= mean ? 1 : -1);
    out.p_value = std::min(1.0, 2.0 * (1.0 - normalCdf(std::abs(out.z))));
  }
  if (tie_term == 0 && m <= 20 && n <= 20) {
    const double u_small = std::min(out.u, md * nd - out.u);
    out.p_value = std::min(1.0, 2.0 * exactUCdf(m, n, u_small));
    out.exact = true;
  }
  return out;
}

Sprt::Sprt(double p0, double p1, double alpha, double beta)
    : step_event_(std::log(p1 / p0)), step_other_(std::log((1 - p1) / (1 - p0))),
      upper_(std::log((1 - beta) / alpha)), lower_(std::log(beta / (1 - alpha))) {}

Sprt::Decision Sprt::observe(bool event) {
  if (decision_ != Decision::Continue) {
    return decision_;
  }
  ++n_;
  llr_ += event ? step_event_ : step_other_;
  if (llr_ >= upper_) {
    decision_ = Decision::AcceptH1;
  } else if (llr_ <= lower_) {
    decision_ = Decision::AcceptH0;
  }
  return decision_;
}

} // namespace meshproof::stats
