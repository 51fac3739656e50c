#pragma once
// Diagnostics: what the loader and the linter say about a spec, each pointing at a file, line,
// column and field path, e.g.
//   mesh.yaml:42:17: error: VirtualService/service-b spec.http[0].route[1].weight: must not be
//   negative, got -10
//   mesh.yaml:61:9: warning[ejection-cap]: DestinationRule/service-b spec...: <consequence>

#include <string>
#include <vector>

#include "meshproof/spec/spec.h"

namespace meshproof::spec {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLocation location;
  std::string object; // "VirtualService/service-b"; empty for file-level problems
  std::string path;   // "spec.http[0].route[1].weight"; empty for file-level problems
  std::string message;
  std::string rule; // lint rule id; empty for load diagnostics

  // One line as shown above.
  std::string format() const;
};

using Diagnostics = std::vector<Diagnostic>;

bool hasErrors(const Diagnostics& diagnostics);
size_t countOf(const Diagnostics& diagnostics, Severity severity);

} // namespace meshproof::spec
