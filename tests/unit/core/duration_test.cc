#include "meshproof/core/duration.h"

#include <gtest/gtest.h>

namespace meshproof::core {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesIstioSyntax) {
  EXPECT_EQ(*parseDuration("2s"), 2s);
  EXPECT_EQ(*parseDuration("500ms"), 500ms);
  EXPECT_EQ(*parseDuration("1.5s"), 1500ms);
  EXPECT_EQ(*parseDuration("1m"), 60s);
  EXPECT_EQ(*parseDuration("1h"), 3600s);
  EXPECT_EQ(*parseDuration("1h30m"), 5400s);
  EXPECT_EQ(*parseDuration("250us"), 250us);
  EXPECT_EQ(*parseDuration("250\xC2\xB5s"), 250us);
  EXPECT_EQ(*parseDuration("7ns"), 7ns);
  EXPECT_EQ(*parseDuration("0"), 0s);
  EXPECT_EQ(*parseDuration("0s"), 0s);
  EXPECT_EQ(*parseDuration(".5s"), 500ms);
  EXPECT_EQ(*parseDuration("-2s"), -2s);
  EXPECT_EQ(*parseDuration("0.001s"), 1ms);
}

TEST(Duration, RejectsWhatGoRejects) {
  for (const char* bad : {"", "s", "2", "2 s", "2sec", "1.5", "abc", "2s3", "-", "1e3s", " 2s",
                          "9999999999999999999h"}) {
    auto r = parseDuration(bad);
    EXPECT_FALSE(r.isOk()) << "accepted \"" << bad << "\"";
    if (!r.isOk()) {
      EXPECT_NE(r.status().message().find("expected a number with a unit"), std::string::npos);
    }
  }
}

TEST(Duration, FormatsShortest) {
  EXPECT_EQ(formatDuration(2s), "2s");
  EXPECT_EQ(formatDuration(500ms), "500ms");
  EXPECT_EQ(formatDuration(1500ms), "1.5s");
  EXPECT_EQ(formatDuration(5400s), "1h30m");
  EXPECT_EQ(formatDuration(4h), "4h");
  EXPECT_EQ(formatDuration(90s), "1m30s");
  EXPECT_EQ(formatDuration(0s), "0s");
  EXPECT_EQ(formatDuration(1500us), "1.5ms");
  EXPECT_EQ(formatDuration(-2s), "-2s");
}

TEST(Duration, FormatThenParseRoundTrips) {
  for (Duration d : {Duration(1), Duration(999), Duration(1234567), Duration(2s), Duration(61s),
                     Duration(12h), Duration(3723004005006LL)}) {
    EXPECT_EQ(*parseDuration(formatDuration(d)), d) << formatDuration(d);
  }
}

} // namespace
} // namespace meshproof::core
