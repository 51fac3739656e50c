#include "meshproof/spec/diagnostics.h"

#include <algorithm>

namespace meshproof::spec {

std::string Diagnostic::format() const {
  std::string out = location.file;
  if (!out.empty() && location.line > 0) {
    out += ":" + std::to_string(location.line);
    if (location.column > 0) {
      out += ":" + std::to_string(location.column);
    }
  }
  out += out.empty() ? "" : ": ";
  switch (severity) {
  case Severity::Error:
    out += "error";
    break;
  case Severity::Warning:
    out += "warning";
    break;
  case Severity::Note:
    out += "note";
    break;
  }
  if (!rule.empty()) {
    out += "[" + rule + "]";
  }
  out += ": ";
  if (!object.empty()) {
    out += object;
    out += path.empty() ? ": " : " ";
  }
  if (!path.empty()) {
    out += path + ": ";
  }
  out += message;
  return out;
}

bool hasErrors(const Diagnostics& diagnostics) {
  return countOf(diagnostics, Severity::Error) > 0;
}

size_t countOf(const Diagnostics& diagnostics, Severity severity) {
  return static_cast<size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [&](const Diagnostic& d) { return d.severity == severity; }));
}

} // namespace meshproof::spec
