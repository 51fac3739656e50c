#pragma once
// Helpers for spec tests: load YAML text, mutate the embedded default spec, find diagnostics.

#include <string>
#include <string_view>

#include "meshproof/spec/lint.h"
#include "meshproof/spec/loader.h"

namespace meshproof::spec::testing {

inline constexpr const char* kTestFile = "test.yaml";

// Loads `yaml` as one file named test.yaml.
LoadResult loadText(const std::string& yaml);

// The embedded default spec's text.
std::string defaultText();

// `text` with the first occurrence of `from` replaced by `to`; fails the test if `from` is absent.
std::string replaceOnce(const std::string& text, std::string_view from, std::string_view to);

// 1-based line of the first occurrence of `needle` in `text` (0 if absent).
int lineOf(const std::string& text, std::string_view needle);

// The first diagnostic with this severity whose path equals `path`, or nullptr.
const Diagnostic* find(const Diagnostics& diagnostics, Severity severity, std::string_view path);
// The first warning with this lint rule id, or nullptr.
const Diagnostic* findRule(const Diagnostics& diagnostics, std::string_view rule);

// All diagnostics formatted, one per line (for failure messages).
std::string dump(const Diagnostics& diagnostics);

// Loads `yaml` (named `name` in messages) and returns the spec; any diagnostic, even a warning,
// fails the test, so helpers that build specs for other subsystems stay exact.
Spec loadCleanOrFail(const std::string& yaml, const std::string& name = kTestFile);

// Loads and lints; fails the test if loading failed.
Diagnostics lintText(const std::string& yaml);

} // namespace meshproof::spec::testing
