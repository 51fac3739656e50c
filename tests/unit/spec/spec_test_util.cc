#include "unit/spec/spec_test_util.h"

#include <gtest/gtest.h>

namespace meshproof::spec::testing {

LoadResult loadText(const std::string& yaml) {
  return load({{kTestFile, yaml}});
}

std::string defaultText() {
  return defaultSpecSource().text;
}

std::string replaceOnce(const std::string& text, std::string_view from, std::string_view to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << "text to replace not found: " << from;
  if (pos == std::string::npos) {
    return text;
  }
  std::string out = text;
  out.replace(pos, from.size(), to);
  return out;
}

int lineOf(const std::string& text, std::string_view needle) {
  const size_t pos = text.find(needle);
  if (pos == std::string::npos) {
    return 0;
  }
  int line = 1;
  for (size_t i = 0; i < pos; ++i) {
    line += text[i] == '\n' ? 1 : 0;
  }
  return line;
}

const Diagnostic* find(const Diagnostics& diagnostics, Severity severity, std::string_view path) {
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == severity && d.path == path) {
      return &d;
    }
  }
  return nullptr;
}

const Diagnostic* findRule(const Diagnostics& diagnostics, std::string_view rule) {
  for (const Diagnostic& d : diagnostics) {
    if (d.rule == rule) {
      return &d;
    }
  }
  return nullptr;
}

std::string dump(const Diagnostics& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) {
    out += d.format() + "\n";
  }
  return out.empty() ? "(no diagnostics)\n" : out;
}

Spec loadCleanOrFail(const std::string& yaml, const std::string& name) {
  LoadResult r = load({{name, yaml}});
  EXPECT_TRUE(r.ok() && r.diagnostics.empty()) << dump(r.diagnostics);
  return r.ok() ? std::move(*r.spec) : Spec{};
}

Diagnostics lintText(const std::string& yaml) {
  LoadResult r = loadText(yaml);
  EXPECT_TRUE(r.ok()) << dump(r.diagnostics);
  if (!r.ok()) {
    return r.diagnostics;
  }
  return lint(*r.spec);
}

} // namespace meshproof::spec::testing
