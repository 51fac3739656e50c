#pragma once
// `meshproof lint [-f SPEC]... [--json]`: load and validate the spec, then print policy warnings.
// Output goes to `out`; prints nothing for a clean spec. Returns 0 (maybe with warnings) or 2 on
// errors.

#include <iosfwd>
#include <string>
#include <vector>

namespace meshproof::cli {

struct LintOptions {
  std::vector<std::string> spec_paths;
  bool json = false;
};

int lintCommand(const LintOptions& options, std::ostream& out);

} // namespace meshproof::cli
