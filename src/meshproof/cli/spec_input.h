#pragma once
// The `-f SPEC` option shared by subcommands: files or directories, repeatable as with kubectl;
// the embedded default spec when absent.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "meshproof/spec/loader.h"

namespace meshproof::cli {

// The sources `paths` name (the embedded default when empty).
core::Result<std::vector<spec::SpecSource>> readSpecSources(const std::vector<std::string>& paths);

// Loads the spec from `paths` (the embedded default when empty). Diagnostics are returned; on a
// path that cannot be read, a single error diagnostic names it.
spec::LoadResult loadSpecInput(const std::vector<std::string>& paths);

// Loads and prints diagnostics (errors, warnings, notes) to `err`; nullopt when there were errors.
std::optional<spec::Spec> loadSpecOrReport(const std::vector<std::string>& paths,
                                           std::ostream& err);

} // namespace meshproof::cli
