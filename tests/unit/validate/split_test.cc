#include "meshproof/validate/split.h"

#include <gtest/gtest.h>

namespace meshproof::validate {
namespace {

SplitInput input(uint64_t v1, uint64_t v2) {
  SplitInput in;
  in.host = "service-b";
  in.expected_weights = {{"v1", 90}, {"v2", 10}};
  in.first_attempts = {{"v1", v1}, {"v2", v2}};
  return in;
}

TEST(SplitValidation, PlansTheReferenceSampleSize) {
  EXPECT_EQ(plannedSampleSize(0.10, 5, 0.01, 0.99), 1068u);
}

TEST(SplitValidation, PassesA90To10Split) {
  auto r = evaluateSplit(input(990, 110));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::Pass) << r->reason;
  EXPECT_EQ(r->requests, 1100u);
  EXPECT_NEAR(r->versions.at("v2").share, 0.1, 1e-9);
  EXPECT_TRUE(r->versions.at("v2").interval.contains(0.10));
}

TEST(SplitValidation, FailsAn85To15Split) { // the positive control's arithmetic
  auto r = evaluateSplit(input(935, 165));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::Fail) << r->reason;
  EXPECT_LT(r->chi_square.p_value, 0.01);
  EXPECT_FALSE(r->versions.at("v2").interval.contains(0.10));
}

TEST(SplitValidation, RefusesToPassWhenUnderpowered) { // reference anchor 3
  auto r = evaluateSplit(input(180, 20));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::Inconclusive);
  EXPECT_NE(r->reason.find("at least 1068"), std::string::npos) << r->reason;
}

TEST(SplitValidation, BadInput) {
  SplitInput one = input(10, 0);
  one.expected_weights = {{"v1", 100}};
  EXPECT_FALSE(evaluateSplit(one));
  SplitInput stray = input(10, 10);
  stray.first_attempts["v3"] = 5;
  EXPECT_NE(evaluateSplit(stray).status().message().find("\"v3\""), std::string::npos);
}

} // namespace
} // namespace meshproof::validate
