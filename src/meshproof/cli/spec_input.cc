#include "meshproof/cli/spec_input.h"

#include <ostream>

namespace meshproof::cli {

core::Result<std::vector<spec::SpecSource>> readSpecSources(const std::vector<std::string>& paths) {
  if (paths.empty()) {
    return std::vector<spec::SpecSource>{spec::defaultSpecSource()};
  }
  return spec::readSpecPaths(paths);
}

spec::LoadResult loadSpecInput(const std::vector<std::string>& paths) {
  auto sources = readSpecSources(paths);
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
