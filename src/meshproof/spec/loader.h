#pragma once
// Loading a spec: multi-document YAML from files, directories or memory -> a validated Spec.
//
// Validation follows Istio's own rules (istio-envoy-semantics.md §1-2: weights, retryOn tokens and
// the no-space rule, durations >= 1 ms, fault percentages and statuses, attempts 0 with other retry
// fields, subsets that exist, ...). Every problem becomes a Diagnostic naming file:line:column and
// the field path. Documents of kinds meshproof does not use (Istio Gateway, Sidecar, Kubernetes
// objects) are skipped with a note; Istio settings it does not simulate are accepted with a
// warning. Never throws, never crashes on any input.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/result.h"
#include "meshproof/spec/diagnostics.h"
#include "meshproof/spec/spec.h"

namespace meshproof::spec {

// One YAML text and the name to show in messages (its path, or "<embedded>/...").
struct SpecSource {
  std::string name;
  std::string text;
};

struct LoadResult {
  std::optional<Spec> spec; // set when there were no errors
  Diagnostics diagnostics;  // errors, warnings and notes in source order

  bool ok() const { return spec.has_value(); }
};

// Largest file read; bigger ones are an error rather than an attempt.
inline constexpr size_t kMaxSpecFileBytes = 16u << 20;

// Reads `-f` arguments as kubectl does: a file, "-" for the standard input, or a directory whose
// *.yaml, *.yml and *.json files are read in name order (not recursively). A missing path, an
// unreadable file or an empty directory is an InvalidArgument error naming the path.
core::Result<std::vector<SpecSource>> readSpecPaths(const std::vector<std::string>& paths);

// Parses and validates all sources as one spec (objects may refer to each other across files).
LoadResult load(const std::vector<SpecSource>& sources);

// The embedded default: examples/sprint6/mesh.yaml as compiled into the binary.
SpecSource defaultSpecSource();

} // namespace meshproof::spec
