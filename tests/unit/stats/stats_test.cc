// Published values: chaos-canary-anchors.md §8 (sample sizes, chi-square and Wilson examples) and
// the classic Mann-Whitney example (males 19 22 16 29 24 vs females 20 11 17 12: U = 17, exact
// two-sided p = 14/126 = 0.1111, asymptotic with continuity correction 0.11135).
#include "meshproof/stats/stats.h"

#include <gtest/gtest.h>

#include "meshproof/core/random.h"

namespace meshproof::stats {
namespace {

TEST(Normal, Quantiles) {
  EXPECT_NEAR(normalQuantile(0.995), 2.5758, 1e-4);
  EXPECT_NEAR(normalQuantile(0.99), 2.3263, 1e-4);
  EXPECT_NEAR(normalCdf(1.959964), 0.975, 1e-6);
}

TEST(SampleSize, NormalApproximationMatchesTheReference) {
  EXPECT_EQ(sampleSizeNormal(0.10, 0.15, 0.01, 0.99, Sides::Two), 1029u);
  EXPECT_EQ(sampleSizeNormal(0.10, 0.15, 0.01, 0.99, Sides::One), 935u);
}

TEST(SampleSize, ExactBinomialMatchesTheReference) {
  const ExactTest t = exactBinomialTest(1046, 0.10, 0.15, 0.01, Sides::Two);
  EXPECT_EQ(t.lower, 79);
  EXPECT_EQ(t.upper, 131);
  EXPECT_NEAR(t.size, 0.0085, 0.00005);
  EXPECT_NEAR(t.power, 0.9902, 0.00005);
  const ExactSampleSize two = exactSampleSize(0.10, 0.15, 0.01, 0.99, Sides::Two, 1400);
  EXPECT_EQ(two.first, 1046u);
  EXPECT_EQ(two.stable, 1068u);
  const ExactSampleSize one = exactSampleSize(0.10, 0.15, 0.01, 0.99, Sides::One, 1400);
  EXPECT_EQ(one.first, 944u);
  EXPECT_EQ(one.stable, 973u);
}

TEST(ChiSquare, ReferenceExamplesAtN1000) {
  auto a = chiSquareGoodnessOfFit({880, 120}, {90, 10});
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->statistic, 4.44, 0.005);
  EXPECT_EQ(a->df, 1u);
  EXPECT_NEAR(a->p_value, 0.035, 0.0005);
  auto b = chiSquareGoodnessOfFit({870, 130}, {0.9, 0.1});
  EXPECT_NEAR(b->statistic, 10.0, 1e-9);
  EXPECT_NEAR(b->p_value, 0.0016, 0.00005);
  EXPECT_NEAR(chiSquareGoodnessOfFit({850, 150}, {90, 10})->statistic, 27.78, 0.005);
  // df = 2: a fair three-way split observed exactly.
  auto c = chiSquareGoodnessOfFit({33, 33, 34}, {1, 1, 1});
  EXPECT_EQ(c->df, 2u);
  EXPECT_GT(c->p_value, 0.99);
}

TEST(ChiSquare, BadInputIsAnError) {
  EXPECT_FALSE(chiSquareGoodnessOfFit({1, 2}, {1}));
  EXPECT_FALSE(chiSquareGoodnessOfFit({5}, {1}));
  EXPECT_FALSE(chiSquareGoodnessOfFit({1, 2}, {1, 0}));
  EXPECT_FALSE(chiSquareGoodnessOfFit({0, 0}, {1, 1}));
}

TEST(Wilson, ReferenceIntervals) {
  const Interval a = wilson(0.10 * 1029, 1029, 0.99);
  EXPECT_NEAR(a.lower, 0.0784, 0.00005);
  EXPECT_NEAR(a.upper, 0.1267, 0.00005);
  EXPECT_FALSE(a.contains(0.15));
  const Interval b = wilson(1000, 10000, 0.99);
  EXPECT_NEAR(b.lower, 0.0925, 0.00005);
  EXPECT_NEAR(b.upper, 0.1080, 0.00005);
  const Interval none = wilson(0, 0, 0.99);
  EXPECT_EQ(none.lower, 0.0);
  EXPECT_EQ(none.upper, 1.0);
  const Interval zero = wilson(0, 50, 0.95);
  EXPECT_EQ(zero.lower, 0.0);
  EXPECT_GT(zero.upper, 0.0);
}

TEST(MannWhitney, TextbookExample) {
  auto r = mannWhitneyU({19, 22, 16, 29, 24}, {20, 11, 17, 12});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->u, 17.0);
  EXPECT_TRUE(r->exact);
  EXPECT_NEAR(r->p_value, 14.0 / 126.0, 1e-12);
  EXPECT_NEAR(r->z, 1.5922, 1e-4);
}

TEST(MannWhitney, AsymptoticWithTiesAndLargeSamples) {
  std::vector<double> a;
  std::vector<double> b;
  for (int i = 0; i < 30; ++i) {
    a.push_back(i % 5); // many ties
    b.push_back(i % 5 + 2);
  }
  auto r = mannWhitneyU(a, b);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->exact);
  EXPECT_LT(r->p_value, 0.001);
  auto same = mannWhitneyU(a, a);
  EXPECT_NEAR(same->p_value, 1.0, 1e-9);
  EXPECT_FALSE(mannWhitneyU({}, {1.0}));
}

// Reference anchor 5: under 85/15 the SPRT stops with FAIL after fewer than 500 requests on
// average; error rates stay within 1.5 % each way (500 seeded repetitions).
TEST(Sprt, StopsEarlyWithTheStatedErrorRates) {
  core::SeededRandom random(20261127);
  auto run = [&](double share, uint64_t& n) {
    Sprt s(0.10, 0.15, 0.01, 0.01);
    while (s.decision() == Sprt::Decision::Continue) {
      s.observe(random.unit() < share);
    }
    n += s.observations();
    return s.decision();
  };
  uint64_t n_h1 = 0;
  uint64_t n_h0 = 0;
  int wrong_under_h1 = 0;
  int wrong_under_h0 = 0;
  for (int rep = 0; rep < 500; ++rep) {
    wrong_under_h1 += run(0.15, n_h1) == Sprt::Decision::AcceptH0 ? 1 : 0;
    wrong_under_h0 += run(0.10, n_h0) == Sprt::Decision::AcceptH1 ? 1 : 0;
  }
  EXPECT_LT(static_cast<double>(n_h1) / 500, 500.0);
  EXPECT_LE(wrong_under_h1, 7); // 1.5 % of 500
  EXPECT_LE(wrong_under_h0, 7);
}

// Reference anchor 2: a fixed-n test at n = 1,100 rejects a true 85/15 split in >= 98.5 % of
// repetitions and a true 90/10 split in <= 1.5 %.
TEST(ChiSquare, SplitCheckPowerAndSizeBySimulation) {
  core::SeededRandom random(7);
  auto rejects = [&](double share) {
    uint64_t canary = 0;
    for (int i = 0; i < 1100; ++i) {
      canary += random.unit() < share ? 1 : 0;
    }
    return chiSquareGoodnessOfFit({1100 - canary, canary}, {90, 10})->p_value < 0.01;
  };
  int power = 0;
  int size = 0;
  for (int rep = 0; rep < 500; ++rep) {
    power += rejects(0.15) ? 1 : 0;
    size += rejects(0.10) ? 1 : 0;
  }
  EXPECT_GE(power, 493); // 98.5 %
  EXPECT_LE(size, 7);
}

} // namespace
} // namespace meshproof::stats
