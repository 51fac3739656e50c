#include "meshproof/metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>

#include "meshproof/core/random.h"

namespace meshproof::metrics {
namespace {

TEST(Exposition, ParsesTheTextFormat) {
  const std::string text = "# HELP up Whether \\\\ the \\n target is up\n"
                           "# TYPE up gauge\n"
                           "up{job=\"a\",path=\"C:\\\\x \\\"q\\\"\\nz\",} 1 1700000000000\n"
                           "# a plain comment\n"
                           "\n"
                           "temp -Inf\n"
                           "other +Inf\n"
                           "ratio NaN\n"
                           "big 1.5e+21\n";
  auto parsed = parseExposition(text);
  ASSERT_TRUE(parsed) << parsed.status().message();
  ASSERT_EQ(parsed->samples.size(), 5u);
  const Sample& up = parsed->samples[0];
  EXPECT_EQ(up.labels.at("path"), "C:\\x \"q\"\nz");
  EXPECT_EQ(*up.timestamp_ms, 1700000000000);
  EXPECT_EQ(up.line, 3);
  EXPECT_EQ(parsed->help.at("up"), "Whether \\ the \n target is up");
  EXPECT_TRUE(std::isinf(parsed->samples[1].value));
  EXPECT_TRUE(std::isnan(parsed->samples[3].value));
  EXPECT_EQ(parsed->samples[4].value, 1.5e21);
}

struct BadCase {
  const char* text;
  const char* message;
  int line;
};

TEST(Exposition, RejectsMalformedTextNamingTheLine) {
  const BadCase cases[] = {
      {"1bad 1\n", "invalid metric name", 1},
      {"ok 1\nfoo{a=\"b} 1\n", "unterminated value", 2},
      {"foo{a=\"\\x\"} 1\n", "invalid escape", 1},
      {"foo{1a=\"b\"} 1\n", "invalid label name", 1},
      {"foo{a=\"b\",a=\"c\"} 1\n", "given twice", 1},
      {"foo abc\n", "invalid value", 1},
      {"foo 1 notatime\n", "invalid timestamp", 1},
      {"foo\n", "expected a space and a value", 1},
      {"foo 1\n# TYPE foo counter\n", "comes after its samples", 2},
      {"# TYPE foo counter\n# TYPE foo gauge\n", "second TYPE", 2},
      {"# TYPE foo widget\n", "unknown type", 1},
      {"foo{a=\"1\"} 1\nfoo{a=\"1\"} 2\n", "the same series appears twice", 2},
  };
  for (const BadCase& c : cases) {
    auto parsed = parseExposition(c.text);
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_NE(parsed.status().message().find(c.message), std::string::npos)
        << c.text << " -> " << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("line " + std::to_string(c.line) + ":"),
              std::string::npos)
        << parsed.status().message();
  }
  auto no_newline = parseExposition("foo 1");
  ASSERT_FALSE(no_newline);
  EXPECT_NE(no_newline.status().message().find("newline"), std::string::npos);
}

TEST(Exposition, HistogramCheckCatchesEachDefect) {
  const std::string good = "# TYPE h histogram\n"
                           "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
  ASSERT_TRUE(checkHistograms(*parseExposition(good)).isOk());
  const std::pair<const char*, const char*> bad[] = {
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
       "not cumulative"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n", "+Inf"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 5\n",
       "differs from _count"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n", "missing"},
  };
  for (const auto& [text, message] : bad) {
    auto parsed = parseExposition(text);
    ASSERT_TRUE(parsed) << parsed.status().message();
    core::Status st = checkHistograms(*parsed);
    EXPECT_FALSE(st.isOk()) << text;
    EXPECT_NE(st.message().find(message), std::string::npos) << st.message();
  }
}

TEST(Exposition, RandomMutationsNeverCrashTheParser) {
  const std::string base =
      "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\",c=\"d\\\"e\"} 12 1700\n"
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
  core::SeededRandom rng(99);
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng.uniform(3));
    for (int k = 0; k < edits; ++k) {
      const size_t pos = rng.uniform(text.size());
      if (rng.uniform(2) == 0) {
        text[pos] = static_cast<char>(rng.uniform(256));
      } else {
        text.erase(pos, 1 + rng.uniform(4));
      }
    }
    auto parsed = parseExposition(text);
    if (parsed) {
      ++accepted;
      (void)checkHistograms(*parsed);
    } else {
      ASSERT_FALSE(parsed.status().message().empty());
    }
  }
  EXPECT_GT(accepted, 0);
}

} // namespace
} // namespace meshproof::metrics
