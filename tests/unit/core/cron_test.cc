#include "meshproof/core/cron.h"

#include <gtest/gtest.h>

#include "meshproof/core/time.h"

namespace meshproof::core {
namespace {

WallTime at(const char* iso) {
  return *parseIso8601(iso);
}

std::string next(const char* cron, const char* after) {
  return formatIso8601(Cron::parse(cron)->next(at(after)));
}

TEST(Cron, EveryFourHours) {
  EXPECT_EQ(next("0 */4 * * *", "2026-11-28T01:43:00Z"), "2026-11-28T04:00:00.000000Z");
  EXPECT_EQ(next("0 */4 * * *", "2026-11-28T04:00:00Z"), "2026-11-28T08:00:00.000000Z");
  EXPECT_EQ(next("0 */4 * * *", "2026-11-28T23:59:59Z"), "2026-11-29T00:00:00.000000Z");
}

TEST(Cron, ListsRangesStepsAndMonths) {
  EXPECT_EQ(next("15,45 9-17 * * *", "2026-11-28T17:50:00Z"), "2026-11-29T09:15:00.000000Z");
  EXPECT_EQ(next("0-30/10 * * * *", "2026-11-28T10:25:00Z"), "2026-11-28T10:30:00.000000Z");
  EXPECT_EQ(next("0 0 1 1 *", "2026-11-28T00:00:00Z"), "2027-01-01T00:00:00.000000Z");
  EXPECT_EQ(next("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000000Z");
}

TEST(Cron, DaysOfWeekAndTheEitherRule) {
  // 2026-11-28 is a Saturday.
  EXPECT_EQ(next("0 12 * * 1", "2026-11-28T00:00:00Z"), "2026-11-30T12:00:00.000000Z");
  EXPECT_EQ(next("0 12 * * 0", "2026-11-28T00:00:00Z"), "2026-11-29T12:00:00.000000Z");
  EXPECT_EQ(next("0 12 * * 7", "2026-11-28T00:00:00Z"), "2026-11-29T12:00:00.000000Z");
  // Day 1 of the month or a Monday, whichever comes first.
  EXPECT_EQ(next("0 0 1 * 1", "2026-11-28T00:00:00Z"), "2026-11-30T00:00:00.000000Z");
}

TEST(Cron, BadExpressionsNameTheField) {
  EXPECT_NE(Cron::parse("0 */4 * *").status().message().find("expected 5 fields"),
            std::string::npos);
  EXPECT_NE(Cron::parse("60 * * * *").status().message().find("minute"), std::string::npos);
  EXPECT_NE(Cron::parse("* 24 * * *").status().message().find("hour"), std::string::npos);
  EXPECT_NE(Cron::parse("* * 0 * *").status().message().find("day-of-month"), std::string::npos);
  EXPECT_NE(Cron::parse("* * * 13 *").status().message().find("month"), std::string::npos);
  EXPECT_NE(Cron::parse("* * * * 8").status().message().find("day-of-week"), std::string::npos);
  EXPECT_NE(Cron::parse("*/0 * * * *").status().message().find("step"), std::string::npos);
  EXPECT_NE(Cron::parse("a * * * *").status().message().find("not a number"), std::string::npos);
  EXPECT_NE(Cron::parse("5-1 * * * *").status().message().find("outside"), std::string::npos);
}

} // namespace
} // namespace meshproof::core
