#pragma once
// A parser for the Prometheus text format 0.0.4 (prometheus-grafana.md §3): reads what any proxy's
// /metrics serves, so validations and chaos probes can read metrics without a Prometheus, and so
// tests can check what meshproof exposes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/result.h"

namespace meshproof::metrics {

using LabelMap = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  LabelMap labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
  int line = 0; // 1-based line in the text
};

struct Exposition {
  std::vector<Sample> samples; // in text order
  std::map<std::string, std::string>
      types;                               // family name -> counter|gauge|histogram|summary|untyped
  std::map<std::string, std::string> help; // family name -> unescaped help text

  // Samples named `name` whose labels include every pair in `match`.
  std::vector<const Sample*> select(std::string_view name, const LabelMap& match = {}) const;
  // Sum of their values (0 when none match).
  double sum(std::string_view name, const LabelMap& match = {}) const;
};

// Parses the whole text. Errors name the 1-based line and what is wrong: bad names, unterminated or
// badly escaped label values, bad values, a TYPE after the family's samples or given twice, the
// same series twice, a missing final newline.
core::Result<Exposition> parseExposition(std::string_view text);

// Checks every histogram family: buckets cumulative (non-decreasing in increasing `le`), a `+Inf`
// bucket present and equal to `_count`, `_sum` and `_count` present. Returns the first problem.
core::Status checkHistograms(const Exposition& exposition);

} // namespace meshproof::metrics
