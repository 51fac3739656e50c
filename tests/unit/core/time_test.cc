#include "meshproof/core/time.h"

#include <gtest/gtest.h>

namespace meshproof::core {
namespace {

using namespace std::chrono_literals;

TEST(Iso8601, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(formatIso8601(WallTime(0s)), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(formatIso8601(WallTime(1767225600s + 123456us)), "2026-01-01T00:00:00.123456Z");
  // A leap day.
  EXPECT_EQ(formatIso8601(WallTime(951782400s)), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(formatIso8601(WallTime(-1s)), "1969-12-31T23:59:59.000000Z");
}

TEST(Iso8601, ParsesRfc3339) {
  EXPECT_EQ(*parseIso8601("2026-01-01T00:00:00Z"), WallTime(1767225600s));
  EXPECT_EQ(*parseIso8601("2026-01-01T01:00:00+01:00"), WallTime(1767225600s));
  EXPECT_EQ(*parseIso8601("2025-12-31T19:00:00-05:00"), WallTime(1767225600s));
  EXPECT_EQ(*parseIso8601("2026-01-01T00:00:00.5Z"), WallTime(1767225600s + 500ms));
  EXPECT_EQ(*parseIso8601("2026-01-01 00:00:00z"), WallTime(1767225600s));
}

TEST(Iso8601, RoundTrips) {
  for (WallTime t : {WallTime(0s), WallTime(1767225600s + 1us), WallTime(4102444799s)}) {
    EXPECT_EQ(*parseIso8601(formatIso8601(t)), t);
  }
}

TEST(Iso8601, RejectsMalformed) {
  for (const char* bad :
       {"", "2026-01-01", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00Zjunk",
        "2026-01-01T00:00:00.Z", "20260101T000000Z"}) {
    auto r = parseIso8601(bad);
    EXPECT_FALSE(r.isOk()) << "accepted \"" << bad << "\"";
  }
}

} // namespace
} // namespace meshproof::core
