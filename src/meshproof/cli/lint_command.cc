#include "meshproof/cli/lint_command.h"

#include <nlohmann/json.hpp>

#include <ostream>

#include "meshproof/cli/app.h"
#include "meshproof/cli/spec_input.h"
#include "meshproof/spec/lint.h"

namespace meshproof::cli {
namespace {

const char* severityName(spec::Severity s) {
  switch (s) {
  case spec::Severity::Error:
    return "error";
  case spec::Severity::Warning:
    return "warning";
  case spec::Severity::Note:
    return "note";
  }
  return "?";
}

} // namespace

int lintCommand(const LintOptions& options, std::ostream& out) {
  spec::LoadResult loaded = loadSpecInput(options.spec_paths);
  spec::Diagnostics all = loaded.diagnostics;
  if (loaded.spec) {
    spec::Diagnostics warnings = spec::lint(*loaded.spec);
    all.insert(all.end(), warnings.begin(), warnings.end());
  }
  const size_t errors = spec::countOf(all, spec::Severity::Error);
  const size_t warnings = spec::countOf(all, spec::Severity::Warning);
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const spec::Diagnostic& d : all) {
      list.push_back({{"severity", severityName(d.severity)},
                      {"file", d.location.file},
                      {"line", d.location.line},
                      {"column", d.location.column},
                      {"object", d.object},
                      {"path", d.path},
                      {"rule", d.rule},
                      {"message", d.message}});
    }
    out << nlohmann::json{{"errors", errors}, {"warnings", warnings}, {"diagnostics", list}}.dump(2)
        << '\n';
  } else {
    for (const spec::Diagnostic& d : all) {
      out << d.format() << '\n';
    }
    if (errors + warnings > 0) {
      out << errors << (errors == 1 ? " error, " : " errors, ") << warnings
          << (warnings == 1 ? " warning" : " warnings") << '\n';
    }
  }
  return errors > 0 ? kExitUsage : kExitOk;
}

} // namespace meshproof::cli
