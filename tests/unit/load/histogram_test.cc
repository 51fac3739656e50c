#include "meshproof/load/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "meshproof/core/random.h"

namespace meshproof::load {
namespace {

TEST(LatencyHistogram, EveryValueFrom1usTo60sWithinOnePercent) {
  // Log-spaced values over the whole range: each alone in a histogram reads back within 1 %.
  for (double v = 1000; v <= 60e9; v *= 1.0137) {
    Histogram h;
    const auto ns = static_cast<uint64_t>(v);
    h.record(ns);
    h.record(ns); // min == max would hide the bucket; two values, same bucket
    Histogram wide;
    wide.record(Histogram::kMinNs);
    wide.record(ns);
    wide.record(Histogram::kMaxNs);
    const double got = static_cast<double>(wide.quantile(0.5));
    ASSERT_LE(std::abs(got - v) / v, 0.01) << "value " << ns << " read back as " << got;
  }
}

TEST(LatencyHistogram, QuantilesOfAKnownDistribution) {
  Histogram h;
  core::SeededRandom random(1);
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<uint64_t>(1e6 * std::exp(2.0 * random.unit())); // 1 ms .. 7.4 ms
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = static_cast<double>(values[static_cast<size_t>(q * 100000) - 1]);
    EXPECT_LE(std::abs(static_cast<double>(h.quantile(q)) - exact) / exact, 0.01) << q;
  }
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
}

TEST(LatencyHistogram, ClampsOutOfRangeAndMerges) {
  Histogram a;
  a.record(10);              // below 1 us
  a.record(120'000'000'000); // above 60 s
  EXPECT_EQ(a.clamped(), 2u);
  EXPECT_EQ(a.min(), Histogram::kMinNs);
  EXPECT_EQ(a.max(), Histogram::kMaxNs);
  Histogram b;
  b.record(5'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(Histogram().quantile(0.99), 0u);
}

} // namespace
} // namespace meshproof::load
