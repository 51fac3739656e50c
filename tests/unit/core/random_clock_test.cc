#include <gtest/gtest.h>

#include <set>

#include "meshproof/core/clock.h"
#include "meshproof/core/random.h"

namespace meshproof::core {
namespace {

using namespace std::chrono_literals;

TEST(SeededRandom, SameSeedSameSequence) {
  SeededRandom a(42);
  SeededRandom b(42);
  SeededRandom c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs = differs || x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRandom, UniformStaysInBoundsAndCoversThem) {
  SeededRandom rng(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t v = rng.uniform(10);
    ASSERT_LT(v, 10u);
    seen.insert(v);
    const double u = rng.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(rng.uniform(0), 0u);
}

TEST(SeededRandom, UniformIsUnbiasedEnough) {
  // 60,000 draws over 6 faces: chi-square with 5 dof stays below 20.5 (p = 0.001).
  SeededRandom rng(2026);
  int counts[6] = {};
  for (int i = 0; i < 60000; ++i) {
    ++counts[rng.uniform(6)];
  }
  double chi2 = 0;
  for (int c : counts) {
    chi2 += (c - 10000.0) * (c - 10000.0) / 10000.0;
  }
  EXPECT_LT(chi2, 20.5);
}

TEST(SeededRandom, ForkIsDeterministicAndIndependent) {
  SeededRandom a(1);
  SeededRandom b(1);
  SeededRandom fa = a.fork();
  SeededRandom fb = b.fork();
  EXPECT_EQ(fa.next(), fb.next());
  EXPECT_NE(fa.next(), a.next());
}

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  const MonoTime m0 = clock.monotonicNow();
  const WallTime w0 = clock.wallNow();
  EXPECT_EQ(clock.monotonicNow(), m0);
  clock.advance(4h);
  EXPECT_EQ(clock.monotonicNow() - m0, 4h);
  EXPECT_EQ(clock.wallNow() - w0, 4h);
  EXPECT_EQ(w0, ManualClock::defaultStart());
}

TEST(RealClock, IsMonotonic) {
  Clock& clock = RealClock::instance();
  const MonoTime a = clock.monotonicNow();
  const MonoTime b = clock.monotonicNow();
  EXPECT_LE(a, b);
}

} // namespace
} // namespace meshproof::core
