#include "meshproof/cli/spec_input.h"

#include <ostream>

namespace meshproof::cli {

spec::LoadResult loadSpecInput(const std::vector<std::string>& paths) {
  if (paths.empty()) {
    return spec::load({spec::defaultSpecSource()});
  }
  auto sources = spec::readSpecPaths(paths);
  if (!sources) {
    spec::LoadResult result;
    spec::Diagnostic d;
    d.severity = spec::Severity::Error;
    d.message = sources.status().message();
    result.diagnostics.push_back(std::move(d));
    return result;
  }
  return spec::load(*sources);
}

std::optional<spec::Spec> loadSpecOrReport(const std::vector<std::string>& paths,
                                           std::ostream& err) {
  spec::LoadResult result = loadSpecInput(paths);
  for (const spec::Diagnostic& d : result.diagnostics) {
    err << d.format() << '\n';
  }
  return std::move(result.spec);
}

} // namespace meshproof::cli
